"""Baselines on a tiny history whose co-occurrence matrix is easy to compute by hand.

Train baskets {a,b} {a,b} {a,c} {b,c} {d}: counts a=3 b=3 c=2 d=1; C_ab=2, C_ac=1, C_bc=1.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from evaluation.baselines import CooccurrenceRecommender, PopularityRecommender, SARRecommender
from evaluation.protocol import BundleSource, Recommender
from evaluation.rules import AssociationRulesRecommender
from evaluation.split import Basket

TRAIN = [
    Basket(str(i), datetime(2024, 1, 1), items)
    for i, items in enumerate([("a", "b"), ("a", "b"), ("a", "c"), ("b", "c"), ("d",)])
]


def _sim(rec, x: str, y: str) -> float:
    i, j = rec.matrix.column[x], rec.matrix.column[y]
    return float(rec.similarity[i, j])


def test_sar_jaccard_and_lift_match_hand_values():
    jac = SARRecommender("jaccard").fit(TRAIN)
    assert _sim(jac, "a", "b") == pytest.approx(2 / (3 + 3 - 2))
    assert _sim(jac, "a", "c") == pytest.approx(1 / (3 + 2 - 1))
    assert _sim(jac, "a", "a") == 0.0  # self-similarity never recommended anyway
    lift = SARRecommender("lift").fit(TRAIN)
    assert _sim(lift, "a", "b") == pytest.approx(2 * 5 / (3 * 3))  # C_ab * N / (C_aa * C_bb)
    assert _sim(lift, "b", "c") == pytest.approx(1 * 5 / (3 * 2))


def test_cooccurrence_scores_sum_over_basket_items():
    rec = CooccurrenceRecommender().fit(TRAIN)
    assert rec.recommend(["a"], 3) == ["b", "c", "d"]  # 2, 1, then popularity fill
    assert rec.recommend(["a", "b"], 2) == ["c", "d"]  # c: C_ac + C_bc = 2
    assert rec.recommend(["c"], 2) == ["a", "b"]  # tie 1-1, equal popularity: by id
    assert rec.bundles(5) == [("a", "b")]  # only pair bought together 2+ times


def test_popularity_excludes_basket_and_unknown_items_are_ignored():
    rec = PopularityRecommender().fit(TRAIN)
    assert rec.recommend(["a"], 10) == ["b", "c", "d"]
    assert rec.recommend(["never-seen"], 2) == ["a", "b"]
    assert rec.bundles(2) == [("a", "b"), ("c", "d")]


def test_batch_equals_single_and_protocol_is_met():
    for rec in (
        PopularityRecommender(),
        CooccurrenceRecommender(),
        SARRecommender("jaccard"),
        SARRecommender("lift"),
    ):
        rec.fit(TRAIN)
        assert isinstance(rec, Recommender) and isinstance(rec, BundleSource)
        baskets = [["a"], ["b", "c"], ["d"], []]
        assert rec.recommend_batch(baskets, 2) == [rec.recommend(b, 2) for b in baskets]


def test_association_rules_recommender_uses_confidence_then_popularity():
    train = TRAIN * 3  # 15 baskets so every pair clears the 5-basket floor
    rec = AssociationRulesRecommender(min_support=0.1).fit(train)
    # rules a->b conf 2/3, a->c conf 1/3; d has no rules and comes from popularity
    assert rec.recommend(["a"], 3) == ["b", "c", "d"]
    assert rec.recommend(["a", "b"], 1) == ["c"]
    assert ("a", "b") in rec.bundles(10)
