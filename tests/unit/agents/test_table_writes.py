"""A batch's table writes sent as record batches (``agents.table_writes.TableBatch``): the bytes
Faust would send, the store written at once, and the persisted offset written only for records
the broker has acknowledged, once per batch."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatch
from faust.stores.base import SerializedStore
from faust.types import TP

from agents.table_writes import ChangelogWriteFailed, TableBatch
from agents.tables import category_transactions, processed_orders, sold_counts, store_orders

VALUES = [
    [3, 2, 1, 17],
    [28000, 1, 1293840000, {"p": {"p10": [3, 45.0, [0]]}, "c": ["cat10"]}],
    ["ünïcødé ✓", 1e-7, 1.5e300, -0.0, None, True],
]


@pytest.mark.parametrize(
    "table", [sold_counts, category_transactions, processed_orders, store_orders]
)
def test_the_records_carry_the_bytes_faust_would_send(table: Any) -> None:
    # the store's encoders give what Faust's changelog send would: recovery and standbys read
    # these records exactly like Faust's own
    for key in ("store-1::p1", "s::ünïcødé", "s|o-1"):
        assert table.data._encode_key(key) == table.changelog_topic.prepare_key(key, None)[0]
    for value in VALUES:
        assert (
            table.data._encode_value(value) == table.changelog_topic.prepare_value(value, None)[0]
        )


class _Broker:
    """aiokafka's batch interface, with the real record batch builder: appends records to a log
    per partition and acknowledges each batch when told to (``ack``)."""

    def __init__(self, batch_size: int = 1 << 20) -> None:
        self.batch_size = batch_size
        self.log: dict[TP, list[tuple[bytes, bytes | None]]] = {}
        self.unacked: list[tuple[asyncio.Future[Any], int]] = []

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(self.batch_size, 0)

    async def send_batch(self, batch: BatchBuilder, topic: str, *, partition: int) -> Any:
        tp = TP(topic, partition)
        records = [(r.key, r.value) for r in DefaultRecordBatch(bytes(batch._build()))]
        base_offset = len(self.log.setdefault(tp, []))
        self.log[tp].extend(records)
        future = asyncio.get_running_loop().create_future()
        self.unacked.append((future, base_offset))
        return future

    def ack(self) -> None:
        for future, base_offset in self.unacked:
            future.set_result(type("RecordMetadata", (), {"offset": base_offset})())
        self.unacked = []


class _Store:
    """An in-memory store (objects, not bytes) with JSON encoders and a persisted offset."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.persisted: dict[TP, int] = {}

    def _encode_key(self, key: str) -> bytes:
        return f'"{key}"'.encode()

    def _encode_value(self, value: Any) -> bytes:
        return repr(value).encode()

    def __setitem__(self, key: str, value: Any) -> None:
        self.data[key] = value

    def set_persisted_offset(self, tp: TP, offset: int) -> None:
        self.persisted[tp] = offset


class _Topic:
    def __init__(self, name: str) -> None:
        self.name = name

    def get_topic_name(self) -> str:
        return self.name


class _App:
    in_transaction = False


class _Table:
    def __init__(self, name: str, store: Any) -> None:
        self.name, self.data, self.app = name, store, _App()
        self.changelog_topic = _Topic(f"app-{name}-changelog")


def test_writes_reach_the_store_at_once_and_the_log_as_batches_per_partition() -> None:
    async def scenario() -> tuple[_Broker, _Table, _Table, bool]:
        sold, seen = _Table("sold", _Store()), _Table("seen", _Store())
        broker = _Broker()
        writes = TableBatch()
        writes.set(sold, 0, "s1::p1", [3, 1])
        writes.set(sold, 0, "s1::p2", [1, 1])
        writes.set(sold, 2, "s9::p1", [5, 2])
        writes.set(seen, 0, "s1|o1", [7])
        assert sold.data.data == {"s1::p1": [3, 1], "s1::p2": [1, 1], "s9::p1": [5, 2]}
        assert broker.log == {}  # nothing sent before ``send``
        await writes.send(broker)
        assert sold.data.persisted == {}  # nothing persisted before the broker acknowledged
        broker.ack()
        return broker, sold, seen, await writes.wait(1.0)

    broker, sold, seen, written = asyncio.run(scenario())
    assert written
    assert broker.log == {
        TP("app-sold-changelog", 0): [(b'"s1::p1"', b"[3, 1]"), (b'"s1::p2"', b"[1, 1]")],
        TP("app-sold-changelog", 2): [(b'"s9::p1"', b"[5, 2]")],
        TP("app-seen-changelog", 0): [(b'"s1|o1"', b"[7]")],
    }
    assert sold.data.persisted == {TP("app-sold-changelog", 0): 1, TP("app-sold-changelog", 2): 0}
    assert seen.data.persisted == {TP("app-seen-changelog", 0): 0}


