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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from models import OrderEvent

from .ledger import (
    MAX_REFUNDS_PER_ORDER,
    Contribution,
    Delta,
    ProductLine,
    Refund,
    category_of,
    contents_of,
    contribution,
    delta,
    net_ground_truth,
    units_of,
)
from .ledger import UNCATEGORIZED as UNCATEGORIZED  # re-exported for older importers
from .retention import SeenOrder, clamp_event_time

SEP = "\x1f"  # unit separator: cannot appear in ids from CSV/JSON text in practice


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


@dataclass(frozen=True)
class AppliedOrder:
    """What one order (``sign`` +1) or one cancellation or refund (``sign`` -1) changed, for the
    folds that build on the deduplicated order stream (live bundle performance, stock).

    A replay of an already-applied event appears again with the same (partition, offset): each
    downstream fold keeps its own (partition, offset) watermark per key and skips what it has.
    ``units`` and ``revenue`` are per product, always positive; ``sign`` says which way they go.
    """

    partition: int
    offset: int
    store_id: str
    order_id: str
    time_s: int  # order time (created_at), epoch seconds
    sign: int
    units: dict[str, int]
    revenue: dict[str, float]


@dataclass
class PopularityUpdates:
    sold: dict[str, SoldCount] = field(default_factory=dict)
    categories: dict[str, CategoryTally] = field(default_factory=dict)
    seen: dict[str, tuple[int, int]] = field(
        default_factory=dict
    )  # key -> (partition, offset of the order, or of its first adjustment before it arrives)
    ledgers: dict[str, SeenOrder] = field(default_factory=dict)  # key -> ledger to write
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
    # every order, cancellation or refund applied or replayed in this batch that changed the
    # counts, in offset order per partition
    applied: list[AppliedOrder] = field(default_factory=list)
    applied_orders: int = 0
    duplicate_orders: int = 0
    replayed_orders: int = 0
    expired_duplicates: int = 0  # copies whose first delivery was past the window: counted again
    applied_cancellations: int = 0  # first deliveries and replays, as for orders
    applied_refunds: int = 0
    duplicate_cancellations: int = 0
    duplicate_refunds: int = 0
    # cancellations and refunds of an order not (or no longer) remembered: kept as a marker,
    # nothing subtracted yet
    unmatched_adjustments: int = 0
    # events refused by the fold (a dead letter each): (event, reason)
    rejected: list[tuple[OrderAtOffset, str]] = field(default_factory=list)

    def seen_value(self, key: str) -> SeenOrder:
        """The ``processed-orders`` value (the order's ledger) to write."""
        ledger = self.ledgers.get(key)
        if ledger is not None:
            return ledger
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


def _contribution(ledger: SeenOrder, offset: int, inclusive: bool) -> Contribution:
    return contribution(
        ledger.offset, ledger.contents, ledger.cancelled, ledger.refunds, offset, inclusive
    )


def _applied(
    item: OrderAtOffset, ledger: SeenOrder, change: Delta, sign: int
) -> AppliedOrder | None:
    """What the event changed, for the downstream folds: units moved the event's way, priced at
    the order's unit price (the event's own line price when the order's contents are unknown)."""
    units = {pid: sign * du for pid, du in change.units.items() if sign * du > 0}
    if not units:
        return None
    line_price = {line.product_id: line.price for line in item.order.lines}
    revenue: dict[str, float] = {}
    for pid, n in units.items():
        line = ledger.contents.get(pid) if ledger.contents is not None else None
        price = line.unit_price if line is not None else line_price.get(pid, 0.0)
        revenue[pid] = n * price
    time_s = ledger.time_s if ledger.time_s is not None else item.order.created_at.timestamp()
    return AppliedOrder(
        item.partition,
        item.offset,
        item.order.store_id,
        item.order.order_id,
        int(time_s),
        sign,
        units,
        revenue,
    )


