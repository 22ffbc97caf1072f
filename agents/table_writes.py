"""A batch's table writes: the store at once, the changelog as whole record batches.

A Faust table write sends its changelog record through Faust's own send path, one record at a
time: a ``FutureMessage``, a hop through Faust's send buffer, sensor calls, and a callback per
record that writes the partition's persisted offset into RocksDB. The orders agent writes about
1.6 records per event, and that path was about a third of the worker's CPU. Here the writes of one
batch to one changelog partition go to aiokafka as record batches built in one go, and the store's
persisted offset is written once per partition, when the broker has acknowledged them.

What stays as Faust does it:

- the bytes: the store's own key and value encoders, which are the changelog's serializers, so
  recovery, standbys and Faust's own writes read these records like any other;
- the store is written first (while an event of the partition is current, as a RocksDB store
  needs), so a later read in the same batch sees the value;
- the persisted offset only ever names a record the broker holds (a crash before it only means a
  longer changelog replay, never a skipped record);
- one producer and one in-flight request per partition, so a key's records keep their order with
  the writes Faust sends for it afterwards.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, cast

from faust.stores.base import SerializedStore
from faust.types import TP, CollectionT, ProducerT

log = logging.getLogger(__name__)


@dataclass
class _PartitionWrites:
    table: CollectionT
    partition: int
    records: list[tuple[bytes, bytes | None]] = field(default_factory=list)


@dataclass
class _SentBatch:
    table: CollectionT
    tp: TP
    count: int
    future: asyncio.Future[Any]


def kafka_producer(producer: ProducerT) -> Any:
    """The running aiokafka producer behind Faust's: the one the worker sends everything with
    (it runs at least once, so no per-partition transactional producers)."""
    return cast(Any, producer)._ensure_producer()


class TableBatch:
    """Table writes of one batch, sent by ``send`` and awaited by ``wait`` before the batch's
    offsets may be committed."""

    def __init__(self) -> None:
        self._pending: dict[tuple[str, int], _PartitionWrites] = {}
        self._sent: list[_SentBatch] = []

    def set(self, table: CollectionT, partition: int, key: Any, value: Any) -> None:
        """``table[key] = value`` without Faust's per-record send; call it while an event of
        ``partition`` is current (``agents.batching.as_current_event``)."""
        store = cast(Any, table).data  # every Faust table keeps its store here
        key_bytes = store._encode_key(key)
        value_bytes = store._encode_value(value)
        if isinstance(store, SerializedStore):  # RocksDB: the bytes, in the partition's database
            store._set(key_bytes, value_bytes)
        else:  # the in-memory store keeps the objects themselves
            store[key] = value
        self._queue(table, partition).append((key_bytes, value_bytes))

    def _queue(self, table: CollectionT, partition: int) -> list[tuple[bytes, bytes | None]]:
        slot = (table.name, partition)
        writes = self._pending.get(slot)
        if writes is None:
            writes = self._pending[slot] = _PartitionWrites(table, partition)
        return writes.records

    async def send(self, producer: Any) -> None:
        """Hand every queued record to aiokafka (``producer`` is the running AIOKafkaProducer)."""
        pending, self._pending = self._pending, {}
        for writes in pending.values():
            topic = writes.table.changelog_topic.get_topic_name()
            tp = TP(topic, writes.partition)
            batch = producer.create_batch()
            count = 0
            for key, value in writes.records:
                if batch.append(key=key, value=value, timestamp=None) is None:
                    if count == 0:
                        raise ValueError(f"a {writes.table.name} record is larger than a batch")
                    await self._send_batch(producer, batch, writes.table, tp, count)
                    batch = producer.create_batch()
                    count = 0
                    if batch.append(key=key, value=value, timestamp=None) is None:
                        raise ValueError(f"a {writes.table.name} record is larger than a batch")
                count += 1
            if count:
                await self._send_batch(producer, batch, writes.table, tp, count)

    async def _send_batch(
        self, producer: Any, batch: Any, table: CollectionT, tp: TP, count: int
    ) -> None:
        batch.close()  # ours alone: later sends start their own batch, after this one
        future = await producer.send_batch(batch, tp.topic, partition=tp.partition)
        sent = _SentBatch(table, tp, count, future)
        future.add_done_callback(lambda _f: _persist_offset(sent))
        self._sent.append(sent)

    async def wait(self, timeout_s: float) -> bool:
        """True once the broker holds every record sent; False if ``timeout_s`` passed first (the
        sends go on, and their persisted offsets are written when they land).

        Raises ``ChangelogWriteFailed`` when the producer gave up on a batch (it retries until its
        request timeout): acking the events would commit offsets past state the changelog lacks,
        so the batch fails instead; its offsets are never committed, and a restarted worker
        processes it again."""
        sent, self._sent = self._sent, []
        if not sent:
            return True
        _done, pending = await asyncio.wait([s.future for s in sent], timeout=timeout_s)
        for batch in sent:
            future = batch.future
            if future.done() and not future.cancelled() and future.exception() is not None:
                raise ChangelogWriteFailed(
                    f"{batch.count} {batch.table.name} changelog records to {batch.tp} were not "
                    f"written: {future.exception()!r}"
                )
        return not pending


class ChangelogWriteFailed(RuntimeError):
    """The broker never took a batch of table writes."""


def _persist_offset(sent: _SentBatch) -> None:
    """What Faust does per changelog record (``Collection._on_changelog_sent``), once per batch."""
    if sent.future.cancelled():
        return
    error = sent.future.exception()
    if error is not None:
        log.error("table changelog batch to %s was not written: %r", sent.tp, error)
        return
    last_offset = sent.future.result().offset + sent.count - 1
    table = cast(Any, sent.table)
    if table.app.in_transaction:
        table.app.tables.persist_offset_on_commit(table.data, sent.tp, last_offset)
    else:
        table.data.set_persisted_offset(sent.tp, last_offset)
