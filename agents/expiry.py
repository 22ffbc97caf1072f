"""Wiring for bounded tables: rebuild an in-memory expiry index from a table, delete in chunks.

The decisions (what is expired, what to evict) are pure (``popularity.retention``); this module
only touches Faust. Two Faust facts shape it:

- A table write or delete goes to the changelog partition of the *current event*, and the
  RocksDB store reads and writes the database of that partition. So every read-before-delete and
  every delete of a key happens while an event of the key's own partition is current
  (``as_current_event``); ``del table[key]`` then sends the tombstone to that partition.
- The index lives in memory only. After a restart or any rebalance it is rebuilt from the
  table's own values (scanned in chunks with a yield between chunks), so expiry needs no
  bookkeeping of its own on Kafka and a partition that moved here is expired here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from faust.stores.memory import Store as MemoryStore
from faust.types import EventT

from popularity.retention import ExpiryIndex, chunks, should_delete

from .app import app
from .batching import as_current_event

log = logging.getLogger(__name__)

SCAN_CHUNK = 5_000  # table entries read between two yields to the event loop while rebuilding
DELETE_CHUNK = 500  # deletes between two yields


class RebuildFlag:
    """Set by every partition assignment; an agent rebuilds its index before its next batch."""

    def __init__(self) -> None:
        self.dirty = True
        self.actives: frozenset[int] | None = None

    def needs_rebuild(self, actives: frozenset[int]) -> bool:
        return self.dirty or actives != self.actives

    def rebuilt(self, actives: frozenset[int]) -> None:
        self.dirty, self.actives = False, actives


_flags: list[RebuildFlag] = []


def rebuild_flag() -> RebuildFlag:
    flag = RebuildFlag()
    _flags.append(flag)
    return flag


@app.on_partitions_assigned.connect
async def _mark_indexes_stale(sender: Any, /, *args: Any, **kwargs: Any) -> None:
    """A partition may have left and come back between two batches: its keys changed meanwhile."""
    for flag in _flags:
        flag.dirty = True


def active_partitions(table: Any) -> frozenset[int]:
    """Partitions of ``table`` this worker owns (standbys are someone else's to expire)."""
    topic = table.changelog_topic.get_topic_name()
    return frozenset(tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic)


async def scan_table(table: Any) -> AsyncIterator[list[tuple[Any, Any]]]:
    """Every (key, value) of the table's local store, in chunks, yielding to the loop in between.

    The memory store is a dict that standby recovery may grow while we yield, so its keys are
    snapshot first (a C-speed copy); RocksDB iterators read a consistent view of each database.
    """
    store = table.data
    if isinstance(store, MemoryStore):
        data = store.data
        keys = list(data)
        for start in range(0, len(keys), SCAN_CHUNK):
            chunk = [(k, data[k]) for k in keys[start : start + SCAN_CHUNK] if k in data]
            yield chunk
            await asyncio.sleep(0)
        return
    chunk = []
    for item in store.items():
        chunk.append(item)
        if len(chunk) >= SCAN_CHUNK:
            yield chunk
            chunk = []
            await asyncio.sleep(0)
    if chunk:
        yield chunk


async def delete_expired(
    table: Any,
    index: ExpiryIndex,
    partition: int,
    event: EventT,
    limit: int,
    stored_time: Callable[[Any, int], int | None],
) -> int:
    """Delete up to ``limit`` expired keys of ``partition`` (table + changelog tombstone).

    ``stored_time(value, indexed_time)`` reads the time out of the table's current value; a key
    rewritten since it was indexed is kept. Returns how many keys were deleted.
    """
    horizon = index.horizon(partition)
    due = index.take_expired(partition, limit)
    deleted = 0
    for chunk in chunks(due, DELETE_CHUNK):
        with as_current_event(event):
            for key, indexed_time in chunk:
                value = table.get(key)
                if should_delete(
                    None if value is None else stored_time(value, indexed_time),
                    horizon,
                    present=value is not None,
                ):
                    del table[key]
                    deleted += 1
        await asyncio.sleep(0)
    return deleted
