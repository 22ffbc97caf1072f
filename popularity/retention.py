"""Bounded table state: which keys have outlived their retention window, found without scans.

Why an index: deleting expired keys must cost in proportion to what expires, not to the table's
size, and must never hold the event loop for long. ``ExpiryIndex`` keeps, per source partition,
the keys in coarse time buckets and a watermark (the newest time seen on that partition). A key
is *expired* once its time is older than ``watermark - retention``; whole buckets older than that
horizon are handed out in chunks of bounded size, so a caller can delete a chunk, yield, repeat.

Why per partition and why a watermark instead of the wall clock: Faust writes a table's
changelog record to the partition of the current event, so a key can only be deleted while an
event of its own partition is current, and the partition's own event times decide when that
happens. Driven by order time, a replay of years of history stays bounded as it goes.

The index lives in memory and is rebuilt from the table itself (every value carries its
partition and time, see ``SeenOrder``) after a restart or a rebalance, so nothing about expiry
needs its own changelog.

``TopN`` bounds a per-store counter map to its N most-added entries (attach statistics).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .ledger import ProductLine, Refund

DEFAULT_BUCKETS_PER_WINDOW = 48


@dataclass(frozen=True)
class SeenOrder:
    """The ``processed-orders`` value: an order's ledger within the dedupe window.

    ``offset`` is where the order was first seen (None: only its cancellation or refunds so far),
    ``time_s`` the order's time (or, before the order arrives, the first adjustment's), which
    decides when the ledger expires. ``contents`` is what the order added, per product;
    ``cancelled`` the offset of its cancellation; ``refunds`` the refunds applied, each with its
    offset (see ``popularity.ledger``). Every fact keeps its source offset, so a replay can tell
    what it already holds.

    The value used to be a bare int (the first offset), then ``[offset, partition, time]``: both
    read back with no contents (an order whose amounts are unknown).
    """

    offset: int | None
    partition: int | None = None
    time_s: int | None = None
    contents: Mapping[str, ProductLine] | None = None
    cancelled: int | None = None
    refunds: tuple[Refund, ...] = ()

    def to_json(self) -> list[Any]:
        out: list[Any] = [
            -1 if self.offset is None else self.offset,
            -1 if self.partition is None else self.partition,
            -1 if self.time_s is None else self.time_s,
        ]
        facts: dict[str, Any] = {}
        if self.contents is not None:
            names: list[str] = []
            index: dict[str, int] = {}
            products: dict[str, list[Any]] = {}
            for pid, line in self.contents.items():
                cats = []
                for category in line.categories:
                    if category not in index:
                        index[category] = len(names)
                        names.append(category)
                    cats.append(index[category])
                products[pid] = [line.units, line.revenue, cats]
            facts["p"] = products
            facts["c"] = names
        if self.cancelled is not None:
            facts["x"] = self.cancelled
        if self.refunds:
            facts["r"] = [[r.offset, r.refund_id, dict(r.units)] for r in self.refunds]
        if facts:
            out.append(facts)
        return out

    @classmethod
    def from_json(cls, raw: int | Sequence[Any] | None) -> SeenOrder | None:
        if raw is None:
            return None
        if isinstance(raw, int):  # the format before retention: the first offset only
            return cls(raw)
        offset, partition, time_s = raw[0], raw[1], raw[2]
        facts: Mapping[str, Any] = raw[3] if len(raw) > 3 else {}
        contents: dict[str, ProductLine] | None = None
        if "p" in facts:
            names = facts.get("c", [])
            contents = {
                pid: ProductLine(int(units), float(revenue), tuple(names[i] for i in cats))
                for pid, (units, revenue, cats) in facts["p"].items()
            }
        return cls(
            None if offset < 0 else int(offset),
            None if partition < 0 else int(partition),
            None if time_s < 0 else int(time_s),
            contents,
            facts.get("x"),
            tuple(
                Refund(int(off), str(rid), {str(k): int(v) for k, v in units.items()})
                for off, rid, units in facts.get("r", ())
            ),
        )


def clamp_event_time(time_s: float, now_s: float, max_future_s: float) -> int:
    """An event time from the future (a wrong clock, a hostile sender) may not advance the
    watermark past ``now + max_future_s``: one bogus order must not expire a partition's state."""
    return int(min(time_s, now_s + max_future_s))


@dataclass
class _PartitionIndex:
    watermark: int | None = None
    buckets: dict[int, dict[str, int]] = field(default_factory=dict)  # bucket -> key -> time
    bucket_of: dict[str, int] = field(default_factory=dict)  # key -> its bucket


