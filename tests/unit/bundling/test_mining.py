"""bundling.mining against brute force: pairs and triples (many frequent), blocked code paths."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bundling.mining as M
from bundling.mining import BasketMatrix, mine_itemsets

ITEMS = "abcdefghijkl"


def _brute(baskets: list[list[str]], ms: float, max_len: int) -> dict[frozenset[str], float]:
    sets = [set(b) for b in baskets]
    n = len(sets)
    out = {}
    universe = sorted(set().union(*sets)) if sets else []
    for k in range(1, max_len + 1):
        for c in itertools.combinations(universe, k):
            s = sum(1 for b in sets if set(c) <= b) / n
            if s >= ms and s > 0:
                out[frozenset(c)] = s
    return out


# Dense baskets over few items with low thresholds: most triples are frequent.
baskets_st = st.lists(st.lists(st.sampled_from(ITEMS), max_size=10), min_size=1, max_size=40)
support_st = st.sampled_from([0.01, 0.03, 0.05, 0.1, 0.15, 0.25, 0.4, 1.0])


@settings(max_examples=150, deadline=None)
@given(baskets_st, support_st)
def test_supports_equal_brute_force(baskets, ms):
    its = mine_itemsets(BasketMatrix.from_baskets(baskets), ms, max_len=3)
    assert its.supports() == _brute(baskets, ms, 3)
    # canonical layout: rows sorted within and lexicographically across
    for k, (idx, cnt) in enumerate(its.levels, start=1):
        assert idx.shape == (cnt.size, k) and idx.dtype == np.int32
        assert np.all(np.diff(idx, axis=1) > 0)
        assert [tuple(r) for r in idx.tolist()] == sorted(tuple(r) for r in idx.tolist())


@settings(max_examples=60, deadline=None)
@given(baskets_st, st.sampled_from([0.02, 0.05, 0.1, 0.2]))
def test_blocked_paths_equal_brute_force(baskets, ms):
    """Several pair-product column blocks and several basket blocks in the triple counter."""
    m = BasketMatrix.from_baskets(baskets)
    ref = mine_itemsets(m, ms, max_len=4)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(M, "_PAIR_BLOCK_COLS", 2)
        mp.setattr(M, "_TABLE_CELLS", 1)  # 64 baskets per block
        its = mine_itemsets(m, ms, max_len=4)
    assert its.supports() == _brute(baskets, ms, 4) == ref.supports()


@settings(max_examples=40, deadline=None)
@given(baskets_st, st.sampled_from([0.05, 0.1, 0.3]), st.integers(0, 2**31 - 1))
def test_weighted_pairs_match_unweighted(baskets, ms, seed):
    m = BasketMatrix.from_baskets(baskets)
    w = np.random.default_rng(seed).random(m.n_baskets)
    its = mine_itemsets(m, ms, max_len=3, weights=w)
    plain = mine_itemsets(m, ms, max_len=3)
    assert its.supports() == plain.supports()
    sets = [set(b) for b in baskets]
    for (a, b), ws in zip(its.items[its.pairs].tolist(), its.weighted["pairs"].tolist()):
        assert ws == pytest.approx(sum(wi for s, wi in zip(sets, w) if a in s and b in s))


@settings(max_examples=40, deadline=None)
@given(baskets_st, st.sampled_from([0.05, 0.1, 0.3]), st.integers(0, 2**31 - 1))
@pytest.mark.parametrize("block_cols", [128, 1, 2])
def test_weighted_pair_sums_add_in_basket_order(block_cols, baskets, ms, seed):
    """Each pair's weighted sum is the left-to-right sum over its baskets in basket order, to
    the last bit, with one or several column blocks of the pair product."""
    m = BasketMatrix.from_baskets(baskets)
    w = np.random.default_rng(seed).random(m.n_baskets) + 1e-3
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(M, "_PAIR_BLOCK_COLS", block_cols)
        its = mine_itemsets(m, ms, max_len=2, weights=w)
    sets = [set(b) for b in baskets]
    for (a, b), ws in zip(its.items[its.pairs].tolist(), its.weighted["pairs"].tolist()):
        acc = 0.0  # a plain loop: sum() compensates its rounding on Python >= 3.12
        for s, wi in zip(sets, w.tolist()):
            if a in s and b in s:
                acc += wi
        assert ws == acc


def test_many_baskets_and_items_random():
    """Larger random store (several basket blocks, more than 8 pair blocks) vs brute force."""
    rng = np.random.default_rng(7)
    pop = rng.dirichlet(np.full(40, 0.3))
    baskets = [
        [f"i{j}" for j in rng.choice(40, size=rng.integers(0, 12), p=pop)] for _ in range(3000)
    ]
    m = BasketMatrix.from_baskets(baskets)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(M, "_PAIR_BLOCK_COLS", 3)
        mp.setattr(M, "_TABLE_CELLS", 5000)
        its = mine_itemsets(m, 0.004, max_len=3)
    assert len(its.triples) > 100
    assert (
        its.supports() == _brute(baskets, 0.004, 3) == mine_itemsets(m, 0.004, max_len=3).supports()
    )


def test_no_triples_and_edge_cases():
    m = BasketMatrix.from_baskets([["a", "b"], ["b", "c"], ["a", "c"], []])
    its = mine_itemsets(m, 0.25, max_len=3)
    assert its.triples.shape == (0, 3) and its.triple_counts.shape == (0,)
    assert its.supports() == _brute([["a", "b"], ["b", "c"], ["a", "c"], []], 0.25, 3)
    empty = mine_itemsets(BasketMatrix.from_baskets([]), 0.5)
    assert len(empty) == 0


def test_popcount_fallback_without_bitwise_count(monkeypatch):
    rng = np.random.default_rng(3)
    baskets = [
        [f"i{j}" for j in rng.choice(15, size=rng.integers(0, 8), replace=False)]
        for _ in range(400)
    ]
    m = BasketMatrix.from_baskets(baskets)
    ref = mine_itemsets(m, 0.01, max_len=3).supports()
    monkeypatch.delattr(np, "bitwise_count", raising=False)
    assert mine_itemsets(m, 0.01, max_len=3).supports() == ref == _brute(baskets, 0.01, 3)