def _with_event(
    out: PopularityUpdates, item: OrderAtOffset, ledger: SeenOrder
) -> tuple[SeenOrder, bool] | None:
    """The ledger holding this event, and whether it held it already (a replay); None for a
    duplicate (already held from another offset) or a refused event (listed in ``out.rejected``)."""
    event = item.order
    if event.kind == "order":
        if ledger.offset is not None and ledger.offset != item.offset:
            out.duplicate_orders += 1
            return None
        replay = ledger.offset == item.offset
        # a marker written before contents were kept learns them from the order itself
        learnt = ledger.contents if ledger.contents is not None else contents_of(event)
        return replace(ledger, offset=item.offset, contents=learnt), replay
    if event.kind == "cancellation":
        if ledger.cancelled is not None and ledger.cancelled != item.offset:
            out.duplicate_cancellations += 1
            return None
        replay = ledger.cancelled == item.offset
        contents: Mapping[str, ProductLine] | None = ledger.contents
        if contents is None and ledger.offset is not None and event.lines:
            # an order remembered without its amounts: the cancellation's lines (Shopify sends
            # the whole order) say what it added
            contents = contents_of(event)
        return replace(ledger, cancelled=item.offset, contents=contents), replay
    known = next((r for r in ledger.refunds if r.refund_id == event.refund_id), None)
    if known is not None:
        if known.offset != item.offset:
            out.duplicate_refunds += 1
            return None
        return ledger, True
    if len(ledger.refunds) >= MAX_REFUNDS_PER_ORDER:
        out.rejected.append(
            (item, f"order already has {MAX_REFUNDS_PER_ORDER} refunds, the most remembered")
        )
        return None
    refund = Refund(item.offset, str(event.refund_id), units_of(event))
    return replace(ledger, refunds=(*ledger.refunds, refund)), False


def plan_updates(
    batch: Sequence[OrderAtOffset],
    read_sold: Callable[[str], SoldCount | None],
    read_category: Callable[[str], CategoryTally | None],
    read_seen: Callable[[str], int | SeenOrder | None],
    read_store_orders: Callable[[str], CategoryTally | None] = lambda _store: None,
    retention: Retention | None = None,
) -> PopularityUpdates:
    """Fold a batch (in offset order per partition) into the final value of every touched key.

    Orders add, cancellations and refunds subtract what their order added (``popularity.ledger``),
    each exactly once: an event changes the counters by the difference its fact makes to its
    order's ledger, and only counters whose watermark is older than the event's offset.

    With ``retention``, each partition's watermark advances event by event and a remembered order
    older than ``watermark - retention_s`` is treated as never seen.
    """
    out = PopularityUpdates()
    if retention is not None:
        out.watermarks.update(retention.watermarks)
    for item in batch:
        event = item.order
        seen_key = key_of(event.store_id, event.order_id)
        horizon: int | None = None
        time_s: int | None = None
        if retention is not None:
            time_s = retention.order_time(event)
            mark = max(out.watermarks.get(item.partition, time_s), time_s)
            out.watermarks[item.partition] = mark
            horizon = mark - retention.retention_s
        stored: SeenOrder | None = out.ledgers.get(seen_key)
        if stored is None:
            raw_seen = read_seen(seen_key)
            stored = SeenOrder.from_json(raw_seen) if isinstance(raw_seen, int) else raw_seen
        if (
            stored is not None
            and horizon is not None
            and stored.time_s is not None
            and stored.time_s < horizon
        ):
            # remembered past the window: forgotten, as if expired already
            if event.kind == "order" and stored.offset not in (None, item.offset):
                out.expired_duplicates += 1
            stored = None
        held = _with_event(out, item, stored or SeenOrder(None, item.partition))
        if held is None:
            continue
        ledger, replay = held
        if event.kind == "order":
            # the order's own time decides when its ledger expires
            ledger_time = time_s
        else:
            ledger_time = ledger.time_s if ledger.time_s is not None else time_s
        ledger = replace(ledger, partition=item.partition, time_s=ledger_time)
        # A replay re-emits its ledger too: a store that survives a crash on local disk (RocksDB)
        # can hold a ledger whose changelog record was still unsent when the process died.
        if ledger_time is None or horizon is None or ledger_time >= horizon:
            first = ledger.offset if ledger.offset is not None else item.offset
            out.seen[seen_key] = (item.partition, first)
            out.ledgers[seen_key] = ledger
            if ledger_time is not None:
                out.seen_times[seen_key] = ledger_time
        if event.kind == "order":
            out.applied_orders += 1
            out.replayed_orders += replay
        elif event.kind == "cancellation":
            out.applied_cancellations += 1
        else:
            out.applied_refunds += 1
        if event.kind != "order" and ledger.offset is None:
            out.unmatched_adjustments += 1

        change = delta(
            _contribution(ledger, item.offset, False), _contribution(ledger, item.offset, True)
        )
        sign = 1 if event.kind == "order" else -1
        applied = _applied(item, ledger, change, sign)
        if applied is not None:
            out.applied.append(applied)
        if event.kind == "order":
            for line in event.lines:
                sold_key = key_of(event.store_id, line.product_id)
                if line.title:
                    out.titles[sold_key] = line.title
                out.product_categories[sold_key] = category_of(line.category)
        elif ledger.contents is not None:
            # the by-category popularity of a product whose order count changes is rewritten too
            for pid in change.orders:
                product = ledger.contents.get(pid)
                if product is not None and product.categories:
                    out.product_categories[key_of(event.store_id, pid)] = product.categories[-1]
        _apply(out, item, change, read_sold, read_category, read_store_orders)
    return out


