"""Live feedback: what the orders since the last publication say about each bundle, turned into a
score multiplier for the same product set in the store's next generation.

The formula and its defaults are in docs/design.md (Live feedback). In short, for a bundle whose
set was published at least ``min_days`` ago, in a store with at least ``min_orders`` orders
since then:

* whole rate = orders holding every product / orders since publication: at or above
  ``boost_at`` the score is multiplied by ``boost``;
* otherwise, partial rate = orders holding at least 2 of its products / orders since publication:
  below ``penalty_below`` the score is multiplied by ``penalty``;
* otherwise, or without enough evidence, nothing changes.

The same product set is recognised whatever the bundle's type or objective. The multiplier is
applied after the per-type normalisation, before gates and diversity selection, and the bundle's
rationale says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from models.performance import StorePerformance

DAY_S = 24 * 3600.0


@dataclass(frozen=True)
class FeedbackRules:
    min_days: float = 7.0
    min_orders: int = 200
    penalty_below: float = 0.002
    penalty: float = 0.5
    boost_at: float = 0.01
    boost: float = 1.25


@dataclass(frozen=True)
class Adjustment:
    """A score multiplier for one product set, and why."""

    product_ids: tuple[str, ...]  # sorted
    factor: float
    reason: str


def adjustments(
    perf: StorePerformance | None, rules: FeedbackRules, now: datetime
) -> tuple[Adjustment, ...]:
    """Multipliers for the product sets of ``perf`` that have enough evidence (factor != 1)."""
    if perf is None:
        return ()
    shown_days = (now - perf.published_at).total_seconds() / DAY_S
    orders = perf.orders_since_published
    if shown_days < rules.min_days or orders < rules.min_orders:
        return ()
    out: dict[tuple[str, ...], Adjustment] = {}
    for b in perf.bundles:
        key = tuple(sorted(set(b.product_ids)))
        whole, partial = b.orders_whole / orders, b.orders_partial / orders
        evidence = f"{b.orders_whole} whole / {b.orders_partial} partial of {orders} orders in {shown_days:.0f} days"
        if whole >= rules.boost_at:
            adj = Adjustment(key, rules.boost, f"attaches live ({evidence})")
        elif partial < rules.penalty_below:
            adj = Adjustment(key, rules.penalty, f"did not attach live ({evidence})")
        else:
            continue
        if adj.factor != 1.0:
            # two bundles with one product set (two types): the stronger evidence wins
            previous = out.get(key)
            if previous is None or adj.factor > previous.factor:
                out[key] = adj
    return tuple(out.values())


class Scored(Protocol):
    score: float
    rationale: str

    @property
    def product_ids(self) -> list[str]: ...


def by_products(feedback: Iterable[Adjustment]) -> dict[tuple[str, ...], Adjustment]:
    return {a.product_ids: a for a in feedback}


def apply_feedback(drafts: Iterable[Scored], feedback: Mapping[tuple[str, ...], Adjustment]) -> int:
    """Multiply the score of every draft whose product set has an adjustment (in place) and say
    so in its rationale; returns how many changed."""
    if not feedback:
        return 0
    changed = 0
    for d in drafts:
        adj = feedback.get(tuple(sorted(set(d.product_ids))))
        if adj is None:
            continue
        d.score = round(d.score * adj.factor, 6)
        note = f"Live feedback: score x{adj.factor:g}, {adj.reason}."
        d.rationale = f"{d.rationale} {note}".strip()
        changed += 1
    return changed