class ExpiryIndex:
    """Per-partition time buckets of keys, a watermark per partition, and the expired keys in chunks."""

    def __init__(self, retention_s: int, bucket_s: int | None = None) -> None:
        if retention_s <= 0:
            raise ValueError("retention_s must be positive")
        self.retention_s = int(retention_s)
        self.bucket_s = max(1, int(bucket_s or retention_s // DEFAULT_BUCKETS_PER_WINDOW or 1))
        self._parts: dict[int, _PartitionIndex] = {}

    # -- reading -----------------------------------------------------------------------------
    def watermark(self, partition: int) -> int | None:
        part = self._parts.get(partition)
        return None if part is None else part.watermark

    def horizon(self, partition: int) -> int | None:
        """Keys of ``partition`` with a time strictly before this are expired (None: nothing is)."""
        mark = self.watermark(partition)
        return None if mark is None else mark - self.retention_s

    def is_expired(self, partition: int, time_s: int | None) -> bool:
        horizon = self.horizon(partition)
        return time_s is not None and horizon is not None and time_s < horizon

    def size(self, partition: int | None = None) -> int:
        if partition is not None:
            part = self._parts.get(partition)
            return 0 if part is None else len(part.bucket_of)
        return sum(len(p.bucket_of) for p in self._parts.values())

    def partitions(self) -> list[int]:
        return sorted(self._parts)

    # -- writing -----------------------------------------------------------------------------
    def _part(self, partition: int) -> _PartitionIndex:
        part = self._parts.get(partition)
        if part is None:
            part = self._parts[partition] = _PartitionIndex()
        return part

    def advance(self, partition: int, time_s: int) -> None:
        """Move the partition's watermark forward (never back)."""
        part = self._part(partition)
        if part.watermark is None or time_s > part.watermark:
            part.watermark = int(time_s)

    def observe(self, partition: int, key: str, time_s: int) -> None:
        """Track ``key`` at ``time_s`` (a newer time replaces an older one) and advance the watermark."""
        part = self._part(partition)
        time_s = int(time_s)
        old_bucket = part.bucket_of.get(key)
        if old_bucket is not None and part.buckets[old_bucket][key] < time_s:
            self._remove(part, key, old_bucket)
            old_bucket = None
        if old_bucket is None:
            bucket = time_s // self.bucket_s
            keys = part.buckets.get(bucket)
            if keys is None:
                keys = part.buckets[bucket] = {}
            keys[key] = time_s
            part.bucket_of[key] = bucket
        if part.watermark is None or time_s > part.watermark:
            part.watermark = time_s

    def forget(self, partition: int, key: str) -> None:
        part = self._parts.get(partition)
        if part is not None and key in part.bucket_of:
            self._remove(part, key, part.bucket_of[key])

    def drop_partition(self, partition: int) -> None:
        """The partition moved to another worker: its keys are that worker's to expire."""
        self._parts.pop(partition, None)

    def clear(self) -> None:
        self._parts.clear()

    def take_expired(self, partition: int, limit: int) -> list[tuple[str, int]]:
        """Up to ``limit`` (key, time) of ``partition`` older than its horizon, oldest buckets
        first, removed from the index. Only whole buckets entirely before the horizon are taken,
        so expiry runs at most one bucket width late and never looks at a live key."""
        part = self._parts.get(partition)
        horizon = self.horizon(partition)
        if part is None or horizon is None or limit <= 0:
            return []
        out: list[tuple[str, int]] = []
        for bucket in sorted(b for b in part.buckets if (b + 1) * self.bucket_s <= horizon):
            keys = part.buckets[bucket]
            while keys and len(out) < limit:
                key, time_s = keys.popitem()
                del part.bucket_of[key]
                out.append((key, time_s))
            if not keys:
                del part.buckets[bucket]
            if len(out) >= limit:
                break
        return out

    def _remove(self, part: _PartitionIndex, key: str, bucket: int) -> None:
        keys = part.buckets[bucket]
        del keys[key]
        del part.bucket_of[key]
        if not keys:
            del part.buckets[bucket]


def should_delete(stored_time_s: int | None, horizon: int | None, present: bool = True) -> bool:
    """Re-check before a delete: the table's current value decides, not the index's memory
    (the key may have been rewritten with a newer time since it was indexed)."""
    return present and stored_time_s is not None and horizon is not None and stored_time_s < horizon


def chunks(items: Sequence[tuple[str, int]], size: int) -> Iterable[Sequence[tuple[str, int]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class TopN:
    """The N most-added members of each group (store), by the Space-Saving algorithm.

    Why Space-Saving rather than "drop the smallest": a newcomer always starts at 1, so plain
    eviction would throw it out at once, forever, however often it is added later. Here a
    newcomer on a full group takes the place of the smallest entry (ties: the one updated longest
    ago) and inherits its count plus one. Any member added more often than the evicted count
    stays; a count may overestimate by at most the count it inherited. Below N members per group
    every count is exact.
    """

    def __init__(self, max_per_group: int) -> None:
        if max_per_group <= 0:
            raise ValueError("max_per_group must be positive")
        self.max_per_group = max_per_group
        self._groups: dict[str, OrderedDict[str, int]] = {}

    def load(self, group: str, member: str, count: int) -> None:
        """Rebuild from the table (the loading order stands in for recency)."""
        self._groups.setdefault(group, OrderedDict())[member] = count

    def increment(self, group: str, member: str, by: int = 1) -> tuple[int, list[str]]:
        """Add ``by`` to ``member``; returns its new count and the members evicted for it."""
        members = self._groups.setdefault(group, OrderedDict())
        evicted: list[str] = []
        if member in members:
            count = members[member] + by
        elif len(members) < self.max_per_group:
            count = by
        else:
            victim = self._smallest(members)
            count = members.pop(victim) + by
            evicted.append(victim)
        members[member] = count
        members.move_to_end(member)
        return count, evicted + self.trim(group)

    def trim(self, group: str) -> list[str]:
        """Evict the smallest members beyond N (after a rebuild, or a lowered limit)."""
        members = self._groups.get(group)
        evicted: list[str] = []
        while members and len(members) > self.max_per_group:
            victim = self._smallest(members)
            del members[victim]
            evicted.append(victim)
        return evicted

    def trim_all(self) -> dict[str, list[str]]:
        return {group: out for group in list(self._groups) if (out := self.trim(group))}

    def members(self, group: str) -> Mapping[str, int]:
        return self._groups.get(group, {})

    def size(self) -> int:
        return sum(len(m) for m in self._groups.values())

    def clear(self) -> None:
        self._groups.clear()

    @staticmethod
    def _smallest(members: OrderedDict[str, int]) -> str:
        # an OrderedDict iterates least recent first and min() keeps the first of equals: the stalest
        return min(members, key=members.__getitem__)