def _apply(
    out: PopularityUpdates,
    item: OrderAtOffset,
    change: Delta,
    read_sold: Callable[[str], SoldCount | None],
    read_category: Callable[[str], CategoryTally | None],
    read_store_orders: Callable[[str], CategoryTally | None],
) -> None:
    """Add ``change`` to every counter whose watermark is older than the event (the others hold it
    already and are re-emitted unchanged: readers may have missed them)."""
    store = item.order.store_id
    for product_id in sorted(set(change.units) | set(change.orders)):
        sold_key = key_of(store, product_id)
        current = out.sold.get(sold_key) or read_sold(sold_key)
        if current is not None and _already_applied(
            item.partition, item.offset, current.partition, current.offset
        ):
            out.sold.setdefault(sold_key, current)
            continue
        base_units, base_orders = (current.units, current.orders) if current else (0, 0)
        out.sold[sold_key] = SoldCount(
            max(0, base_units + change.units.get(product_id, 0)),
            max(0, base_orders + change.orders.get(product_id, 0)),
            item.partition,
            item.offset,
        )

    if change.store:
        current_store = out.store_orders.get(store) or read_store_orders(store)
        if current_store is None or not _already_applied(
            item.partition, item.offset, current_store.partition, current_store.offset
        ):
            base_orders = current_store.orders if current_store else 0
            out.store_orders[store] = CategoryTally(
                max(0, base_orders + change.store), item.partition, item.offset
            )
        else:
            out.store_orders.setdefault(store, current_store)

    for category, by in sorted(change.categories.items()):
        cat_key = key_of(store, category)
        current_cat = out.categories.get(cat_key) or read_category(cat_key)
        if current_cat is not None and _already_applied(
            item.partition, item.offset, current_cat.partition, current_cat.offset
        ):
            out.categories.setdefault(cat_key, current_cat)
            continue
        base = current_cat.orders if current_cat else 0
        out.categories[cat_key] = CategoryTally(max(0, base + by), item.partition, item.offset)


def ground_truth(
    orders: Sequence[OrderEvent],
) -> tuple[dict[tuple[str, str], tuple[int, int]], dict[tuple[str, str], int]]:
    """Reference counts straight from the input: the first copy of each (store, order_id), less
    its cancellation and refunds (``popularity.ledger.net_ground_truth``; zero counts left out).

    Tests and the demo compare live tables against this.
    """
    sold, cats, _stores = net_ground_truth(orders)
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
