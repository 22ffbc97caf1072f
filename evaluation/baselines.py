"""Simple, well-known baselines the bundle engine must beat.

- ``PopularityRecommender``: most-bought items not yet in the basket.
- ``CooccurrenceRecommender``: sum over basket items of co-purchase counts C_ij.
- ``SARRecommender``: Microsoft Recommenders' SAR item similarity on C = X.T @ X, either
  Jaccard C_ij / (C_ii + C_jj - C_ij) or lift C_ij / (C_ii * C_jj) (scaled by N, same ranking);
  a basket's score for item j is the sum of similarities from its items.
- ``AssociationRulesRecommender`` (evaluation.rules): mlxtend fpgrowth + association_rules.

All fall back to popularity when a basket's items have no co-purchases, so they differ only in
how they score co-purchase evidence.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Literal

import numpy as np
import scipy.sparse as sp

from bundling.measures import jaccard, lift
from bundling.mining import BasketMatrix
from bundling.recommend import top_k_per_row

from .split import Basket

CHUNK_ROWS = 512  # dense score rows materialised at once (512 x 33k floats = 135 MB worst case)


class MatrixRecommender:
    """Base for item-item scorers: score(basket) = basket_vector @ S, S an item x item matrix."""

    name = "matrix"

    def __init__(self) -> None:
        self.matrix = BasketMatrix.from_baskets([], sorted_items=True)
        self.popularity = np.zeros(0)
        self.similarity: sp.csr_matrix | None = None
        self.counts: sp.csr_matrix = sp.csr_matrix((0, 0))
        self.n_train = 0
        self.fit_seconds = 0.0

    def fit(self, train: Sequence[Basket]) -> MatrixRecommender:
        started = time.perf_counter()
        item_lists = [b.items for b in train]
        self.n_train = len(item_lists)
        # sorted item columns: ties between items are broken by id, whatever the basket order
        self.matrix = BasketMatrix.from_baskets(item_lists, sorted_items=True)
        x = self.matrix.X.astype(np.float64)
        c = (x.T @ x).tocsr()  # C_ij: baskets holding i and j; the diagonal is each item's count
        self.popularity = c.diagonal().astype(np.float64)
        self.counts = c
        self.similarity = self._similarity(c)
        self.fit_seconds = time.perf_counter() - started
        return self

    def _similarity(self, c: sp.csr_matrix) -> sp.csr_matrix | None:
        raise NotImplementedError

    def recommend(self, basket: Sequence[str], k: int) -> list[str]:
        return self.recommend_batch([basket], k)[0]

    def recommend_batch(self, baskets: Sequence[Sequence[str]], k: int) -> list[list[str]]:
        out: list[list[str]] = []
        items = self.matrix.items
        for start in range(0, len(baskets), CHUNK_ROWS):
            q = self.matrix.encode(baskets[start : start + CHUNK_ROWS])
            if self.similarity is None:
                scores = np.zeros(q.shape, dtype=np.float64)
            else:
                scores = (q @ self.similarity).toarray()
            top = top_k_rows(scores, self.popularity, q, k)
            out.extend([items[j] for j in row if j >= 0] for row in top)
        return out

    def bundles(self, n: int = 10, min_count: int = 2) -> list[tuple[str, ...]]:
        """Top-n item pairs by this method's similarity, among pairs bought together min_count+ times."""
        if self.similarity is None:
            return []
        c = self.counts
        s = sp.triu(self.similarity, k=1).tocoo()
        keep = np.asarray(c[s.row, s.col]).ravel() >= min_count if s.nnz else np.zeros(0, bool)
        rows, cols, vals = s.row[keep], s.col[keep], s.data[keep]
        order = np.lexsort((cols, rows, -vals))[:n]
        items = self.matrix.items
        return [(items[rows[i]], items[cols[i]]) for i in order]


class PopularityRecommender(MatrixRecommender):
    """Global popularity: the same list for everyone, minus what is already in the basket."""

    name = "popularity"

    def _similarity(self, c: sp.csr_matrix) -> None:
        return None

    def bundles(self, n: int = 10, min_count: int = 2) -> list[tuple[str, ...]]:
        """Pairs of consecutive best sellers: (1st, 2nd), (3rd, 4th), ..."""
        order = np.argsort(-self.popularity, kind="stable")[: 2 * n]
        names = [self.matrix.items[i] for i in order]
        return [tuple(names[i : i + 2]) for i in range(0, len(names) - 1, 2)]


class CooccurrenceRecommender(MatrixRecommender):
    """Raw co-purchase counts: favours items that are popular overall (no normalisation)."""

    name = "cooccurrence"

    def _similarity(self, c: sp.csr_matrix) -> sp.csr_matrix:
        s = c.copy()
        s.setdiag(0)
        s.eliminate_zeros()
        return s


class SARRecommender(MatrixRecommender):
    """SAR item similarity (Jaccard or lift) summed over the basket's items."""

    def __init__(self, similarity: Literal["jaccard", "lift"] = "jaccard") -> None:
        super().__init__()
        if similarity not in ("jaccard", "lift"):
            raise ValueError("similarity must be 'jaccard' or 'lift'")
        self.kind = similarity
        self.name = f"sar_{similarity}"

    def _similarity(self, c: sp.csr_matrix) -> sp.csr_matrix:
        off = c.copy()
        off.setdiag(0)
        off.eliminate_zeros()
        coo = off.tocoo()
        diag = c.diagonal().astype(np.float64)
        ci, cj, cij = diag[coo.row], diag[coo.col], coo.data
        if self.kind == "jaccard":
            vals = jaccard(cij, ci, cj)
        else:
            vals = lift(cij, ci, cj, max(self.n_train, 1))
        return sp.csr_matrix((vals, (coo.row, coo.col)), shape=c.shape)


def top_k_rows(
    scores: np.ndarray, popularity: np.ndarray, exclude: sp.csr_matrix, k: int
) -> np.ndarray:
    """Top-k column ids per row (-1 pads): positive scores first (descending), then the most
    popular items.

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
    top, valid = top_k_per_row(key, k)
    return np.where(valid, top, -1)


def default_baselines() -> list[MatrixRecommender]:
    return [
        PopularityRecommender(),
        CooccurrenceRecommender(),
        SARRecommender("jaccard"),
        SARRecommender("lift"),
    ]
