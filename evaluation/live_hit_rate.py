"""Bundle hit rate of one published bundle set, offline (computed) and live (counted by the worker).

The offline figure is computed here from the held-out orders and the bundle set; the live figure
is what ``GET /api/v1/stores/{store}/bundles/performance`` reports after the same orders were
replayed through Kafka. Both use one definition per bundle, the one the performance endpoint
documents (``models.performance``):

- an order is a **whole** hit of a bundle when it holds every distinct product of the bundle;
- an order is a **partial** hit when it holds at least 2 of them (whole hits included; a
  one-product bundle, volume tiers, needs its one product);
- revenue is that of the bundle's products in those orders (quantity x unit price).

The endpoint counts per bundle, so an order holding two bundles counts once for each. The hit
rate over the whole set is reported two ways: the sum of per-bundle hits per order (comparable
live and offline) and, offline only, the share of orders holding at least one bundle (the
definition ``split.bundle_hit_rate`` uses; the endpoint has no per-order union to give it).
Bundles of one product stay out of the set-level rates (buying one product is not a bundle
hit) but keep their per-bundle counts, as the endpoint reports them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from models.bundles import BundleSet
from models.orders import OrderEvent
from models.performance import StorePerformance


@dataclass(frozen=True, slots=True)
class OrderProducts:
    """One order reduced to its products and the revenue of each (lines of a product summed)."""

    order_id: str
    revenue: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class BundleHits:
    bundle_id: str
    product_ids: tuple[str, ...]
    orders_whole: int = 0
    orders_partial: int = 0
    revenue_whole: float = 0.0
    revenue_partial: float = 0.0

    @property
    def scored(self) -> bool:
        """Counts towards the hit rates: two or more distinct products."""
        return len(set(self.product_ids)) >= 2


@dataclass(frozen=True, slots=True)
class HitRates:
    """Per-bundle hits over ``orders`` orders; ``any_*`` is the per-order union (None when the
    source cannot tell, as for the live endpoint)."""

    orders: int
    bundles: list[BundleHits] = field(default_factory=list)
    any_partial: int | None = None
    any_whole: int | None = None

    def _sum(self, attr: str) -> int:
        return sum(int(getattr(b, attr)) for b in self.bundles if b.scored)

    @property
    def partial_hits(self) -> int:
        return self._sum("orders_partial")

    @property
    def whole_hits(self) -> int:
        return self._sum("orders_whole")

    @property
    def partial_per_order(self) -> float:
        """Partial hits of every bundle (2+ products) per order."""
        return self.partial_hits / self.orders if self.orders else 0.0

    @property
    def whole_per_order(self) -> float:
        return self.whole_hits / self.orders if self.orders else 0.0

    @property
    def any_partial_rate(self) -> float | None:
        if self.any_partial is None:
            return None
        return self.any_partial / self.orders if self.orders else 0.0

    @property
    def any_whole_rate(self) -> float | None:
        if self.any_whole is None:
            return None
        return self.any_whole / self.orders if self.orders else 0.0


def order_products(orders: Iterable[OrderEvent]) -> list[OrderProducts]:
    """Revenue per product per order; events sharing an order id (a parser splits orders above
    the 1,000-line cap) are merged, in first-seen order."""
    merged: dict[str, dict[str, float]] = {}
    for order in orders:
        revenue = merged.setdefault(order.order_id, {})
        for line in order.lines:
            revenue[line.product_id] = (
                revenue.get(line.product_id, 0.0) + line.quantity * line.price
            )
    return [OrderProducts(oid, revenue) for oid, revenue in merged.items()]


def bundle_products(bundle_set: BundleSet) -> list[tuple[str, tuple[str, ...]]]:
    """(bundle id, product ids) of every bundle of a set, in the set's order."""
    return [(b.bundle_id, tuple(p.product_id for p in b.products)) for b in bundle_set.bundles]


