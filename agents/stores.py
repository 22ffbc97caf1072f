"""The RocksDB table store, minus a full garbage collection per table on every rebalance.

faust-streaming's RocksDB store does not close a revoked partition's database; it drops it and
runs ``gc.collect()`` so the database (and its file lock) goes away. It does so once per table on
every rebalance, even when none of that table's partitions were revoked: on a worker start or a
takeover that is one full collection per table (eight here) inside the rebalance callback, which
took 10 s on the loaded 2-core machine, as long as the group's session timeout, so the broker
dropped the worker and rebalanced again. Here the collection runs only when a database of this
table was actually dropped.
"""

from __future__ import annotations

from faust.stores import STORES, rocksdb
from faust.types import TP, CollectionT


class RocksStore(rocksdb.Store):
    def revoke_partitions(self, table: CollectionT, tps: set[TP]) -> None:
        held = {tp for tp in tps if tp.topic in table.changelog_topic.topics and tp.partition in self._dbs}
        if held:
            super().revoke_partitions(table, held)


def register() -> None:
    """Make ``rocksdb://`` resolve to :class:`RocksStore` (Faust looks stores up by URL scheme)."""
    STORES.aliases["rocksdb"] = f"{__name__}:RocksStore"
