"""Continuous objective scoring: priority = benefit x confidence, with Wilson-interval confidence.

Each objective's benefit and confidence formula is tabulated in docs/design.md, Objectives.
Two extra metrics, ``inventory_age_z`` and ``items_std_z``, are computed and reported in
``ObjectiveScore.inputs`` for the metrics record but enter no formula (that section says why).

Metric definitions (all relative to the data's own reference time, never wall-clock, so
replaying an upload is deterministic):

* reference time: the newest timestamp in the data (max of order ``created_at`` and product
  ``created_at``), ignoring straggler orders: a trailing block of at most 0.1% of the orders that
  follows a gap longer than the 30-day velocity window (Olist has 3 orders dated 2020 after a
  history ending in Sept 2018; measured from them, 99.997% of SKUs were "slow movers").
* ``margin``: (price - cost) / price for products with a known cost and price > 0.
* ``margin_iqr``: 75th minus 25th percentile (linear interpolation) of known margins; 0 if fewer
  than 2 are known.
* ``pct_high_margin``: share of all catalog SKUs with margin >= ``HIGH_MARGIN`` (0.4, the same
  threshold as cold-start high-margin curation); SKUs without cost count as not high-margin.
* ``slow movers``: in-stock SKUs whose units sold in the last 30 days of the history are zero or
  strictly below the 25th percentile of in-stock SKUs' 30-day units. With no orders at all there
  is no velocity signal, so nothing is a slow mover.
* ``inventory_age_z`` (reported only): (mean age of slow movers - mean age of in-stock SKUs) /
  std of in-stock ages, age = days from ``created_at`` to the reference time; 0 if undefined.
* ``avg_items``/``std_items``: mean and population std of distinct products per order.
* ``items_std_z`` (reported only): std_items / avg_items (coefficient of variation).
* ``pct_new_sku_30d``: share of SKUs created within 30 days of the reference time.
* ``category_diversity``: Shannon entropy of the SKU-per-category distribution divided by
  log(n_categories) (0 with one category).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from models.bundles import Objective, ObjectiveScore
from models.catalog import Product
from models.orders import OrderEvent

from .orderarrays import OrderArrays
from .stats import Z_95, wilson_ci_width

HIGH_MARGIN = 0.4
NEW_WINDOW_DAYS = 30
VELOCITY_WINDOW_DAYS = 30


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


@dataclass(frozen=True)
class StoreMetrics:
    """Every input of the benefit/confidence formulas, computed once per upload."""

    total_skus: int
    txn_count: int
    margin_iqr: float
    high_margin_count: int
    pct_high_margin: float
    slow_mover_ids: frozenset[str]
    pct_slow_movers: float
    inventory_age_z: float
    avg_items: float
    std_items: float
    new_sku_ids: frozenset[str]
    pct_new_sku_30d: float
    n_categories: int
    category_diversity: float
    subscription_skus: int

    @property
    def slow_mover_count(self) -> int:
        return len(self.slow_mover_ids)

    @property
    def new_sku_count(self) -> int:
        return len(self.new_sku_ids)


def _robust_last(
    ts: np.ndarray, window_days: float = VELOCITY_WINDOW_DAYS, share: float = 0.001
) -> float:
    """Newest order time, stragglers excluded (see ``reference_time`` in the module docstring)."""
    t = np.sort(ts)
    n = t.size
    gaps = np.flatnonzero(np.diff(t) > window_days * 86400.0)
    tail = n - (gaps + 1)
    ok = gaps[tail <= max(1, int(share * n))] if n >= 2 else gaps[:0]
    return float(t[ok[0]] if ok.size and n >= 1000 else t[-1])


def compute_metrics(
    catalog: Sequence[Product], orders: Sequence[OrderEvent], arrays: OrderArrays | None = None
) -> StoreMetrics:
    """``arrays`` (the same orders as columns) replaces the per-line loops with bincounts."""
    total = len(catalog)
    if arrays is None and orders:
        arrays = OrderArrays.from_orders(orders)
    n_orders = arrays.n_orders if arrays is not None else 0
    stamps = np.asarray([_aware(p.created_at).timestamp() for p in catalog if p.created_at], float)
    if arrays is not None and n_orders:
        stamps = np.concatenate([arrays.order_ts, stamps])
    ref = datetime.fromtimestamp(_robust_last(stamps), tz=UTC) if len(stamps) else None

    margins = np.array([m for p in catalog if (m := p.margin) is not None], dtype=float)
    iqr = (
        float(np.percentile(margins, 75) - np.percentile(margins, 25)) if margins.size >= 2 else 0.0
    )
    high = int((margins >= HIGH_MARGIN).sum())

    in_stock = [p for p in catalog if p.in_stock]
    slow: set[str] = set()
    age_z = 0.0
    # n_orders > 0 implies arrays and ref are set; the explicit checks tell the type checker
    if arrays is not None and ref is not None and n_orders and in_stock:
        u = arrays.units_since((ref - timedelta(days=VELOCITY_WINDOW_DAYS)).timestamp())
        get = arrays.basket.index().get
        at = np.fromiter((get(p.product_id, -1) for p in in_stock), np.int64, len(in_stock))
        vel = np.where(at >= 0, u[at] if u.size else 0.0, 0.0).astype(float)
        q25 = float(np.percentile(vel, 25))
        slow = {in_stock[i].product_id for i in np.flatnonzero((vel == 0) | (vel < q25)).tolist()}
        if ref is not None:
            ages = {
                p.product_id: (ref - _aware(p.created_at)).total_seconds() / 86400
                for p in in_stock
                if p.created_at
            }
            a = np.array(list(ages.values()))
            sa = np.array([ages[s] for s in slow if s in ages])
            if a.size >= 2 and sa.size and a.std() > 0:
                age_z = float((sa.mean() - a.mean()) / a.std())

    sizes = (
        np.diff(arrays.basket.X.indptr).astype(float)
        if arrays is not None and n_orders
        else np.zeros(0)
    )
    avg_items = float(sizes.mean()) if sizes.size else 0.0
    std_items = float(sizes.std()) if sizes.size else 0.0

    new: set[str] = set()
    if ref is not None:
        since = ref - timedelta(days=NEW_WINDOW_DAYS)
        new = {p.product_id for p in catalog if p.created_at and _aware(p.created_at) >= since}

    cats: dict[str, int] = {}
    for p in catalog:
        cats[p.category] = cats.get(p.category, 0) + 1
    k = len(cats)
    if k >= 2:
        q = np.array(list(cats.values()), dtype=float) / total
        diversity = float(-(q * np.log(q)).sum() / math.log(k))
    else:
        diversity = 0.0

    return StoreMetrics(
        total_skus=total,
        txn_count=n_orders,
        margin_iqr=iqr,
        high_margin_count=high,
        pct_high_margin=high / total if total else 0.0,
        slow_mover_ids=frozenset(slow),
        pct_slow_movers=len(slow) / total if total else 0.0,
        inventory_age_z=age_z,
        avg_items=avg_items,
        std_items=std_items,
        new_sku_ids=frozenset(new),
        pct_new_sku_30d=len(new) / total if total else 0.0,
        n_categories=k,
        category_diversity=diversity,
        subscription_skus=sum(
            1
            for p in catalog
            if p.subscription or (p.tags and any("subscri" in t.lower() for t in p.tags))
        ),
    )


class ContinuousObjectiveScorer:
    """Scores all eight objectives (docs/design.md, Objectives); ranks by priority."""

    z: float = Z_95

    def benefit_confidence(
        self, m: StoreMetrics
    ) -> dict[Objective, tuple[float, float, dict[str, float]]]:
        def w(k: int, n: int) -> float:
            return wilson_ci_width(k, n, self.z)

        txns = m.txn_count
        return {
            Objective.MARGIN_GUARD: (
                m.margin_iqr / 0.3 + m.pct_high_margin,
                1 - w(m.high_margin_count, m.total_skus),
                {
                    "margin_iqr": m.margin_iqr,
                    "pct_high_margin": m.pct_high_margin,
                    "high_margin_count": m.high_margin_count,
                },
            ),
            Objective.CLEAR_SLOW_MOVERS: (
                m.pct_slow_movers,
                1 - w(m.slow_mover_count, m.total_skus),
                {
                    "pct_slow_movers": m.pct_slow_movers,
                    "slow_mover_count": m.slow_mover_count,
                    "inventory_age_z": m.inventory_age_z,
                },
            ),
            Objective.INCREASE_AOV: (
                (3 - m.avg_items) / 3 + m.std_items / 2,
                min(1.0, txns / 100),
                {
                    "avg_items": m.avg_items,
                    "std_items": m.std_items,
                    "items_std_z": m.std_items / m.avg_items if m.avg_items else 0.0,
                    "txn_count": txns,
                },
            ),
            Objective.NEW_LAUNCH: (
                m.pct_new_sku_30d * 5,
                1 - w(m.new_sku_count, max(10, m.new_sku_count)),
                {"pct_new_sku_30d": m.pct_new_sku_30d, "new_sku_count": m.new_sku_count},
            ),
            Objective.SEASONAL_PROMO: (0.4, min(0.8, txns / 50), {"txn_count": txns}),
            Objective.CATEGORY_BUNDLE: (
                m.category_diversity * 0.5,
                min(1.0, m.n_categories / 5),
                {"category_diversity": m.category_diversity, "n_categories": m.n_categories},
            ),
            Objective.GIFT_BOX: (0.3, min(0.7, m.total_skus / 20), {"skus": m.total_skus}),
            Objective.SUBSCRIPTION_PUSH: (0.2, 0.5, {"subscription_skus": m.subscription_skus}),
        }

    def score(self, m: StoreMetrics) -> dict[Objective, ObjectiveScore]:
        """Rank 1 = highest priority; ties keep the enum order (deterministic)."""
        bc = self.benefit_confidence(m)
        order = list(Objective)
        ranked = sorted(order, key=lambda o: (-(bc[o][0] * bc[o][1]), order.index(o)))
        return {
            o: ObjectiveScore(
                benefit=round(bc[o][0], 6),
                confidence=round(bc[o][1], 6),
                priority=round(bc[o][0] * bc[o][1], 6),
                rank=ranked.index(o) + 1,
                inputs={k: float(v) for k, v in bc[o][2].items()},
            )
            for o in order
        }

    @staticmethod
    def select_objectives_with_budget(
        scores: dict[Objective, ObjectiveScore], max_objectives: int
    ) -> list[Objective]:
        """Top ``max_objectives`` by rank (see ``budget.max_objectives`` for the count)."""
        return [o for o, _ in sorted(scores.items(), key=lambda kv: kv[1].rank)][:max_objectives]
