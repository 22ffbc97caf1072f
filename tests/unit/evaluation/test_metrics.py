"""HitRate@K / NDCG@K against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bundling.measures import hit_ranks, hit_rate_at_k, ndcg_at_k
from evaluation.metrics import ranking_metrics


def test_hit_ranks_finds_one_based_position_or_zero():
    recs = [["a", "b", "c"], ["x", "y"], [], ["q", "h"]]
    hidden = ["c", "z", "a", "h"]
    assert hit_ranks(recs, hidden).tolist() == [3, 0, 0, 2]


def test_hand_computed_values():
    # ranks 1, 3, miss, 6 over four cases
    ranks = np.array([1, 3, 0, 6])
    assert hit_rate_at_k(ranks, 1) == pytest.approx(1 / 4)
    assert hit_rate_at_k(ranks, 5) == pytest.approx(2 / 4)
    assert hit_rate_at_k(ranks, 10) == pytest.approx(3 / 4)
    # NDCG@5 = (1/log2(2) + 1/log2(4) + 0 + 0) / 4 = (1 + 0.5) / 4
    assert ndcg_at_k(ranks, 5) == pytest.approx(1.5 / 4)
    # NDCG@10 adds 1/log2(7) for the rank-6 hit
    assert ndcg_at_k(ranks, 10) == pytest.approx((1 + 0.5 + 1 / math.log2(7)) / 4)


def test_ranking_metrics_keys_and_empty():
    out = ranking_metrics(np.array([2]), [5, 10])
    assert out == {
        "hit_rate@5": 1.0,
        "ndcg@5": pytest.approx(1 / math.log2(3)),
        "hit_rate@10": 1.0,
        "ndcg@10": pytest.approx(1 / math.log2(3)),
    }
    assert hit_rate_at_k(np.array([]), 5) == 0.0 and ndcg_at_k(np.array([]), 5) == 0.0


def test_ndcg_never_exceeds_hit_rate():
    ranks = np.random.default_rng(0).integers(0, 20, size=500)
    for k in (1, 5, 10):
        assert ndcg_at_k(ranks, k) <= hit_rate_at_k(ranks, k) + 1e-12


def test_mismatched_lengths_rejected():
    with pytest.raises(ValueError):
        hit_ranks([["a"]], ["a", "b"])
