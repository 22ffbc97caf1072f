"""What one order adds to the popularity counts, given its cancellation and refunds: pure.

Why a ledger per order: a cancellation or a refund names an order, not amounts the counters can
subtract blindly. Each remembered order (the ``processed-orders`` value, ``SeenOrder``) therefore
keeps the order's contents (units and revenue per product, the product's categories) and the
adjustments applied to it, each with the source offset it came from. What the counters hold for
the order is then a function of that set of facts (``contribution``), whatever order they
arrived in:

- no order yet, or the order is cancelled: nothing;
- otherwise each product's units minus its refunded units (never below zero). The order counts
  for a product while some of its units remain, for a category while one of its products that
  carries the category remains, for the store while any product remains.

An event at offset ``o`` changes the counters by ``contribution(facts up to o) -
contribution(facts before o)``. Computed from the offsets recorded in the ledger, that difference
is the same on a replay after a crash as the first time, even when the ledger already holds
events later than ``o`` (a batch's ledger is written once, with all of them), so the watermark
check on each counter keeps every event counted exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from models import OrderEvent

UNCATEGORIZED = "uncategorized"
# Refunds remembered per order: each keeps its id and units, so the ledger stays bounded.
MAX_REFUNDS_PER_ORDER = 100


def category_of(raw: str | None) -> str:
    return (raw or UNCATEGORIZED).strip() or UNCATEGORIZED


@dataclass(frozen=True)
class ProductLine:
    """One product of an order: units and revenue summed over its lines, and its categories."""

    units: int
    revenue: float
    categories: tuple[str, ...]

    @property
    def unit_price(self) -> float:
        return self.revenue / self.units if self.units else 0.0


def contents_of(order: OrderEvent) -> dict[str, ProductLine]:
    """The order's lines folded per product (a product on two lines counts once per order)."""
    units: dict[str, int] = {}
    revenue: dict[str, float] = {}
    cats: dict[str, list[str]] = {}
    for line in order.lines:
        pid = line.product_id
        units[pid] = units.get(pid, 0) + line.quantity
        revenue[pid] = revenue.get(pid, 0.0) + line.quantity * line.price
        category = category_of(line.category)
        if category not in cats.setdefault(pid, []):
            cats[pid].append(category)
    return {pid: ProductLine(units[pid], revenue[pid], tuple(cats[pid])) for pid in units}


def units_of(event: OrderEvent) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in event.lines:
        out[line.product_id] = out.get(line.product_id, 0) + line.quantity
    return out


@dataclass(frozen=True)
class Refund:
    offset: int
    refund_id: str
    units: Mapping[str, int]


@dataclass(frozen=True)
class Contribution:
    """What an order adds to the counters: units per remaining product, its categories, 0/1 store."""

    units: dict[str, int] = field(default_factory=dict)
    categories: frozenset[str] = frozenset()

    @property
    def counts_for_store(self) -> int:
        return 1 if self.units else 0


NOTHING = Contribution()


def contribution(
    order_offset: int | None,
    contents: Mapping[str, ProductLine] | None,
    cancelled_offset: int | None,
    refunds: Iterable[Refund],
    upto: int | None,
    inclusive: bool,
) -> Contribution:
    """The order's contribution from the facts with offset before ``upto`` (or at it too, when
    ``inclusive``); ``upto`` None takes every fact. Unknown contents (a marker written before
    contents were kept) contribute nothing that could be subtracted."""

    def included(offset: int | None) -> bool:
        if offset is None:
            return False
        if upto is None:
            return True
        return offset <= upto if inclusive else offset < upto

    if not included(order_offset) or contents is None or included(cancelled_offset):
        return NOTHING
    refunded: dict[str, int] = {}
    for refund in refunds:
        if included(refund.offset):
            for pid, units in refund.units.items():
                refunded[pid] = refunded.get(pid, 0) + units
    remaining: dict[str, int] = {}
    categories: set[str] = set()
    for pid, line in contents.items():
        left = line.units - refunded.get(pid, 0)
        if left > 0:
            remaining[pid] = left
            categories.update(line.categories)
    return Contribution(remaining, frozenset(categories))


@dataclass(frozen=True)
class Delta:
    """The change one event makes: units and order counts per product, category and store tallies."""

    units: dict[str, int]  # product -> units (signed)
    orders: dict[str, int]  # product -> orders containing it (signed)
    categories: dict[str, int]  # category -> orders (signed)
    store: int  # store's order count (signed)

    @property
    def empty(self) -> bool:
        return not (self.units or self.orders or self.categories or self.store)


def delta(before: Contribution, after: Contribution) -> Delta:
    units: dict[str, int] = {}
    orders: dict[str, int] = {}
    for pid in set(before.units) | set(after.units):
        du = after.units.get(pid, 0) - before.units.get(pid, 0)
        if du:
            units[pid] = du
        do = (pid in after.units) - (pid in before.units)
        if do:
            orders[pid] = do
    categories = {c: 1 for c in after.categories - before.categories}
    categories.update({c: -1 for c in before.categories - after.categories})
    return Delta(units, orders, categories, after.counts_for_store - before.counts_for_store)


def dedupe_identity(event: OrderEvent) -> tuple[str, ...]:
    """What makes two deliveries the same event: the order, its cancellation, or one refund id."""
    if event.kind == "refund":
        return (event.kind, event.store_id, event.order_id, str(event.refund_id))
    return (event.kind, event.store_id, event.order_id)


def net_ground_truth(
    events: Iterable[OrderEvent],
) -> tuple[dict[tuple[str, str], tuple[int, int]], dict[tuple[str, str], int], dict[str, int]]:
    """Reference counts straight from the input: per (store, order id) the first copy of the order,
    whether any cancellation came, and the first copy of each refund id (at most
    ``MAX_REFUNDS_PER_ORDER`` refunds per order). Keys whose count ends at zero are left out.

    Returns (store, product) -> (units, orders), (store, category) -> orders, store -> orders.
    """
    orders: dict[tuple[str, str], dict[str, ProductLine]] = {}
    cancelled: set[tuple[str, str]] = set()
    refunds: dict[tuple[str, str], dict[str, Refund]] = {}
    for event in events:
        key = (event.store_id, event.order_id)
        if event.kind == "order":
            orders.setdefault(key, contents_of(event))
        elif event.kind == "cancellation":
            cancelled.add(key)
        else:
            seen = refunds.setdefault(key, {})
            if event.refund_id not in seen and len(seen) < MAX_REFUNDS_PER_ORDER:
                seen[str(event.refund_id)] = Refund(0, str(event.refund_id), units_of(event))
    sold: dict[tuple[str, str], tuple[int, int]] = {}
    cats: dict[tuple[str, str], int] = {}
    stores: dict[str, int] = {}
    for key, contents in orders.items():
        store = key[0]
        got = contribution(
            0,
            contents,
            0 if key in cancelled else None,
            refunds.get(key, {}).values(),
            None,
            True,
        )
        for pid, units in got.units.items():
            u, o = sold.get((store, pid), (0, 0))
            sold[(store, pid)] = (u + units, o + 1)
        for category in got.categories:
            cats[(store, category)] = cats.get((store, category), 0) + 1
        if got.counts_for_store:
            stores[store] = stores.get(store, 0) + 1
    return sold, cats, stores