def offline_hit_rates(
    orders: Sequence[OrderProducts], bundles: Sequence[tuple[str, Sequence[str]]]
) -> HitRates:
    """Count, for every bundle, the orders holding all of it and those holding 2+ of its products
    (its one product for a one-product bundle), with the revenue of its products in them; and
    the orders holding any bundle of 2+ products."""
    members = [(bundle_id, tuple(products), frozenset(products)) for bundle_id, products in bundles]
    counts = [[0, 0, 0.0, 0.0] for _ in members]
    any_partial = any_whole = 0
    for order in orders:
        bought = order.revenue
        hit_partial = hit_whole = False
        for i, (_, _, wanted) in enumerate(members):
            held = [p for p in wanted if p in bought]
            if len(held) < min(2, len(wanted)):
                continue
            whole = len(held) == len(wanted)
            revenue = sum(bought[p] for p in held)
            row = counts[i]
            row[1] += 1  # every hit is a partial one, whole ones included
            row[3] += revenue
            if whole:
                row[0] += 1
                row[2] += revenue
            if len(wanted) >= 2:
                hit_partial = True
                hit_whole = hit_whole or whole
        any_partial += hit_partial
        any_whole += hit_whole
    return HitRates(
        orders=len(orders),
        bundles=[
            BundleHits(bundle_id, products, int(c[0]), int(c[1]), c[2], c[3])
            for (bundle_id, products, _), c in zip(members, counts, strict=True)
        ],
        any_partial=any_partial,
        any_whole=any_whole,
    )


def live_hit_rates(performance: StorePerformance) -> HitRates:
    """The endpoint's answer in the same shape (it has per-bundle counts only, no union)."""
    return HitRates(
        orders=performance.orders_since_published,
        bundles=[
            BundleHits(
                b.bundle_id,
                tuple(b.product_ids),
                b.orders_whole,
                b.orders_partial,
                b.revenue_whole,
                b.revenue_partial,
            )
            for b in performance.bundles
        ],
    )


def as_live_orders(
    orders: Sequence[OrderEvent], store_id: str, start: datetime, *, suffix: str = ""
) -> list[OrderEvent]:
    """Held-out orders replayed as if they happened now: the store becomes ``store_id``, order
    times become ``start`` plus one millisecond per order (keeping their order), so they fall
    after the bundle set's publication. ``suffix`` is appended to order ids so a second replay
    on the same broker is a new set of orders rather than duplicates."""
    return [
        order.model_copy(
            update={
                "store_id": store_id,
                "order_id": f"{order.order_id}{suffix}",
                "created_at": start + timedelta(milliseconds=i),
                "source": "replay",
            }
        )
        for i, order in enumerate(orders)
    ]


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def comparison_rows(
    offline: HitRates, live: HitRates, names: Mapping[str, str] | None = None
) -> list[list[str]]:
    """Rows of the live-vs-offline table: (measure, offline, live), the set-level figures first,
    then each bundle's partial / whole order counts (named by ``names[bundle_id]`` if given)."""
    rows = [
        ["orders (holdout / counted since publication)", f"{offline.orders:,}", f"{live.orders:,}"],
        [
            "orders holding 2+ products of a bundle (any bundle)",
            f"{offline.any_partial:,} ({_pct(offline.any_partial_rate)})"
            if offline.any_partial is not None
            else "n/a",
            "n/a (per-bundle counts only)",
        ],
        [
            "orders holding a whole bundle (any bundle)",
            f"{offline.any_whole:,} ({_pct(offline.any_whole_rate)})"
            if offline.any_whole is not None
            else "n/a",
            "n/a (per-bundle counts only)",
        ],
        [
            "bundle hits, 2+ products, summed over bundles (per order)",
            f"{offline.partial_hits:,} ({_pct(offline.partial_per_order)})",
            f"{live.partial_hits:,} ({_pct(live.partial_per_order)})",
        ],
        [
            "bundle hits, whole bundle, summed over bundles (per order)",
            f"{offline.whole_hits:,} ({_pct(offline.whole_per_order)})",
            f"{live.whole_hits:,} ({_pct(live.whole_per_order)})",
        ],
    ]
    revenue = [sum(b.revenue_partial for b in r.bundles if b.scored) for r in (offline, live)]
    rows.append(
        ["revenue of the bundles' products in those orders"] + [f"{v:,.2f}" for v in revenue]
    )
    by_id = {b.bundle_id: b for b in live.bundles}
    for i, b in enumerate(offline.bundles, 1):
        seen = by_id.get(b.bundle_id)
        name = (names or {}).get(b.bundle_id) or f"{len(b.product_ids)} products"
        rows.append(
            [
                f"bundle {i} ({name}): 2+ / whole",
                f"{b.orders_partial:,} / {b.orders_whole:,}",
                "missing" if seen is None else f"{seen.orders_partial:,} / {seen.orders_whole:,}",
            ]
        )
    return rows


def markdown_table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    """A GitHub table: the first column left-aligned, the others right-aligned."""
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
