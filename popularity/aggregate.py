"""Turn a batch of order events into table writes that are exact under at-least-once delivery.

Why watermarks: Faust (at-least-once) may replay events after a crash whose table changelog
records were already written, and the records of one batch may be only partly written. So every
counter value carries the source (partition, offset) of the newest event it includes. On replay an
event only touches counters whose watermark is older than the event's offset. Each changelog record
is self-contained (value + watermark), so any prefix of a batch's writes is a consistent state.
Keys of one store always come from one partition (the topic is keyed by store), so an offset
comparison is meaningful.

A replayed order re-emits the current value of every key it touches, unchanged: the table write is
a no-op, and the Redis read model, which a crash may have left behind the changelog, catches up.

Idempotency on order id (webhooks are delivered at least once, possibly at different offsets):
``seen[store, order_id]`` holds the offset where the order was first seen. A second copy at another
offset is a duplicate and is dropped; the same offset again is a replay of the original and goes
through the watermark check.

Bounded memory of order ids: with a retention window, ``seen`` entries carry the order time, and
an entry older than the partition's order-time watermark minus the window no longer counts: a copy
of an order that old is counted again (see ``popularity.retention``). Orders already that old are
not remembered at all, since the next expiry pass would delete them anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from models import OrderEvent

from .retention import SeenOrder, clamp_event_time

SEP = "\x1f"  # unit separator: cannot appear in ids from CSV/JSON text in practice
UNCATEGORIZED = "uncategorized"


def key_of(*parts: str) -> str:
    return SEP.join(parts)


def split_key(key: str) -> list[str]:
    return key.split(SEP)


@dataclass(frozen=True)
class OrderAtOffset:
    partition: int
    offset: int
    order: OrderEvent


@dataclass(frozen=True)
class SoldCount:
    """Units sold and orders containing the product, as of source (partition, offset)."""

    units: int
    orders: int
    partition: int
    offset: int

    def to_json(self) -> list[int]:
        return [self.units, self.orders, self.partition, self.offset]

    @classmethod
    def from_json(cls, raw: Sequence[int] | None) -> SoldCount | None:
        return None if raw is None else cls(*raw)


@dataclass(frozen=True)
class CategoryTally:
    """Orders that touched the category (an order counts once per category), as of (partition, offset)."""

    orders: int
    partition: int
    offset: int

    def to_json(self) -> list[int]:
        return [self.orders, self.partition, self.offset]

    @classmethod
    def from_json(cls, raw: Sequence[int] | None) -> CategoryTally | None:
        return None if raw is None else cls(*raw)


@dataclass
class PopularityUpdates:
    sold: dict[str, SoldCount] = field(default_factory=dict)
    categories: dict[str, CategoryTally] = field(default_factory=dict)
    seen: dict[str, tuple[int, int]] = field(
        default_factory=dict
    )  # key -> (partition, first offset)
    store_orders: dict[str, CategoryTally] = field(
        default_factory=dict
    )  # store -> distinct orders counted
    titles: dict[str, str] = field(default_factory=dict)  # sold key -> product title, for readers
    product_categories: dict[str, str] = field(default_factory=dict)  # sold key -> category
    seen_times: dict[str, int] = field(
        default_factory=dict
    )  # seen key -> order time (retention on)
    watermarks: dict[int, int] = field(
        default_factory=dict
    )  # partition -> newest order time in the batch
    applied_orders: int = 0
    duplicate_orders: int = 0
    replayed_orders: int = 0
    expired_duplicates: int = 0  # copies whose first delivery was past the window: counted again

    def seen_value(self, key: str) -> SeenOrder:
        """The ``processed-orders`` value to write for a newly seen order."""
        partition, offset = self.seen[key]
        return SeenOrder(offset, partition, self.seen_times.get(key))


@dataclass(frozen=True)
class Retention:
    """The dedupe window and each partition's order-time watermark before the batch."""

    retention_s: int
    watermarks: dict[int, int] = field(default_factory=dict)
    now_s: float | None = None  # wall clock, to cap order times from the future
    max_future_s: float = 24 * 3600.0

    def order_time(self, order: OrderEvent) -> int:
        time_s = order.created_at.timestamp()
        if self.now_s is None:
            return int(time_s)
        return clamp_event_time(time_s, self.now_s, self.max_future_s)


def _already_applied(
    partition: int, offset: int, current_partition: int, current_offset: int
) -> bool:
    return current_partition == partition and current_offset >= offset


