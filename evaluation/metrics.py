"""Ranking metrics for basket completion, vectorised over all test cases at once.

The formulas (hit ranks, HitRate@K, NDCG@K) live in ``bundling.measures``, where the engine's
own alpha selection uses them too; this module names them per cut-off for the report.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bundling.measures import hit_rate_at_k, ndcg_at_k


def ranking_metrics(ranks: np.ndarray, ks: Sequence[int]) -> dict[str, float]:
    """HitRate@k and NDCG@k for every k, keyed like ``hit_rate@10``."""
    out: dict[str, float] = {}
    for k in ks:
        out[f"hit_rate@{k}"] = hit_rate_at_k(ranks, k)
        out[f"ndcg@{k}"] = ndcg_at_k(ranks, k)
    return out
