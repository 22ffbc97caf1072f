"""Sparse basket/item matrices shared by the baselines.

Why sparse: Online Retail has ~4,000 items and ~20,000 baskets and Olist ~33,000 items; the
item co-occurrence matrix C = X.T @ X is computed in one sparse product instead of counting
pairs in Python.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp


class ItemIndex:
    """Stable product id <-> column mapping (sorted ids, so results do not depend on input order)."""

    def __init__(self, items: Sequence[str]) -> None:
        self.items: list[str] = sorted(set(items))
        self.col: dict[str, int] = {item: i for i, item in enumerate(self.items)}

    def __len__(self) -> int:
        return len(self.items)

    @classmethod
    def from_baskets(cls, baskets: Sequence[Sequence[str]]) -> ItemIndex:
        return cls([item for b in baskets for item in b])


def basket_matrix(baskets: Sequence[Sequence[str]], index: ItemIndex) -> sp.csr_matrix:
    """Binary baskets x items CSR matrix; items unknown to the index are dropped."""
    indptr = [0]
    indices: list[int] = []
    col = index.col
    for basket in baskets:
        cols = {col[i] for i in basket if i in col}
        indices.extend(sorted(cols))
        indptr.append(len(indices))
    data = np.ones(len(indices), dtype=np.float64)
    return sp.csr_matrix(
        (data, np.asarray(indices, dtype=np.int64), np.asarray(indptr, dtype=np.int64)),
        shape=(len(baskets), len(index)),
    )


def cooccurrence(x: sp.csr_matrix) -> sp.csr_matrix:
    """C[i, j] = number of baskets holding both i and j; the diagonal is each item's count."""
    return (x.T @ x).tocsr()


def top_k_rows(
    scores: np.ndarray, popularity: np.ndarray, exclude: sp.csr_matrix, k: int
) -> np.ndarray:
    """Top-k column ids per row: positive scores first (descending), then the most popular items.

    Why the popularity fill: a basket whose items never co-occurred in training would otherwise
    get an arbitrary list; every method falls back to the same popularity order, which keeps the
    comparison about the scores. Items in ``exclude`` (the basket itself) are never returned.
    """
    n_rows, n_items = scores.shape
    k = min(k, n_items)
    if n_rows == 0 or k == 0:
        return np.zeros((n_rows, 0), dtype=np.int64)
    pop = (
        popularity / (popularity.max() + 1.0)
        if popularity.size and popularity.max() > 0
        else np.zeros(n_items)
    )
    key = np.where(scores > 0, 2.0 + scores + 1e-12 * pop, pop[None, :])
    rows, cols = exclude.nonzero()
    key[rows, cols] = -np.inf
    part = np.argpartition(-key, k - 1, axis=1)[:, :k]
    part_keys = np.take_along_axis(key, part, axis=1)
    order = np.lexsort((part, -part_keys), axis=1)  # ties by column id: deterministic
    top = np.take_along_axis(part, order, axis=1)
    valid = np.take_along_axis(key, top, axis=1) > -np.inf
    return np.where(valid, top, -1)
