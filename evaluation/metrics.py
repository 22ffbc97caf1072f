"""Ranking metrics for basket completion, vectorised over all test cases at once.

There is exactly one relevant (hidden) item per case, so with binary relevance the ideal DCG is 1
and NDCG@K reduces to ``1 / log2(rank + 1)`` when the hidden item is ranked within K, else 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MISS = 0  # rank value meaning "not recommended"


def hit_ranks(recommended: Sequence[Sequence[object]], hidden: Sequence[object]) -> np.ndarray:
    """1-based rank of each case's hidden item in its recommendation list, 0 when absent.

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
    """Share of cases whose hidden item is among the first k recommendations."""
    ranks = np.asarray(ranks)
    if ranks.size == 0:
        return 0.0
    return float(np.mean((ranks > 0) & (ranks <= k)))


def ndcg_at_k(ranks: np.ndarray, k: int) -> float:
    """Mean NDCG@k with one relevant item: 1/log2(rank+1) inside the top k, 0 otherwise."""
    ranks = np.asarray(ranks, dtype=np.float64)
    if ranks.size == 0:
        return 0.0
    hit = (ranks > 0) & (ranks <= k)
    gains = np.zeros_like(ranks)
    gains[hit] = 1.0 / np.log2(ranks[hit] + 1.0)
    return float(gains.mean())


def ranking_metrics(ranks: np.ndarray, ks: Sequence[int]) -> dict[str, float]:
    """HitRate@k and NDCG@k for every k, keyed like ``hit_rate@10``."""
    out: dict[str, float] = {}
    for k in ks:
        out[f"hit_rate@{k}"] = hit_rate_at_k(ranks, k)
        out[f"ndcg@{k}"] = ndcg_at_k(ranks, k)
    return out
