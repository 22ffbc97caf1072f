"""The project's Faust table class: a changelog whose metadata is not known yet is not a mismatch."""

from __future__ import annotations

from types import SimpleNamespace

import faust
import pytest
from faust.exceptions import PartitionsMismatch
from faust.stores.base import SerializedStore

from agents.app import app
from agents.stores import Table, read_value


class _Consumer:
    def __init__(self, partitions: dict[str, int]) -> None:
        self.partitions = partitions

    def topic_partitions(self, topic: str) -> int | None:
        return self.partitions.get(topic)


def _table(partitions: dict[str, int]) -> SimpleNamespace:
    return SimpleNamespace(
        app=SimpleNamespace(consumer=_Consumer(partitions)),
        name="rolling-costs",
        changelog_topic_name="app-rolling-costs-changelog",
        _verified_source_topics_for_partitions=set(),
    )


def test_the_app_builds_its_tables_from_this_class() -> None:
    assert app.conf.Table is Table


def test_a_changelog_listed_with_zero_partitions_lets_the_write_through_and_checks_later() -> None:
    table = _table({"uploads": 8, "app-rolling-costs-changelog": 0})
    Table._verify_source_topic_partitions(table, "uploads")
    # once the metadata knows the changelog, a real mismatch is still refused
    table.app.consumer.partitions["app-rolling-costs-changelog"] = 4
    with pytest.raises(PartitionsMismatch):
        Table._verify_source_topic_partitions(table, "uploads")


def test_matching_partitions_pass() -> None:
    table = _table({"uploads": 8, "app-rolling-costs-changelog": 8})
    Table._verify_source_topic_partitions(table, "uploads")


class _DictSerializedStore(SerializedStore):
    """Faust's serialized-store contract over a dict (RocksDB needs a worker's data dir)."""

    def __init__(self) -> None:
        self.raw: dict[bytes, bytes] = {}

    def _encode_key(self, key: str) -> bytes:
        return key.encode()

    def _decode_value(self, value: bytes | None) -> str:
        assert value is not None
        return value.decode()

    def _get(self, key: bytes) -> bytes | None:
        return self.raw.get(key)


_DictSerializedStore.__abstractmethods__ = frozenset()  # only the read path is exercised


def test_read_value_gives_the_stored_value_or_none_without_sensors() -> None:
    store = _DictSerializedStore()
    store.raw[b"s1::p1"] = b"[3,2]"
    sensed: list[str] = []
    table = SimpleNamespace(data=store, on_key_get=sensed.append)
    assert read_value(table, "s1::p1") == "[3,2]"
    assert read_value(table, "s1::unknown") is None
    assert sensed == []


def test_read_value_on_a_plain_mapping_store() -> None:
    table = SimpleNamespace(data={"k": b"v"})
    assert read_value(table, "k") == b"v"
    assert read_value(table, "missing") is None


def test_read_value_reads_the_named_partition_of_a_rocksdb_table(tmp_path) -> None:
    rocks_app = faust.App(
        "read-value-test",
        store="rocksdb://",
        datadir=str(tmp_path),
        key_serializer="raw",
        value_serializer="raw",
    )
    table = rocks_app.Table("sold-counts", default=None, partitions=4, key_type=str)
    store = table.data
    store._db_for_partition(2)[store._encode_key("s1::p1")] = b"[3,2]"
    assert read_value(table, "s1::p1", partition=2) == [3, 2]  # decoded as the table decodes
    assert read_value(table, "s1::p1", partition=1) is None  # another partition's database
    assert read_value(table, "s1::unknown", partition=2) is None
