"""Co-purchase and ranking measures, each formula defined once.

The definitions are written down in docs/design.md (sections Mining and Evaluation).

Co-purchase measures take basket counts: ``n_ab`` baskets holding both items, ``n_a`` and
``n_b`` baskets holding each, ``n_baskets`` in all. They work elementwise on numpy arrays, so
the miner, the candidate generators and the evaluation baselines share
them. Ranking measures take the 1-based rank of the one hidden item of each test case (0 when
it was not recommended): basket completion has exactly one relevant item per case.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["MISS", "hit_ranks", "hit_rate_at_k", "jaccard", "lift", "ndcg_at_k"]

MISS = 0  # rank value meaning "not recommended"


def lift(n_ab: np.ndarray, n_a: np.ndarray, n_b: np.ndarray, n_baskets: float) -> np.ndarray:
    """How much more often a and b are bought together than if independent:
    ``P(a, b) / (P(a) P(b)) = n_ab * N / (n_a * n_b)``."""
    return np.asarray(n_ab * n_baskets / (n_a * n_b))


def jaccard(n_ab: np.ndarray, n_a: np.ndarray, n_b: np.ndarray) -> np.ndarray:
    """Share of the baskets holding a or b that hold both: ``n_ab / (n_a + n_b - n_ab)``."""
    return np.asarray(n_ab / (n_a + n_b - n_ab))


def hit_ranks(recommended: Sequence[Sequence[object]], hidden: Sequence[object]) -> np.ndarray:
    """1-based rank of each case's hidden item in its recommendation list, ``MISS`` when absent.

    Lists may be ragged (a recommender can return fewer than K items); they are padded so the
    comparison is a single array operation.
    """
    n = len(hidden)
    if n != len(recommended):
        raise ValueError(f"{len(recommended)} recommendation lists for {n} hidden items")
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    width = max((len(r) for r in recommended), default=0)
    if width == 0:
        return np.zeros(n, dtype=np.int64)
    # object arrays keep string ids comparable without an encoding pass
    table = np.full((n, width), None, dtype=object)
    for i, recs in enumerate(recommended):
        if recs:
            table[i, : len(recs)] = list(recs)
    target = np.empty(n, dtype=object)
    target[:] = list(hidden)
    match = table == target[:, None]
    found = match.any(axis=1)
    return np.where(found, match.argmax(axis=1) + 1, MISS).astype(np.int64)


def hit_rate_at_k(ranks: np.ndarray, k: int) -> float:
    """HitRate@k: share of cases whose hidden item is among the first k recommendations."""
    ranks = np.asarray(ranks)
    if ranks.size == 0:
        return 0.0
    return float(np.mean((ranks > 0) & (ranks <= k)))


def ndcg_at_k(ranks: np.ndarray, k: int) -> float:
    """Mean NDCG@k with one relevant item: the ideal DCG is 1, so a case scores
    ``1 / log2(rank + 1)`` when its hidden item is ranked within k, else 0."""
    ranks = np.asarray(ranks, dtype=np.float64)
    if ranks.size == 0:
        return 0.0
    hit = (ranks > 0) & (ranks <= k)
    gains = np.zeros_like(ranks)
    gains[hit] = 1.0 / np.log2(ranks[hit] + 1.0)
    return float(gains.mean())