def test_a_full_batch_goes_out_and_the_rest_follows_in_order() -> None:
    async def scenario() -> tuple[_Broker, _Table, int]:
        table = _Table("sold", _Store())
        broker = _Broker(batch_size=256)  # a few records per batch
        writes = TableBatch()
        for i in range(40):
            writes.set(table, 1, f"s::p{i}", [i, i])
        await writes.send(broker)
        batches = len(broker.unacked)
        broker.ack()
        assert await writes.wait(1.0)
        return broker, table, batches

    broker, table, batches = asyncio.run(scenario())
    log = broker.log[TP("app-sold-changelog", 1)]
    assert batches > 3
    assert [key for key, _value in log] == [f'"s::p{i}"'.encode() for i in range(40)]
    assert table.data.persisted == {TP("app-sold-changelog", 1): 39}


def test_wait_gives_up_after_its_timeout_and_the_late_ack_still_persists() -> None:
    async def scenario() -> tuple[bool, dict[TP, int], dict[TP, int]]:
        table = _Table("sold", _Store())
        broker = _Broker()
        writes = TableBatch()
        writes.set(table, 0, "s::p", [1, 1])
        await writes.send(broker)
        written = await writes.wait(0.05)
        before = dict(table.data.persisted)
        broker.ack()
        await asyncio.sleep(0)  # the done callback runs on the loop
        return written, before, table.data.persisted

    written, before, after = asyncio.run(scenario())
    assert written is False
    assert before == {}
    assert after == {TP("app-sold-changelog", 0): 0}


def test_a_failed_batch_stops_the_batch_and_persists_no_offset() -> None:
    async def scenario() -> dict[TP, int]:
        table = _Table("sold", _Store())
        broker = _Broker()
        writes = TableBatch()
        writes.set(table, 0, "s::p", [1, 1])
        await writes.send(broker)
        future, _ = broker.unacked.pop()
        future.set_exception(RuntimeError("broker gone"))
        with pytest.raises(ChangelogWriteFailed, match="1 sold changelog records"):
            await writes.wait(1.0)  # the events are not acked: a restart processes them again
        return table.data.persisted

    assert asyncio.run(scenario()) == {}


class _BytesStore(SerializedStore):
    """Faust's serialized-store contract over a dict, as RocksDB keeps it: bytes in, bytes out."""

    def __init__(self) -> None:
        self.raw: dict[bytes, bytes | None] = {}

    def _encode_key(self, key: str) -> bytes:
        return key.encode()

    def _encode_value(self, value: Any) -> bytes:
        return repr(value).encode()

    def _set(self, key: bytes, value: bytes | None) -> None:
        self.raw[key] = value


_BytesStore.__abstractmethods__ = frozenset()  # only the write path is exercised


def test_a_serialized_store_gets_the_same_bytes_as_the_changelog() -> None:
    async def scenario() -> tuple[_Broker, _BytesStore]:
        store = _BytesStore()
        table = _Table("seen", store)
        broker = _Broker()
        writes = TableBatch()
        writes.set(table, 3, "s|o1", [1, 2])
        await writes.send(broker)
        return broker, store

    broker, store = asyncio.run(scenario())
    assert store.raw == {b"s|o1": b"[1, 2]"}
    assert broker.log[TP("app-seen-changelog", 3)] == [(b"s|o1", b"[1, 2]")]
