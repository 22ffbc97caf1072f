"""Live feedback: the formula, and the engine using it on the next generation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bundling.engine import generate_bundle_set
from bundling.feedback import Adjustment, FeedbackRules, adjustments, apply_feedback, by_products
from models.performance import BundlePerformance, StorePerformance
from tests.unit.bundling.test_bundling_core import _catalog, _orders

PUBLISHED = datetime(2026, 11, 1, tzinfo=UTC)
RULES = FeedbackRules(
    min_days=7, min_orders=100, penalty_below=0.01, penalty=0.5, boost_at=0.05, boost=1.5
)


def perf(orders: int, bundles: list[tuple[list[str], int, int]]) -> StorePerformance:
    return StorePerformance(
        store_id="s",
        upload_id="u",
        published_at=PUBLISHED,
        orders_since_published=orders,
        bundles=[
            BundlePerformance(
                bundle_id=f"b{i}",
                product_ids=pids,
                published_at=PUBLISHED,
                orders_whole=whole,
                orders_partial=partial,
            )
            for i, (pids, whole, partial) in enumerate(bundles)
        ],
        as_of=PUBLISHED,
    )


def test_boost_penalty_and_neutral() -> None:
    p = perf(1000, [(["b", "a"], 60, 80), (["c", "d"], 0, 5), (["e", "f"], 10, 40)])
    got = {a.product_ids: a.factor for a in adjustments(p, RULES, PUBLISHED + timedelta(days=8))}
    # 6% whole: boost; 0.5% partial: penalty; 1% whole and 4% partial: unchanged
    assert got == {("a", "b"): 1.5, ("c", "d"): 0.5}


def test_no_feedback_without_enough_days_or_orders() -> None:
    p = perf(1000, [(["a", "b"], 0, 0)])
    assert adjustments(p, RULES, PUBLISHED + timedelta(days=6)) == ()
    assert adjustments(perf(99, [(["a", "b"], 0, 0)]), RULES, PUBLISHED + timedelta(days=30)) == ()
    assert adjustments(None, RULES, PUBLISHED) == ()


def test_same_product_set_twice_keeps_the_stronger_evidence() -> None:
    p = perf(1000, [(["a", "b"], 0, 0), (["b", "a"], 100, 100)])
    (adj,) = adjustments(p, RULES, PUBLISHED + timedelta(days=10))
    assert adj.factor == 1.5 and "100 whole" in adj.reason


@dataclass
class FakeDraft:
    ids: list[str]
    score: float
    rationale: str = "bought together"

    @property
    def product_ids(self) -> list[str]:
        return self.ids


def test_apply_feedback_multiplies_and_explains() -> None:
    drafts = [FakeDraft(["b", "a"], 0.8), FakeDraft(["a", "c"], 0.5)]
    n = apply_feedback(drafts, by_products([Adjustment(("a", "b"), 0.5, "did not attach live")]))
    assert n == 1
    assert drafts[0].score == 0.4 and "Live feedback: score x0.5" in drafts[0].rationale
    assert drafts[1].score == 0.5 and "Live feedback" not in drafts[1].rationale


def test_engine_uses_feedback_in_the_next_generation() -> None:
    cat = _catalog()
    orders = _orders(cat, 200)
    first, _ = generate_bundle_set("u1", "s", cat, orders)
    assert first.bundles
    target = first.bundles[0]
    key = tuple(sorted({p.product_id for p in target.products}))
    boosted, _ = generate_bundle_set(
        "u2", "s", cat, orders, feedback=[Adjustment(key, 1.5, "attaches live")]
    )
    same = [b for b in boosted.bundles if tuple(sorted({p.product_id for p in b.products})) == key]
    assert same, "a boosted bundle stays in the set"
    assert "Live feedback: score x1.5, attaches live." in same[0].rationale
    assert same[0].score > target.score or target.score == 0
    untouched = [b for b in boosted.bundles if b not in same]
    assert all("Live feedback" not in b.rationale for b in untouched)
    sunk, _ = generate_bundle_set(
        "u3", "s", cat, orders, feedback=[Adjustment(key, 1e-6, "did not attach live")]
    )
    for b in sunk.bundles:
        if tuple(sorted({p.product_id for p in b.products})) == key:
            assert "did not attach live" in b.rationale and b.score < target.score
