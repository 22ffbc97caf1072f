"""The Redis read model's pure parts: what to write for a batch, what to rebuild from the tables,
and the bookkeeping of an outage (is Redis behind the tables, and for which stores).

Redis is a read model, never the truth. While it is unreachable the agents keep counting into
their Faust tables and only note which stores they touched; when it answers again the worker
rewrites the read model of every store it owns from the tables (a restart during the outage
starts in that same "behind" state, so nothing depends on memory that a restart loses). Writes
are absolute values, so rewriting a store twice is harmless.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from popularity import CategoryTally, PopularityUpdates, SoldCount, split_key


@dataclass
class StoreWrites:
    """Everything the read model gets for one store: one Redis command per structure."""

    orders: dict[str, int] = field(default_factory=dict)  # product -> orders containing it
    units: dict[str, int] = field(default_factory=dict)  # product -> units sold
    by_category: dict[str, dict[str, int]] = field(
        default_factory=dict
    )  # category -> product -> orders
    product_categories: dict[str, str] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)
    category_orders: dict[str, int] = field(default_factory=dict)
    store_orders: int | None = None


def popularity_writes(updates: PopularityUpdates) -> dict[str, StoreWrites]:
    """Group a batch's (or a rebuild's) final values by store."""
    out: dict[str, StoreWrites] = {}
    for key, sold in updates.sold.items():
        store, product = split_key(key)
        w = out.setdefault(store, StoreWrites())
        w.orders[product] = sold.orders
        w.units[product] = sold.units
        category = updates.product_categories.get(key)
        if category:
            w.by_category.setdefault(category, {})[product] = sold.orders
            w.product_categories[product] = category
        title = updates.titles.get(key)
        if title:
            w.titles[product] = title
    for key, tally in updates.categories.items():
        store, category = split_key(key)
        out.setdefault(store, StoreWrites()).category_orders[category] = tally.orders
    for store, tally in updates.store_orders.items():
        out.setdefault(store, StoreWrites()).store_orders = tally.orders
    return out


def label_of(category: str | None, title: str | None) -> list[str]:
    """The product-labels table value: what the read model shows next to a count."""
    return [category or "", title or ""]


def label_changes(
    updates: PopularityUpdates, read_label: Callable[[str], Any]
) -> dict[str, list[str]]:
    """Labels (category, title) that differ from the table's: written once per new or renamed
    product, not once per order, so the table costs almost nothing per batch."""
    changed: dict[str, list[str]] = {}
    for key in updates.sold:
        category = updates.product_categories.get(key)
        title = updates.titles.get(key)
        if category is None and title is None:
            continue
        current = read_label(key)
        if current is not None and len(current) == 2:
            # a line without a title keeps the title an earlier line gave
            title = title or current[1]
        label = label_of(category or (current[0] if current else None), title)
        if current is None or list(current) != label:
            changed[key] = label
    return changed


def rebuild_updates(
    sold_rows: Iterable[tuple[str, Any]],
    category_rows: Iterable[tuple[str, Any]],
    store_rows: Iterable[tuple[str, Any]],
    read_label: Callable[[str], Any],
    partitions: set[int],
    stores: set[str] | None = None,
) -> PopularityUpdates:
    """The read model of the stores in ``partitions`` (optionally only ``stores``), from table rows.

    Every table value carries its source partition, so rows of partitions this worker does not
    own (standby copies) are left out: their owner writes them, with values at least as new."""
    out = PopularityUpdates()

    def wanted(store: str, partition: int) -> bool:
        return partition in partitions and (stores is None or store in stores)

    for key, raw in sold_rows:
        sold = SoldCount.from_json(raw)
        if sold is None or not wanted(split_key(key)[0], sold.partition):
            continue
        out.sold[key] = sold
        label = read_label(key)
        if label:
            if label[0]:
                out.product_categories[key] = label[0]
            if len(label) > 1 and label[1]:
                out.titles[key] = label[1]
    for key, raw in category_rows:
        tally = CategoryTally.from_json(raw)
        if tally is not None and wanted(split_key(key)[0], tally.partition):
            out.categories[key] = tally
    for store, raw in store_rows:
        tally = CategoryTally.from_json(raw)
        if tally is not None and wanted(store, tally.partition):
            out.store_orders[store] = tally
    return out


def attach_counts(
    rows: Iterable[tuple[str, int]], stores: set[str] | None, owned: Callable[[str], bool]
) -> dict[str, dict[str, int]]:
    """store -> product -> times added, for the stores this worker owns (attach statistics)."""
    out: dict[str, dict[str, int]] = {}
    for key, count in rows:
        store, product = split_key(key)
        if (stores is None or store in stores) and owned(store):
            out.setdefault(store, {})[product] = int(count)
    return out


def chunks(stores: Iterable[str], size: int) -> list[list[str]]:
    ordered = sorted(stores)
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]


PendingWrite = Callable[[], Any]  # an async callable replaying one write


class ReadModelState:
    """Is the read model behind the tables, since when and why; what to redo when Redis is back.

    Starts behind: a fresh worker cannot know what happened to Redis while it was down, so its
    first pass rewrites the read model of every store it owns (idempotent absolute values)."""

    def __init__(self, pending_max: int) -> None:
        self.behind = True
        self.behind_since: float | None = None
        self.reason = "worker started: read model not yet rewritten from the tables"
        self.dirty: dict[str, set[str]] = {}  # family ("popularity", "attach") -> stores
        self.pending: deque[PendingWrite] = deque()
        self.pending_max = pending_max
        self.dropped = 0
        self.synced_ownership: object = None  # the partitions the last full pass covered
        self.full_passes = 0

    def fell_behind(self, reason: str, now: float) -> None:
        if not self.behind or self.behind_since is None:
            self.behind_since = now
        self.behind = True
        self.reason = reason

    @property
    def failing(self) -> bool:
        """Behind because Redis failed (not merely a fresh start waiting for its first pass)."""
        return self.behind and self.behind_since is not None

    def touched(self, family: str, stores: Iterable[str]) -> None:
        self.dirty.setdefault(family, set()).update(stores)

    def defer(self, write: PendingWrite) -> None:
        """Keep a write that no table can rebuild; past ``pending_max`` the oldest goes."""
        if self.pending_max <= 0:
            self.dropped += 1
            return
        if len(self.pending) >= self.pending_max:
            self.pending.popleft()
            self.dropped += 1
        self.pending.append(write)

    def needs_full_pass(self, ownership: object) -> bool:
        """Behind, or owning other partitions than the last pass covered (a rebalance)."""
        return self.behind or self.synced_ownership != ownership

    def take_dirty(self, limit: int) -> tuple[str, list[str]] | None:
        for family, stores in self.dirty.items():
            if stores:
                picked = [stores.pop() for _ in range(min(limit, len(stores)))]
                return family, picked
        return None

    def caught_up(self, ownership: object) -> None:
        self.behind = False
        self.behind_since = None
        self.reason = ""
        self.synced_ownership = ownership
        self.full_passes += 1

    def report(self, now: float) -> dict[str, Any]:
        return {
            "behind": self.behind,
            "behind_for_s": round(now - self.behind_since, 1)
            if self.behind and self.behind_since
            else None,
            "reason": self.reason or None,
            "stores_waiting": sum(len(s) for s in self.dirty.values()),
            "pending_writes": len(self.pending),
            "pending_writes_dropped": self.dropped,
            "full_passes": self.full_passes,
        }