def plan_updates(
    batch: Sequence[OrderAtOffset],
    read_sold: Callable[[str], SoldCount | None],
    read_category: Callable[[str], CategoryTally | None],
    read_seen: Callable[[str], int | SeenOrder | None],
    read_store_orders: Callable[[str], CategoryTally | None] = lambda _store: None,
    retention: Retention | None = None,
) -> PopularityUpdates:
    """Fold a batch (in offset order per partition) into the final value of every touched key.

    With ``retention``, each partition's watermark advances order by order and a remembered order
    id older than ``watermark - retention_s`` is treated as never seen.
    """
    out = PopularityUpdates()
    if retention is not None:
        out.watermarks.update(retention.watermarks)
    for item in batch:
        order = item.order
        seen_key = key_of(order.store_id, order.order_id)
        horizon: int | None = None
        time_s: int | None = None
        if retention is not None:
            time_s = retention.order_time(order)
            mark = max(out.watermarks.get(item.partition, time_s), time_s)
            out.watermarks[item.partition] = mark
            horizon = mark - retention.retention_s
        pending = out.seen.get(seen_key)
        if pending is not None:
            stored: SeenOrder | None = SeenOrder(
                pending[1], pending[0], out.seen_times.get(seen_key)
            )
        else:
            raw_seen = read_seen(seen_key)
            stored = SeenOrder.from_json(raw_seen) if isinstance(raw_seen, int) else raw_seen
        first_seen = None if stored is None else stored.offset
        if (
            stored is not None
            and horizon is not None
            and stored.time_s is not None
            and stored.time_s < horizon
        ):
            first_seen = None  # remembered past the window: forgotten, as if expired already
            if stored.offset != item.offset:
                out.expired_duplicates += 1
        if first_seen is not None and first_seen != item.offset:
            out.duplicate_orders += 1
            continue
        if first_seen is not None:
            out.replayed_orders += 1
        # A replay re-emits its marker too: a store that survives a crash on local disk (RocksDB)
        # can hold a marker whose changelog record was still unsent when the process died.
        if time_s is None or horizon is None or time_s >= horizon:
            out.seen[seen_key] = (item.partition, item.offset)
            if time_s is not None:
                out.seen_times[seen_key] = time_s
        out.applied_orders += 1

        units_by_product: dict[str, int] = {}
        categories: set[str] = set()
        for line in order.lines:
            units_by_product[line.product_id] = (
                units_by_product.get(line.product_id, 0) + line.quantity
            )
            category = (line.category or UNCATEGORIZED).strip() or UNCATEGORIZED
            categories.add(category)
            sold_key = key_of(order.store_id, line.product_id)
            if line.title:
                out.titles[sold_key] = line.title
            out.product_categories[sold_key] = category

        for product_id, units in units_by_product.items():
            sold_key = key_of(order.store_id, product_id)
            current = out.sold.get(sold_key) or read_sold(sold_key)
            if current is not None and _already_applied(
                item.partition, item.offset, current.partition, current.offset
            ):
                out.sold.setdefault(sold_key, current)  # rewrite as is: readers may have missed it
                continue
            base_units, base_orders = (current.units, current.orders) if current else (0, 0)
            out.sold[sold_key] = SoldCount(
                base_units + units, base_orders + 1, item.partition, item.offset
            )

        current_store = out.store_orders.get(order.store_id) or read_store_orders(order.store_id)
        if current_store is None or not _already_applied(
            item.partition, item.offset, current_store.partition, current_store.offset
        ):
            base_orders = current_store.orders if current_store else 0
            out.store_orders[order.store_id] = CategoryTally(
                base_orders + 1, item.partition, item.offset
            )
        else:
            out.store_orders.setdefault(order.store_id, current_store)

        for category in categories:
            cat_key = key_of(order.store_id, category)
            current_cat = out.categories.get(cat_key) or read_category(cat_key)
            if current_cat is not None and _already_applied(
                item.partition, item.offset, current_cat.partition, current_cat.offset
            ):
                out.categories.setdefault(cat_key, current_cat)
                continue
            base = current_cat.orders if current_cat else 0
            out.categories[cat_key] = CategoryTally(base + 1, item.partition, item.offset)
    return out


def ground_truth(
    orders: Sequence[OrderEvent],
) -> tuple[dict[tuple[str, str], tuple[int, int]], dict[tuple[str, str], int]]:
    """Reference counts straight from the input, first copy of each (store, order_id) only.

    Tests and the demo compare live tables against this.
    """
    seen: set[tuple[str, str]] = set()
    sold: dict[tuple[str, str], tuple[int, int]] = {}
    cats: dict[tuple[str, str], int] = {}
    for order in orders:
        if (order.store_id, order.order_id) in seen:
            continue
        seen.add((order.store_id, order.order_id))
        units_by_product: dict[str, int] = {}
        categories = set()
        for line in order.lines:
            units_by_product[line.product_id] = (
                units_by_product.get(line.product_id, 0) + line.quantity
            )
            categories.add((line.category or UNCATEGORIZED).strip() or UNCATEGORIZED)
        for pid, units in units_by_product.items():
            u, o = sold.get((order.store_id, pid), (0, 0))
            sold[(order.store_id, pid)] = (u + units, o + 1)
        for c in categories:
            cats[(order.store_id, c)] = cats.get((order.store_id, c), 0) + 1
    return sold, cats


@dataclass
class PartitionWrites:
    """Keys of each table to write while an event of one source partition is current."""

    sold: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    stores: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)


def writes_by_partition(updates: PopularityUpdates) -> dict[int, PartitionWrites]:
    """Group the touched keys by the source partition whose changelog must carry them."""
    groups: dict[int, PartitionWrites] = {}
    for key, sold in updates.sold.items():
        groups.setdefault(sold.partition, PartitionWrites()).sold.append(key)
    for key, tally in updates.categories.items():
        groups.setdefault(tally.partition, PartitionWrites()).categories.append(key)
    for store, tally in updates.store_orders.items():
        groups.setdefault(tally.partition, PartitionWrites()).stores.append(store)
    for key, (partition, _offset) in updates.seen.items():
        groups.setdefault(partition, PartitionWrites()).seen.append(key)
    return groups
