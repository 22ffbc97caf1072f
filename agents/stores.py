"""Faust table and store classes: the RocksDB store minus a full garbage collection per table on
every rebalance, and a table that does not refuse writes while a new changelog's metadata is unknown.

faust-streaming's RocksDB store does not close a revoked partition's database; it drops it and
runs ``gc.collect()`` so the database (and its file lock) goes away. It does so once per table on
every rebalance, even when none of that table's partitions were revoked: on a worker start or a
takeover that is one full collection per table (eight here) inside the rebalance callback, which
took 10 s on the loaded 2-core machine, as long as the group's session timeout, so the broker
dropped the worker and rebalanced again. Here the collection runs only when a database of this
table was actually dropped.
"""

from __future__ import annotations

from typing import Any, cast

import faust
from faust.stores import STORES, rocksdb
from faust.stores.base import SerializedStore
from faust.types import TP, CollectionT


class RocksStore(rocksdb.Store):
    def revoke_partitions(self, table: CollectionT, tps: set[TP]) -> None:
        held = {
            tp
            for tp in tps
            if tp.topic in table.changelog_topic.topics and tp.partition in self._dbs
        }
        if held:
            super().revoke_partitions(table, held)


def register() -> None:
    """Make ``rocksdb://`` resolve to :class:`RocksStore` (Faust looks stores up by URL scheme)."""
    STORES.aliases["rocksdb"] = f"{__name__}:RocksStore"


class Table(faust.Table):
    """A Faust table that waits for the changelog's metadata before checking its partitions.

    Faust refuses a table write (``PartitionsMismatch``) when the source topic's partition count
    differs from the changelog's. On a first start the worker creates the changelog topics a
    moment before subscribing, and the consumer's metadata can list a new changelog with 0
    partitions until its next refresh; the check then failed the write, crashed the agent and lost
    the event in hand (an upload whose catalog never got registered). Unknown (0) is not a
    mismatch: the check is left for a later write, once the metadata knows the topic.
    """

    def _verify_source_topic_partitions(self, source_topic: str) -> None:
        if not self.app.consumer.topic_partitions(self.changelog_topic_name):
            return
        faust.Table._verify_source_topic_partitions(self, source_topic)


def read_value(table: CollectionT, key: Any, partition: int | None = None) -> Any | None:
    """The value ``table`` holds under ``key``, or None.

    Unlike ``table.get``: no sensor call, and no KeyError raised and caught for a missing key
    (the orders fold reads thousands of keys a batch, most of them new). With ``partition`` a
    RocksDB table reads that partition's database directly, so a batch spanning partitions needs
    no current event per read; other serialized stores read the current event's partition, like
    ``get``, and the in-memory store has no partitions."""
    store = cast(Any, table).data  # every Faust table keeps its store here; CollectionT omits it
    if isinstance(store, rocksdb.Store):
        if partition is not None and not table.is_global and not table.use_partitioner:
            raw = store._db_for_partition(partition).get(store._encode_key(key))
            return None if raw is None else store._decode_value(raw)
    if isinstance(store, SerializedStore):
        raw = store._get(store._encode_key(key))
        return None if raw is None else store._decode_value(raw)
    return store.get(key)
