"""Basket completion: the engine's item-item model, shared by FBT candidates and evaluation.

Given a basket, score every item j by ``sum_{i in basket} S_ij`` with

    S_ij = (C_ij / (c_i^a * c_j^(1-a) + h))^q     (i != j; asymmetric cosine, shrinkage h,
                                                    locality q sharpening strong neighbours)

where ``C = X.T W X`` is the co-occurrence of the training baskets, each basket weighted by
``w_b = 0.5^(age_b / half_life) / |b|^p`` (SAR-style time decay, and a damping of wholesale
baskets whose many items add many weak pairs), and ``c_i = C_ii``. ``a`` between 0.5 (cosine,
symmetric) and 1 (confidence P(j | i), which favours popular j) trades relevance against
popularity. A small popularity prior ``pop_weight * pop_j / max(pop)`` (weighted basket counts,
optionally time-decayed) breaks ties and is the whole answer when no basket item was seen in training, so an
unseen basket falls back to the most popular items. Items already in the basket are never
recommended. Sparse stores (most Olist orders hold one item) add a two-hop backoff for baskets
whose one-hop list is shorter than k.

Computation: ``C`` is one sparse product, sorted and stripped of its diagonal in place; ``S``
takes C's layout, with ``c_i^a`` raised once per item; scores are ``Q @ S`` for a chunk of
baskets at once (against dense column blocks of S when the store is small enough), and the top
k is read off each row's k-th largest key, found among the entries above the k-th largest of
the rows' block maxima; chunks of baskets are scored on parallel threads. With a dense copy,
the keys are float32 (half the memory traffic) and only the items whose float32 key is too
close to another's to order them get their exact float64 key (``exact_keys``). The alpha
validation computes C once for its candidates and, without shrinkage, scores them all from one
float32 copy of ``C^q`` (S factors into ``C^q`` and per-item powers), reading only the hidden
item's rank from each row, exactly where a tie is possible. Every fast path gives the ranked
lists (and validation scores) of the plain float64 computation bit for bit
(tests/unit/bundling/test_recommend_fast_paths.py).

Hyper-parameters (``DEFAULTS``) were chosen on a validation split carved from the *training*
part only (the last 20% of the training orders of the 80/20 time split; never the test part), on
Online Retail (non-cancelled invoices) and Olist order items, by HitRate@10 then NDCG@10; see
``DEFAULTS`` for the values and the reason for each.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from itertools import pairwise
from typing import Any, TypeVar

import numpy as np
import scipy.sparse as sp
from scipy.sparse import _sparsetools

from .exact_keys import exact_keys, in_float32_range, key_bounds, key_interval
from .measures import MISS, hit_rate_at_k, ndcg_at_k
from .mining import BasketMatrix

__all__ = [
    "DEFAULTS",
    "ENGINE_ALPHA",
    "BasketModel",
    "BasketRecommender",
    "basket_weights",
    "fit_basket_model",
    "itemset_affinity",
    "pair_similarities",
]

# Chosen on the training-only validation split (module docstring). Validation HitRate@10 /
# NDCG@10, Online Retail (OR, 2,951 cases; best baseline SAR-Jaccard .207/.131) and Olist
# (OL, 559 cases; best baseline co-occurrence count .107/.090):
# * size_power 1 (each basket's pairs share weight 1/|b|): OR .188 -> .261 (p=0), .257 (p=1.5); the
#   single biggest win, wholesale invoices of 100+ lines otherwise swamp the similarity.
# * locality 2 (square S, sharpen strong neighbours): OR .264 -> .282; OL neutral (3 is worse).
# * alpha: OR prefers 0.6 (.282; .5 .270, .7 .23-.25 without locality), OL prefers 1.0 (NDCG
#   .090 vs .083 at 0.7: with co-counts of 1, a < 1 favours items seen once). Hence "auto": a
#   per-store choice in ALPHA_GRID on the store's own newest 20% (train data only), fallback 0.8.
# * two_hop 0.5, only for baskets whose one-hop list is shorter than k: OL .107 -> .113; OR
#   never needs it (and the full two-hop product is slow there).
# * half_life_days None: OR 180 days .280 vs .282 without; OL no gain; time decay stays available.
# * pop_half_life_days None: OL 7 days .098 vs .107; popularity over the whole history is better.
# * shrink 0: h=3 costs OR .02 (counts are small once divided by basket size).
# * pop_weight 1e-6: a pure tie-break/fallback; 1e-3 lost one OL case.
DEFAULTS: dict[str, float | str | None] = {
    "alpha": "auto",
    "shrink": 0.0,
    "half_life_days": None,
    "size_power": 1.0,
    "pop_weight": 1e-6,
    "pop_half_life_days": None,
    "two_hop": 0.5,
    "locality": 2.0,
}

ALPHA_GRID = (0.6, 0.8, 1.0)
ALPHA_FALLBACK = 0.8
AUTO_MIN_CASES = 100
AUTO_MAX_CASES = 2000
_CHUNK_CELLS = 4_000_000  # dense score cells materialised at once in recommend_batch
# Largest S kept as a dense copy for scoring (160 MB of float64): Online Retail's ~3,900 items
# fit, Olist's ~30,000 do not and are scored with the sparse product.
_DENSE_S_CELLS = 20_000_000
# Columns per dense block of S in the one-hop product: a chunk's slice of the result (about
# 1,000 rows x 128 x 8 bytes) stays in the core's cache while the items' slices stream past.
_BLOCK_COLUMNS = 128
_SIM_CHUNK_ENTRIES = 1 << 18  # entries of C turned into similarities at once (a few MB)
# Threads scoring chunks of baskets side by side: the sparse products and numpy's selection
# release the GIL, and every chunk is scored alone, so the lists do not depend on the count.
_SCORING_THREADS = max(1, min(4, os.cpu_count() or 1))

_T = TypeVar("_T")
_R = TypeVar("_R")


def _map_chunks(fn: Callable[[_T], _R], chunks: Iterable[_T]) -> list[_R]:
    """``[fn(c) for c in chunks]``, on up to ``_SCORING_THREADS`` threads when there are several."""
    todo = list(chunks)
    if len(todo) < 2 or _SCORING_THREADS < 2:
        return [fn(c) for c in todo]
    with ThreadPoolExecutor(min(_SCORING_THREADS, len(todo))) as pool:
        return list(pool.map(fn, todo))


def _number(name: str, given: float | None) -> float:
    """A numeric hyper-parameter: ``given``, else its ``DEFAULTS`` value."""
    value = DEFAULTS[name] if given is None else given
    if not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {value!r}")
    return float(value)


def _days(name: str, given: float | str | None) -> float | None:
    """A half-life in days: ``given``, or its ``DEFAULTS`` value for "default"; None: no decay."""
    value = DEFAULTS[name] if given == "default" else given
    return None if value is None else float(value)


def _aware_ts(t: datetime) -> float:
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()


def top_k_per_row(key: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column ids of the k largest ``key`` values per row, best first, ties by column id, and a
    mask of the entries that are real (``key > -inf``; excluded items are set to ``-inf``).

    Finds each row's k-th largest value; a row with exactly k entries at or above it has those
    as its top k, whichever selection finds them (then sorted). A row where a tie straddles
    position k keeps the argpartition's own choice of the tied items, as it always has.

    The k-th largest is looked for among few entries: the k-th largest of the rows' maxima over
    column blocks is at most the k-th largest of the row (k blocks each hold one at least as
    big), so only entries at or above it can be in the top k. One max and one comparison per
    entry instead of a partition of the whole row."""
    n_rows, n = key.shape
    if not 0 < k < n or n // _BLOCK_COLUMNS < 2 * k:
        return _top_k_by_partition(key, k)
    floor = _block_floor(key, k)
    rows, cols = np.nonzero(key >= floor[:, None])
    vals = key[rows, cols]
    order = np.lexsort((cols, -vals, rows))  # by row, then best first, ties by column id
    rows, cols, vals = rows[order], cols[order], vals[order]
    start = np.searchsorted(rows, np.arange(n_rows))  # every row has k candidates or more
    kth = vals[start + k - 1]
    exact = np.bincount(rows[vals >= kth[rows]], minlength=n_rows) == k
    first_k = start[:, None] + np.arange(k)
    top, valid = cols[first_k], vals[first_k] > -np.inf
    if not exact.all():
        top[~exact], valid[~exact] = _top_k_by_partition(key[~exact], k)
    return top, valid


def _block_floor(key: np.ndarray, k: int) -> np.ndarray:
    """Per row, the k-th largest of the maxima over column blocks of ``_BLOCK_COLUMNS``: at most
    the row's k-th largest value (k blocks each hold a value at least that big). Needs k blocks
    or more."""
    n_rows, n = key.shape
    n_blocks = n // _BLOCK_COLUMNS
    maxima = key[:, : n_blocks * _BLOCK_COLUMNS].reshape(n_rows, n_blocks, -1).max(axis=2)
    if n > n_blocks * _BLOCK_COLUMNS:
        tail = key[:, n_blocks * _BLOCK_COLUMNS :].max(axis=1, keepdims=True)
        maxima = np.concatenate([maxima, tail], axis=1)
    return np.partition(maxima, maxima.shape[1] - k, axis=1)[:, maxima.shape[1] - k]


def _top_k_by_partition(key: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``top_k_per_row`` on whole rows: the k-th largest by a partition of each row."""
    n = key.shape[1]
    if not 0 < k < n:
        return _sorted_survivors(key, np.argpartition(-key, k - 1, axis=1)[:, :k])
    at_least = key >= np.partition(key, n - k, axis=1)[:, n - k, None]
    exact = np.count_nonzero(at_least, axis=1) == k
    if exact.all():
        return _sorted_survivors(key, np.nonzero(at_least)[1].reshape(-1, k))
    top = np.empty((key.shape[0], k), np.intp)
    valid = np.empty((key.shape[0], k), bool)
    top[exact], valid[exact] = _sorted_survivors(
        key[exact], np.nonzero(at_least[exact])[1].reshape(-1, k)
    )
    tied = key[~exact]
    top[~exact], valid[~exact] = _sorted_survivors(
        tied, np.argpartition(-tied, k - 1, axis=1)[:, :k]
    )
    return top, valid


def _sorted_survivors(key: np.ndarray, part: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``part`` (k column ids per row) sorted by key, best first, ties by column id, and the mask
    of the real (``> -inf``) ones."""
    part_keys = np.take_along_axis(key, part, axis=1)
    order = np.lexsort((part, -part_keys), axis=1)  # ties by column id: deterministic
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(
        part_keys, order, axis=1
    ) > -np.inf


@dataclass(frozen=True)
class BasketModel:
    """Fitted item-item model. ``items`` are sorted ids; ``S`` is items x items CSR."""

    items: np.ndarray
    S: sp.csr_matrix
    popularity: np.ndarray  # (n_items,) weighted basket counts, the prior and the fallback
    counts: np.ndarray  # (n_items,) unweighted basket counts
    n_baskets: int
    pop_weight: float
    params: dict[str, Any]
    # memory the dense copy of S may fill instead of allocating its own (``_dense_blocks``): a
    # fit passes one buffer to its validation models and then to the model it returns
    dense_buffer: np.ndarray | None = field(default=None, repr=False, compare=False)
    # derived in __post_init__: the query encoder over ``items`` and the popularity prior
    _columns: BasketMatrix = field(init=False, repr=False, compare=False)
    _prior: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # frozen dataclass: derived fields are set once, through object.__setattr__
        no_baskets = sp.csr_matrix(np.zeros((0, self.items.size), np.int32))
        object.__setattr__(self, "_columns", BasketMatrix(no_baskets, self.items))
        top = float(self.popularity.max()) if self.popularity.size else 0.0
        prior = self.pop_weight * self.popularity / top if top > 0 else np.zeros(self.items.size)
        object.__setattr__(self, "_prior", prior)

    @property
    def n_items(self) -> int:
        return int(self.items.size)

    def index(self) -> dict[str, int]:
        return self._columns.column

    def query_matrix(self, baskets: Sequence[Sequence[str]]) -> sp.csr_matrix:
        """Binary baskets x items matrix of the known items of each basket."""
        return self._columns.encode(baskets)

    def scores(self, basket: Sequence[str]) -> np.ndarray:
        """Raw item scores (no prior, basket items included) aligned with ``items``."""
        return np.asarray((self.query_matrix([basket]) @ self.S).todense()).ravel()

    def recommend(self, basket: Sequence[str], k: int) -> list[str]:
        return self.recommend_batch([basket], k)[0]

    def recommend_batch(self, baskets: Sequence[Sequence[str]], k: int) -> list[list[str]]:
        """Top-k per basket: the keys of a chunk of rows at once, then each row's top k."""
        n = self.n_items
        k = min(k, n)
        if k <= 0 or not baskets:
            return [[] for _ in baskets]
        step = self.chunk_rows()
        screened = self._dense_S_blocks32 is not None and 0 < 2 * k <= n // _BLOCK_COLUMNS

        def chunk(s: int) -> tuple[np.ndarray, np.ndarray]:
            Q = self.query_matrix(baskets[s : s + step])
            if screened:
                return self._top_k_screened(Q, k)
            return top_k_per_row(self.ranking_keys(Q, k, dense=False), k)

        out: list[list[str]] = []
        for top, valid in _map_chunks(chunk, range(0, len(baskets), step)):
            for row, ok in zip(top, valid):
                out.append([str(self.items[j]) for j in row[ok]])
        return out

    def _top_k_screened(self, Q: sp.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``top_k_per_row(self.ranking_keys(Q, k), k)``, from float32 keys.

        The float32 keys (S's dense float32 copy) find, per row, every item that can be in the
        top k: the k-th largest block maximum is at most the row's k-th largest key, so with the
        error bound of float32 keys every item whose exact key reaches the exact k-th largest
        has a float32 key above a threshold derived from it. Those few items get their exact
        float64 key (``exact_keys``) and are ranked by it, exactly as the float64 row would
        rank them. Rows whose decision needs the whole exact row are ranked on it: a two-hop
        backoff (the one-hop list is short), a tie straddling position k, fewer than k items."""
        n, rows = self.n_items, Q.shape[0]
        sizes = np.diff(Q.indptr)
        blocks = self._dense_S_blocks32
        if blocks is None or not rows or not in_float32_range(self._s_range, terms=max(sizes)):
            return top_k_per_row(self.ranking_keys(Q, k, dense=False), k)
        approx = _blocks_product(sp.csc_matrix(Q, dtype=np.float32), blocks, n)
        redo = np.count_nonzero(approx, axis=1) < k + sizes  # the two-hop rows
        approx += self._prior.astype(np.float32)
        approx[np.repeat(np.arange(rows), sizes), Q.indices] = -np.inf
        floor = _block_floor(approx, k).astype(np.float64)
        redo |= floor == -np.inf
        # every entry the exact top k can hold is at or above the bound below the float32 k-th
        # largest, itself at or above the floor: entries at or above the floor's bound are
        # enough to find that k-th largest, then to keep those at or above its bound
        low, _ = key_bounds(floor, sizes)
        low[redo] = np.inf
        case, cols = np.nonzero(approx >= low[:, None])
        vals = approx[case, cols]
        order = np.lexsort((-vals, case))
        start = np.searchsorted(case[order], np.arange(rows))
        kept = np.flatnonzero(~redo)
        kth32 = np.zeros(rows)
        kth32[kept] = vals[order[start[kept] + k - 1]]
        lo, _ = key_bounds(kth32, sizes)
        near = vals >= lo[case]
        case, cols, approx_near = case[near], cols[near], vals[near].astype(np.float64)
        # an item whose interval of possible exact keys meets no other candidate's is ranked
        # by its float32 key; the others (ties, near ties) by their exact keys
        order = np.lexsort((-approx_near, case))
        case, cols, approx_near = case[order], cols[order], approx_near[order]
        x_lo, x_hi = key_interval(approx_near, sizes[case])
        overlap = (case[1:] == case[:-1]) & (x_lo[:-1] <= x_hi[1:])
        unsure = np.zeros(case.size, bool)
        unsure[:-1] |= overlap
        unsure[1:] |= overlap
        exact = approx_near
        exact[unsure] = exact_keys(self.S, Q, case[unsure], cols[unsure], self._prior)
        order = np.lexsort((cols, -exact, case))  # by row, then best first, ties by column id
        case, cols, exact = case[order], cols[order], exact[order]
        start = np.searchsorted(case, np.arange(rows))  # k candidates or more per kept row
        kth = np.full(rows, np.inf)
        kth[kept] = exact[start[kept] + k - 1]
        decided = np.bincount(case[exact >= kth[case]], minlength=rows) == k
        decided &= ~redo
        top = np.empty((rows, k), np.intp)
        valid = np.ones((rows, k), bool)  # every candidate is a real item
        top[decided] = cols[start[decided, None] + np.arange(k)]
        rest = np.flatnonzero(~decided)
        if rest.size:
            keys = self.ranking_keys(Q[rest], k, dense=False)
            top[rest], valid[rest] = top_k_per_row(keys, k)
        return top, valid

    @cached_property
    def _dense_S_blocks32(self) -> np.ndarray | None:
        """S in dense float32 column blocks, in the first half of ``dense_buffer`` when given,
        when it has at most ``_DENSE_S_CELLS`` cells, else None."""
        if self.n_items * self.n_items > _DENSE_S_CELLS:
            return None
        n = self.n_items
        shape = (-(-n // _BLOCK_COLUMNS), n, _BLOCK_COLUMNS)
        out = None
        shared = self.dense_buffer if "_dense_S_blocks" not in self.__dict__ else None
        if shared is not None and shared.nbytes >= 4 * np.prod(shape):
            out = shared.reshape(-1).view(np.float32)[: np.prod(shape)].reshape(shape)
        return _dense_blocks(self.S, out if out is not None else np.empty(shape, np.float32))

    @cached_property
    def _s_range(self) -> np.ndarray:
        """S's smallest and largest entry (the float32 keys' range check)."""
        return np.array([self.S.data.min(), self.S.data.max()]) if self.S.nnz else np.zeros(0)

    def _one_hop(self, Q: sp.csr_matrix, dense: bool = True) -> np.ndarray:
        """``Q @ S`` as a dense block. Each entry is the sum of the basket items' entries of S,
        added in the order of the items' columns whichever way it is computed, so every way
        gives the same numbers: against dense column blocks of S when S is small enough (a
        sparse product whose result is nearly dense spends its time on bookkeeping) and
        ``dense``, else the sparse product (for a few rows, not worth a dense copy of S).

        With S in column blocks and the baskets by item (CSC), each item's slice of a block is
        read once per chunk and added to every basket holding it, while the chunk's slice of
        the result stays in cache: about twice as fast as summing whole rows of S per basket."""
        blocks = self._dense_S_blocks if dense else None
        if blocks is None:
            return np.asarray((Q @ self.S).toarray())
        return _blocks_product(sp.csc_matrix(Q, dtype=np.float64), blocks, self.n_items)

    @cached_property
    def _dense_S_blocks(self) -> np.ndarray | None:
        """S in dense column blocks (``_dense_blocks``) when it has at most ``_DENSE_S_CELLS``
        cells, else None."""
        if self.n_items * self.n_items > _DENSE_S_CELLS:
            return None
        # not in the buffer the float32 copy already fills
        shared = self.dense_buffer if "_dense_S_blocks32" not in self.__dict__ else None
        return _dense_blocks(self.S, shared)

    def chunk_rows(self) -> int:
        """Query rows scored at once: a dense rows x items block of about ``_CHUNK_CELLS``."""
        return max(1, _CHUNK_CELLS // max(self.n_items, 1))

    def ranking_keys(self, Q: sp.csr_matrix, k: int, dense: bool = True) -> np.ndarray:
        """Dense ranking key of every item for each basket row of ``Q`` (binary, over ``items``):
        ``key_j = sum_{i in basket} S_ij + prior_j``, plus the two-hop backoff for rows whose
        one-hop list is shorter than k, and ``-inf`` on the basket's own items."""
        key = self._one_hop(Q, dense)
        two_hop = float(self.params.get("two_hop") or 0.0)
        if two_hop:
            # two-hop backoff only where one hop cannot fill the list (sparse stores): the
            # items co-bought with the basket's co-bought items. Their one hop is taken again
            # as a sparse product, whose entry order is the order of the second sum.
            thin = np.flatnonzero(np.count_nonzero(key, axis=1) < k + np.diff(Q.indptr))
            if thin.size:
                key[thin] += two_hop * ((Q[thin] @ self.S) @ self.S).toarray()
        key += self._prior
        in_basket_rows, in_basket_cols = Q.nonzero()
        key[in_basket_rows, in_basket_cols] = -np.inf
        return key


def _blocks_product(by_item: sp.csc_matrix, blocks: np.ndarray, n: int) -> np.ndarray:
    """``by_item @ S`` (n columns) against S's dense column blocks, in their dtype."""
    key = np.empty((by_item.shape[0], n), blocks.dtype)
    for b, block in enumerate(blocks):
        start = b * _BLOCK_COLUMNS
        width = min(_BLOCK_COLUMNS, n - start)
        key[:, start : start + width] = (by_item @ block)[:, :width]
    return key


def _dense_blocks(S: sp.csr_matrix, out: np.ndarray | None = None) -> np.ndarray:
    """S as dense blocks of ``_BLOCK_COLUMNS`` columns, ``(n_blocks, n_rows, _BLOCK_COLUMNS)``
    (block b holds columns ``b * _BLOCK_COLUMNS`` on, the last one zero-padded), in ``out`` when
    its shape fits (in its dtype: a float32 ``out`` holds S rounded to float32). Filled a few
    rows at a time: there is never a whole second dense copy."""
    n_rows, n_cols = S.shape
    n_blocks = -(-n_cols // _BLOCK_COLUMNS)
    shape = (n_blocks, n_rows, _BLOCK_COLUMNS)
    blocks = out if out is not None and out.shape == shape else np.empty(shape)
    full = n_cols // _BLOCK_COLUMNS  # blocks without padding
    step = max(1, _CHUNK_CELLS // 4 // max(n_cols, 1))

    def fill(rows: range) -> None:
        """Rows ``rows`` of every block, a few at a time through one staging array."""
        staging = np.empty((min(step, len(rows)), n_cols))
        for r0 in range(rows.start, rows.stop, step):
            r1 = min(rows.stop, r0 + step)
            lo, hi = S.indptr[r0], S.indptr[r1]
            chunk = sp.csr_matrix(
                (S.data[lo:hi], S.indices[lo:hi], S.indptr[r0 : r1 + 1] - lo),
                shape=(r1 - r0, n_cols),
            )
            part = staging[: r1 - r0]
            part.fill(0.0)
            chunk.toarray(out=part)
            by_block = part[:, : full * _BLOCK_COLUMNS].reshape(r1 - r0, full, _BLOCK_COLUMNS)
            blocks[:full, r0:r1] = by_block.transpose(1, 0, 2)
            if full < n_blocks:
                tail = n_cols - full * _BLOCK_COLUMNS
                blocks[full, r0:r1, :tail] = part[:, full * _BLOCK_COLUMNS :]
                blocks[full, r0:r1, tail:] = 0.0

    _map_chunks(fill, _row_ranges(S.indptr, _SCORING_THREADS))
    return blocks


def _row_ranges(indptr: np.ndarray, parts: int) -> list[range]:
    """Up to ``parts`` consecutive ranges of rows holding about as many entries each."""
    n_rows = indptr.size - 1
    cuts = np.searchsorted(indptr, np.linspace(0, indptr[-1], parts + 1)[1:-1])
    bounds = [0, *sorted({int(c) for c in cuts if 0 < c < n_rows}), n_rows]
    return [range(a, b) for a, b in pairwise(bounds) if b > a]


def _dense_buffer(n_items: int) -> np.ndarray | None:
    """Uninitialised memory for ``_dense_blocks`` of an n_items x n_items S, or None when S is
    too big to be scored dense."""
    if n_items * n_items > _DENSE_S_CELLS:
        return None
    return np.empty((-(-n_items // _BLOCK_COLUMNS), n_items, _BLOCK_COLUMNS))


def _spare_half(buffer: np.ndarray | None, count: int) -> np.ndarray | None:
    """``count`` float64 cells of the second half of a ``_dense_buffer`` (whose first half is
    enough for S's dense copy in float32), or None when there is no buffer or too few cells.
    Memory the fit touches anyway: fresh memory is slow to come by on a busy machine."""
    if buffer is None:
        return None
    flat = buffer.reshape(-1)
    tail = flat[(flat.size + 1) // 2 :]
    return tail[:count] if tail.size >= count else None


def _from_orders(orders: Sequence[Any]) -> tuple[BasketMatrix, np.ndarray | None]:
    """Basket matrix (sorted item columns) and per-basket timestamps from OrderEvents or
    ``(items, created_at)``-like objects (e.g. ``evaluation.split.Basket``); rows in input order."""
    item_lists = [
        [ln.product_id for ln in o.lines] if hasattr(o, "lines") else o.items for o in orders
    ]
    times = [getattr(o, "created_at", None) for o in orders]
    has_t = bool(orders) and all(t is not None for t in times)
    ts = np.array([_aware_ts(t) for t in times if t is not None]) if has_t else None
    if not any(item_lists):
        no_items = sp.csr_matrix(np.zeros((len(orders), 0), np.int32))
        return BasketMatrix(no_items, np.empty(0, object)), None
    return BasketMatrix.from_baskets(item_lists, sorted_items=True), ts


def _weights(
    X: sp.csr_matrix, ts: np.ndarray | None, half_life: float | None, size_power: float
) -> np.ndarray:
    """``w_b = 0.5^(age_b / half_life) / |b|^size_power`` per basket (row of X)."""
    w = np.ones(X.shape[0])
    if half_life and ts is not None and X.shape[0]:
        w *= np.power(0.5, (np.max(ts) - np.asarray(ts, float)) / 86400.0 / float(half_life))
    if size_power:
        w /= np.power(np.maximum(np.diff(X.indptr).astype(float), 1.0), size_power)
    return w


def _cooccurrence(X: sp.csr_matrix, w: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """Off-diagonal weighted co-occurrence ``C = X.T W X`` (CSR, sorted indices) and the weighted
    item counts (its diagonal). Each entry is the sum of ``w_b`` over the baskets holding both
    items, added in basket order; zero sums are dropped.

    Built in blocks of rows on threads. A sparse product leaves each row's entries unordered,
    and sorting millions of them cost more than the product, so each block ``C[a:b]`` is
    computed transposed, as ``(W X).T @ X[:, a:b]``, and transposed back, straight into its
    place in C: a linear counting pass that leaves every row sorted, and the only copy of the
    entries. Every entry is still ``w_b * 1`` products added in basket order (the rows of
    ``(W X).T`` list their baskets in order), so the sums match ``X.T @ (W X)`` bit for bit.
    Blocks hold about the same work (item j's column costs the sizes of the baskets holding
    it)."""
    n = X.shape[1]
    WXT = sp.csr_matrix(sp.diags(w) @ X).T.tocsr()
    by_item = X.tocsc()
    by_item.sort_indices()
    work = np.cumsum(by_item.T @ np.diff(X.indptr).astype(np.float64))
    parts = 2 * _SCORING_THREADS if n >= 4 * _SCORING_THREADS else 1
    cuts = np.searchsorted(work, work[-1] * np.arange(1, parts) / parts) if n else []
    bounds = [0, *sorted({int(c) for c in cuts if 0 < c < n}), n]
    spans = list(pairwise(bounds))
    products = _map_chunks(lambda span: WXT @ by_item[:, span[0] : span[1]].tocsr(), spans)
    starts = np.cumsum([0, *(product.nnz for product in products)])
    dtype = np.int32 if max(starts[-1], n) < np.iinfo(np.int32).max else np.int64
    data = np.empty(starts[-1])
    indices: np.ndarray = np.empty(starts[-1], dtype)
    indptr: np.ndarray = np.zeros(n + 1, dtype)

    def transpose_into(k: int) -> None:
        (a, b), product, lo = spans[k], products[k], starts[k]
        block_indptr: np.ndarray = np.empty(b - a + 1, dtype)
        _sparsetools.csr_tocsc(
            product.shape[0],
            product.shape[1],
            product.indptr.astype(dtype, copy=False),
            product.indices.astype(dtype, copy=False),
            product.data,
            block_indptr,
            indices[lo : starts[k + 1]],
            data[lo : starts[k + 1]],
        )
        indptr[a + 1 : b + 1] = block_indptr[1:] + lo

    _map_chunks(transpose_into, range(len(spans)))
    products.clear()  # the unordered blocks, no longer needed
    C: sp.csr_matrix = sp.csr_matrix((data, indices, indptr), shape=(n, n), copy=False)
    C.has_sorted_indices = True
    return C, _take_diagonal(C)


def _take_diagonal(C: sp.csr_matrix) -> np.ndarray:
    """The diagonal of a square product (sorted rows, no stored zeros: a sparse product keeps
    none), removed from it in place: C is the largest array of a fit, and fresh memory is slow
    to come by on a busy host."""
    rows = np.arange(C.shape[0])
    if not rows.size:
        return np.zeros(0)
    diagonal = np.asarray(C[rows, rows]).ravel()  # 0 where a row has none
    held = np.flatnonzero(diagonal)
    if held.size:
        C[held, held] = 0.0  # stored entries: overwritten where they are
        C.eliminate_zeros()
        C.has_sorted_indices = True
    return diagonal


def _sim_in_place(c: np.ndarray, v: np.ndarray, h: float, q: float) -> np.ndarray:
    """``(c / (v + h))^q`` elementwise into ``v``, 0 where the denominator is 0: the similarity
    once ``v`` holds ``c_i^a * c_j^(1-a)``."""
    if h:
        v += h
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(c, v, out=v)
    if not np.isfinite(v).all():
        np.nan_to_num(v, copy=False, nan=0.0, posinf=0.0)
    if q != 1.0:
        np.power(v, q, out=v)
    return v


def _sim_values(
    c: np.ndarray, pop_i: np.ndarray, pop_j: np.ndarray, a: float, h: float, q: float
) -> np.ndarray:
    """The similarity formula on parallel arrays: (c / (c_i^a c_j^(1-a) + h))^q."""
    return _sim_in_place(c, np.power(pop_i, a) * np.power(pop_j, 1.0 - a), h, q)


def _similarity(
    C: sp.csr_matrix,
    pop: np.ndarray,
    a: float,
    h: float,
    q: float,
    out: np.ndarray | None = None,
) -> sp.csr_matrix:
    """S_ij = (C_ij / (c_i^a c_j^(1-a) + h))^q on the stored entries of C (CSR), same layout;
    its values in ``out`` (one float per entry of C) when given, which may be ``C.data`` itself
    (C is then spent: the final fit has no other use for it).

    ``c_i^a`` and ``c_j^(1-a)`` are raised once per item and gathered per entry: the same
    numbers as raising them per entry (a product of two floats does not depend on their
    order), without two powers per pair. A few rows at a time, so the temporaries stay small
    and in cache; each entry goes through the same operations either way."""
    v = np.empty(C.nnz) if out is None else out
    left, right = np.power(pop, a), np.power(pop, 1.0 - a)
    per_row = np.diff(C.indptr)
    step = max(1, _SIM_CHUNK_ENTRIES * per_row.size // max(C.nnz, 1))

    def rows(r0: int) -> None:
        r1 = min(per_row.size, r0 + step)
        lo, hi = C.indptr[r0], C.indptr[r1]
        part = np.take(right, C.indices[lo:hi])  # c_j^(1-a), for each entry
        part *= np.repeat(left[r0:r1], per_row[r0:r1])  # times c_i^a, for each entry of row i
        v[lo:hi] = _sim_in_place(C.data[lo:hi], part, h, q)

    _map_chunks(rows, range(0, per_row.size, step))
    if v.all():  # no entry underflowed to 0: S shares C's index arrays, which nothing changes
        return sp.csr_matrix((v, C.indices, C.indptr), shape=C.shape)
    S = sp.csr_matrix((v, C.indices.copy(), C.indptr.copy()), shape=C.shape)
    S.eliminate_zeros()
    return S


def _hidden_ranks(key: np.ndarray, hidden: np.ndarray, k: int) -> np.ndarray:
    """1-based rank of each row's ``hidden`` column in ``top_k_per_row(key, k)`` (``MISS`` when
    outside it), without building the lists.

    The top k is sorted by key, ties by column id, so the hidden item's rank is
    ``1 + #(key > key_h) + #(key == key_h, column < h)`` whenever every item tied with it fits
    in the k, and a miss when k items beat it outright. Which tied items an argpartition keeps
    when a tie straddles position k is its own choice, so those rare rows are ranked by
    ``top_k_per_row`` itself."""
    case = np.arange(hidden.size)
    h_key = key[case, hidden][:, None]
    above = np.count_nonzero(key > h_key, axis=1)
    ties = key == h_key
    tied = np.count_nonzero(ties, axis=1)  # the hidden item included
    tied_before = np.count_nonzero(ties & (np.arange(key.shape[1]) < hidden[:, None]), axis=1)
    ranks = np.where(above + tied <= k, 1 + above + tied_before, MISS)
    straddling = np.flatnonzero((above < k) & (above + tied > k))
    if straddling.size:
        top, valid = top_k_per_row(key[straddling], k)
        found = (top == hidden[straddling, None]) & valid
        ranks[straddling] = np.where(found.any(axis=1), found.argmax(axis=1) + 1, MISS)
    return np.asarray(ranks, dtype=np.int64)


def _holdout_cases(X: sp.csr_matrix, rows: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray] | None:
    """The hide-one cases of ``rows`` of X with 2+ items: the given items (one row per case,
    columns sorted) and the hidden column of each (one item per row by a fixed hash, so the
    choice does not depend on the candidate model); None when there is no case."""
    sizes = np.diff(X.indptr)[rows]
    rows = rows[sizes >= 2]
    if not rows.size:
        return None
    cases = X[rows]  # one row per case, columns sorted
    hidden_at = cases.indptr[:-1] + (rows.astype(np.int64) * 2654435761) % sizes[sizes >= 2]
    hidden = cases.indices[hidden_at].astype(np.int64)
    given_entries = np.ones(cases.nnz, bool)
    given_entries[hidden_at] = False
    given = sp.csr_matrix(
        (
            np.ones(cases.nnz - rows.size, np.int32),
            cases.indices[given_entries],
            cases.indptr - np.arange(rows.size + 1),  # each row loses its hidden item
        ),
        shape=cases.shape,
    )
    return given, hidden


def _holdout_score(model: BasketModel, X: sp.csr_matrix, rows: np.ndarray, k: int = 10) -> float:
    """HitRate@k + NDCG@k of hide-one completion on ``rows`` of X (``_holdout_cases``).

    The same figures as ranking ``model.recommend_batch`` lists, computed on column ids: only
    the hidden item's rank is read from each row's keys."""
    held = _holdout_cases(X, rows)
    if held is None:
        return 0.0
    given, hidden = held
    k = min(k, model.n_items)
    step = model.chunk_rows()
    _ = model._dense_S_blocks  # built once, before the threads share it

    def chunk(s: int) -> np.ndarray:
        return _hidden_ranks(model.ranking_keys(given[s : s + step], k), hidden[s : s + step], k)

    ranks = np.concatenate(_map_chunks(chunk, range(0, given.shape[0], step)))
    return hit_rate_at_k(ranks, k) + ndcg_at_k(ranks, k)


class _SimilarityAt:
    """Entries of S = (C_ij / (c_i^a c_j^(1-a)))^q (no shrinkage) computed where they are read,
    with the operations ``_similarity`` applies to every entry, so the same numbers bit for bit:
    the alpha search reads a few entries of each candidate's S, not all of them."""

    def __init__(self, C: sp.csr_matrix, pop: np.ndarray, a: float, q: float) -> None:
        self.C, self.q = C, q
        self.left, self.right = np.power(pop, a), np.power(pop, 1.0 - a)  # as _similarity

    def values(self, rows: np.ndarray, cols: np.ndarray, stored: np.ndarray) -> np.ndarray:
        """S's entries at (rows, cols) from C's ``stored`` there (an absent 0 stays 0)."""
        return _sim_in_place(stored, self.right[cols] * self.left[rows], 0.0, self.q)

    def keeps_every_entry(self, c_range: tuple[float, float]) -> bool:
        """Whether every stored entry of C gives a positive, finite, normal S entry (the S
        ``_similarity`` builds then has C's entries, none dropped), proven on the extremes with
        a wide margin. C is symmetric, so its rows with entries are its columns with entries."""
        used = np.diff(self.C.indptr) > 0
        if not used.any():
            return False
        left, right = self.left[used], self.right[used]
        if not (np.isfinite(left).all() and np.isfinite(right).all()):
            return False
        if left.min() <= 0 or right.min() <= 0 or c_range[0] <= 0:
            return False
        limit = 900 * np.log(2.0)  # float64 is normal from 2^-1022 to 2^1024
        log_l, log_r = np.log(left), np.log(right)
        v_lo, v_hi = log_l.min() + log_r.min(), log_l.max() + log_r.max()
        r_lo, r_hi = np.log(c_range[0]) - v_hi, np.log(c_range[1]) - v_lo
        extremes = np.array([v_lo, v_hi, r_lo, r_hi, self.q * r_lo, self.q * r_hi])
        return bool(np.all(np.abs(extremes) < limit))

    def rows_for(self, Q: sp.csr_matrix) -> sp.csr_matrix:
        """S with only the rows ``Q @ S`` and its two-hop product read filled: the baskets' items
        and their neighbours (the neighbours' neighbours are the second hop's columns)."""
        C = self.C
        items = np.unique(Q.indices)
        neighbours = C.indices[_spans(C.indptr[items], np.diff(C.indptr)[items])]
        rows = np.union1d(items, neighbours).astype(np.int64)
        lengths = np.diff(C.indptr)[rows]
        at = _spans(C.indptr[rows], lengths)
        cols = C.indices[at]
        values = self.values(np.repeat(rows, lengths), cols, C.data[at])
        indptr = np.zeros(C.shape[0] + 1, np.int64)
        indptr[rows + 1] = lengths
        S = sp.csr_matrix((values, cols, np.cumsum(indptr)), shape=C.shape)
        S.has_sorted_indices = True
        if not values.all():
            S.eliminate_zeros()
        return S


def _spans(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The positions ``start .. start + length - 1`` of every span, concatenated."""
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(np.asarray(starts, np.int64) - offsets, lengths) + np.arange(lengths.sum())


class _AlphaScreen:
    """The alpha search's holdout scores for every candidate from one float32 copy of C.

    With no shrinkage, ``S_ij = C_ij^q * c_i^(-aq) * c_j^(-(1-a)q)``: one dense float32 copy of
    ``C^q`` serves every alpha (the basket's items weighted by ``c_i^(-aq)``, the result's
    columns by ``c_j^(-(1-a)q)``), instead of a dense float64 copy of S per alpha. Those keys
    are approximate; the hidden item's exact key, and the exact key of every item whose float32
    key is within its error bound of it, come from S's own entries (``exact_keys``), so each
    rank is the one ``_holdout_score`` reads, bit for bit. Rows where the decision needs the
    whole exact row (a two-hop backoff, a tie straddling position k) are scored exactly."""

    def __init__(
        self,
        C: sp.csr_matrix,
        pop: np.ndarray,
        q: float,
        given: sp.csr_matrix,
        hidden: np.ndarray,
        buffer: np.ndarray,
        scratch: np.ndarray,
    ) -> None:
        """``buffer``: the fit's dense float64 buffer (its first half holds C^q in float32);
        ``scratch``: one float per entry of C, overwritten (the S values buffer), which may be
        the buffer's second half."""
        n = C.shape[0]
        self.C, self.pop, self.q, self.given, self.hidden = C, pop, q, given, hidden
        n_blocks = -(-n // _BLOCK_COLUMNS)
        cells = n_blocks * n * _BLOCK_COLUMNS
        g_blocks = buffer.reshape(-1).view(np.float32)[:cells].reshape(n_blocks, n, _BLOCK_COLUMNS)
        self.c_range = (float(C.data.min()), float(C.data.max())) if C.nnz else (0.0, 0.0)
        powered = np.power(C.data, q, out=scratch)
        self.g_range = np.array([powered.min(), powered.max()]) if powered.size else powered
        G = sp.csr_matrix((powered, C.indices, C.indptr), shape=C.shape)
        self.blocks = _dense_blocks(G, g_blocks)

    @staticmethod
    def applies(C: sp.csr_matrix, h: float, q: float) -> bool:
        """No shrinkage (the formula factors), a non-empty C."""
        return not h and q > 0 and C.nnz > 0

    def score(
        self, a: float, model_of: Callable[[sp.csr_matrix], BasketModel], k: int = 10
    ) -> float | None:
        """``_holdout_score`` of the model of alpha ``a`` on this C, or None when float32 cannot
        bound its keys or some entry of its S could underflow or overflow (the caller then
        scores the whole S). ``model_of(S)``: that model, on a given S.

        S itself is never built: the exact keys turn the few entries of C they read into S's
        (``_SimilarityAt``), and the rows ranked on the whole exact row need only their items'
        rows of S and, for a two-hop backoff, their neighbours' rows."""
        pop, q = self.pop, self.q
        at = _SimilarityAt(self.C, pop, a, q)
        if not at.keeps_every_entry(self.c_range):
            return None
        seen = pop > 0
        left = np.zeros(pop.size)
        right = np.zeros(pop.size)
        left[seen] = np.power(pop[seen], -a * q)
        right[seen] = np.power(pop[seen], -(1.0 - a) * q)
        longest = int(np.diff(self.given.indptr).max())
        if not in_float32_range(left, self.g_range, right, terms=longest):
            return None
        model = model_of(sp.csr_matrix(self.C.shape))  # its prior, size and chunking, no S
        k = min(k, model.n_items)
        n = model.n_items
        left32, right32 = left.astype(np.float32), right.astype(np.float32)
        prior, prior32 = model._prior, model._prior.astype(np.float32)
        given, hidden = self.given, self.hidden
        step = model.chunk_rows()
        C, values = self.C, at.values

        def chunk(s: int) -> tuple[np.ndarray, np.ndarray]:
            """Ranks of the chunk's cases, and the cases (chunk positions) to rank exactly."""
            Q = given[s : s + step]
            hid = hidden[s : s + step]
            rows = Q.shape[0]
            sizes = np.diff(Q.indptr)
            weighted = sp.csr_matrix((left32[Q.indices], Q.indices, Q.indptr), shape=Q.shape)
            approx = _blocks_product(weighted.tocsc(), self.blocks, n)
            approx *= right32
            # the one-hop list's length: the float32 keys are 0 exactly where S's sums are
            thin = np.count_nonzero(approx, axis=1) < k + sizes
            approx += prior32
            approx[np.repeat(np.arange(rows), sizes), Q.indices] = -np.inf
            # first from the interval the hidden item's exact key lies in: items surely above
            # it, surely below it, and those that may tie with it
            h_lo, h_hi = key_interval(approx[np.arange(rows), hid].astype(np.float64), sizes)
            lo, _ = key_bounds(h_lo, sizes)
            _, hi = key_bounds(h_hi, sizes)
            above = np.count_nonzero(approx > hi[:, None], axis=1)
            open_rows = np.flatnonzero((above < k) & ~thin)
            near = approx[open_rows]
            unsure = (near >= lo[open_rows, None]) & (near <= hi[open_rows, None])
            tied = np.ones(rows, np.int64)  # alone in its interval: only itself
            tied_before = np.zeros(rows, np.int64)
            # rows where another item may tie: the hidden item's exact key, and that of every
            # item within its bounds
            open_rows = open_rows[np.count_nonzero(unsure, axis=1) > 1]
            h_key = exact_keys(C, Q, open_rows, hid[open_rows], prior, values)
            lo, hi = key_bounds(h_key, sizes[open_rows])
            near = approx[open_rows]
            above[open_rows] = np.count_nonzero(near > hi[:, None], axis=1)
            band_row, band_col = np.nonzero((near >= lo[:, None]) & (near <= hi[:, None]))
            band_case = open_rows[band_row]
            exact = exact_keys(C, Q, band_case, band_col, prior, values)
            h_band = h_key[band_row]
            above += np.bincount(band_case[exact > h_band], minlength=rows)
            tie = exact == h_band
            tied[open_rows] = 0
            tied += np.bincount(band_case[tie], minlength=rows)  # the hidden item included
            tied_before += np.bincount(band_case[tie & (band_col < hid[band_case])], minlength=rows)
            ranks = np.where(above + tied <= k, 1 + above + tied_before, MISS)
            ranks[above >= k] = MISS
            straddling = (above < k) & (above + tied > k)
            return np.asarray(ranks, dtype=np.int64), np.flatnonzero(thin | straddling) + s

        parts = _map_chunks(chunk, range(0, given.shape[0], step))
        ranks = np.concatenate([r for r, _ in parts])
        redo = np.concatenate([e for _, e in parts])
        if redo.size:
            Q = given[redo]
            keys = model_of(at.rows_for(Q)).ranking_keys(Q, k, dense=False)
            ranks[redo] = _hidden_ranks(keys, hidden[redo], k)
        return hit_rate_at_k(ranks, k) + ndcg_at_k(ranks, k)


def fit_basket_model(
    orders: Sequence[Any] | BasketMatrix,
    *,
    timestamps: np.ndarray | None = None,
    alpha: float | str | None = None,
    shrink: float | None = None,
    half_life_days: float | str | None = "default",
    size_power: float | None = None,
    pop_weight: float | None = None,
    pop_half_life_days: float | str | None = "default",
    two_hop: float | None = None,
    locality: float | None = None,
) -> BasketModel:
    """Fit the item-item model on ``orders`` (OrderEvents, evaluation Baskets or a BasketMatrix).

    Time decay needs timestamps: taken from the orders, or ``timestamps`` (seconds, one per row)
    for a BasketMatrix; without them every basket weighs the same. ``alpha='auto'`` (default)
    picks alpha from ``ALPHA_GRID`` on this store's own data: fit on the older 80% of the
    baskets, score hide-one completion on the newest 20%, keep the best (ties: the first), refit
    on everything. Too few validation baskets (< ``AUTO_MIN_CASES``) keep ``ALPHA_FALLBACK``.
    """
    a_arg = DEFAULTS["alpha"] if alpha is None else alpha
    h = _number("shrink", shrink)
    hl = _days("half_life_days", half_life_days)
    p = _number("size_power", size_power)
    pw = _number("pop_weight", pop_weight)
    phl = _days("pop_half_life_days", pop_half_life_days)
    th = _number("two_hop", two_hop)
    q = _number("locality", locality)
    if isinstance(orders, BasketMatrix):
        m, ts = orders, timestamps
    else:
        m, ts = _from_orders(orders)
        ts = timestamps if timestamps is not None else ts
    X = sp.csr_matrix(m.X, dtype=np.float64)
    n_b, _n_i = X.shape
    items = np.asarray(m.items, dtype=object)
    order = np.argsort(ts, kind="stable") if ts is not None else np.arange(n_b)
    # one dense copy of S for every model of this fit (validation and final), filled in turn
    dense_buffer = _dense_buffer(X.shape[1])

    def build(rows: np.ndarray, a: float) -> BasketModel:
        """The model on ``rows`` of X."""
        Xr = X[rows]
        tr = None if ts is None else np.asarray(ts)[rows]
        C, pop = _cooccurrence(Xr, _weights(Xr, tr, hl, p))
        if phl and tr is not None and rows.size:
            pop = np.asarray(Xr.T @ np.power(0.5, (np.max(tr) - tr) / 86400.0 / float(phl))).ravel()
        counts = np.bincount(Xr.indices, minlength=Xr.shape[1]).astype(float)
        params = {
            "alpha": a,
            "shrink": h,
            "half_life_days": hl,
            "size_power": p,
            "pop_weight": pw,
            "pop_half_life_days": phl,
            "two_hop": th,
            "locality": q,
        }
        S = _similarity(C, pop, a, h, q, out=C.data)  # S's values overwrite C's
        return BasketModel(items, S, pop, counts, int(rows.size), pw, params, dense_buffer)

    everything = np.arange(n_b)
    if a_arg == "auto":
        cut = n_b - round(n_b * 0.2)
        val = order[cut:]
        multi = val[np.diff(X.indptr)[val] >= 2]
        a = ALPHA_FALLBACK
        if multi.size >= AUTO_MIN_CASES:
            if multi.size > AUTO_MAX_CASES:
                multi = multi[np.linspace(0, multi.size - 1, AUTO_MAX_CASES).astype(int)]
            fit_rows = order[:cut]
            Xf = X[fit_rows]
            tr = None if ts is None else np.asarray(ts)[fit_rows]
            C, pop = _cooccurrence(Xf, _weights(Xf, tr, hl, p))
            best = -1.0
            held = _holdout_cases(X, multi)
            screen = None
            spare = _spare_half(dense_buffer, C.nnz)
            if held is not None and spare is not None and _AlphaScreen.applies(C, h, q):
                assert dense_buffer is not None
                # the dense buffer's first half holds C^q in float32, its second S's values
                values = spare
                screen = _AlphaScreen(C, pop, q, *held, dense_buffer, values)
            else:
                values = np.empty(C.nnz)  # S's values, rewritten for each candidate alpha
            # with the screen, a candidate it cannot score gets a dense copy of its own
            shared = None if screen is not None else dense_buffer

            def model_of(S: sp.csr_matrix, buffer: np.ndarray | None = None) -> BasketModel:
                return BasketModel(items, S, pop, pop, int(cut), pw, {"two_hop": th}, buffer)

            for cand in ALPHA_GRID:
                sc = screen.score(cand, model_of) if screen is not None else None
                if sc is None:
                    S = _similarity(C, pop, cand, h, q, out=values)
                    sc = _holdout_score(model_of(S, shared), X, multi)
                if sc > best + 1e-12:
                    best, a = sc, cand
            # the final C is a product over all the baskets, not the validation's continued
            # over the newest ones: the same sums need them added one by one after the older
            # ones, which no sparse product does
            del values, screen, C
    else:
        a = _number("alpha", None if alpha is None else float(alpha))
    model = build(everything, a)
    model.params["alpha_auto"] = a_arg == "auto"
    return model


# --- the same model on a few itemsets (the engine's FBT candidates) ---------------------------
ENGINE_ALPHA = ALPHA_FALLBACK  # "auto" needs a validation fit; the engine scores without fitting


def basket_weights(X: sp.csr_matrix, timestamps: np.ndarray | None = None) -> np.ndarray:
    """The per-basket weights ``w_b`` the model uses with ``DEFAULTS`` (size damping, optional
    time decay), for a binary baskets x items matrix."""
    return _weights(X, timestamps, _days("half_life_days", "default"), _number("size_power", None))


def pair_similarities(
    co_w: np.ndarray, pop_i: np.ndarray, pop_j: np.ndarray, alpha: float = ENGINE_ALPHA
) -> tuple[np.ndarray, np.ndarray]:
    """(S_ij, S_ji) of ``fit_basket_model`` with ``DEFAULTS`` and this alpha, for pairs whose
    weighted co-occurrence ``co_w = sum_b w_b`` and weighted item counts ``pop`` are already
    known (e.g. from ``mine_itemsets(..., weights=basket_weights(X))``): the fitted model's
    ``S`` entries for those pairs, without building the items x items matrix."""
    h, q = _number("shrink", None), _number("locality", None)
    return _sim_values(co_w, pop_i, pop_j, alpha, h, q), _sim_values(
        co_w, pop_j, pop_i, alpha, h, q
    )


def itemset_affinity(S_pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Bundle score from the model: the mean of ``S_ij`` over the ordered pairs (i, j) of the
    bundle, i.e. the average score the recommender gives to completing the bundle with one of its
    items given another. ``S_pairs`` holds (S_ij, S_ji) arrays for each unordered pair."""
    tot = sum(a + b for a, b in S_pairs)
    return np.asarray(tot, float) / (2 * len(S_pairs))


class BasketRecommender:
    """``evaluation.protocol.Recommender`` adapter: ``fit`` on training baskets, then recommend."""

    name = "engine"

    def __init__(self, **params: Any) -> None:
        self.params = params
        self.model: BasketModel | None = None

    def fit(self, train: Sequence[Any]) -> BasketRecommender:
        self.model = fit_basket_model(train, **self.params)
        return self

    def recommend(self, basket: Sequence[str], k: int) -> list[str]:
        assert self.model is not None, "fit first"
        return self.model.recommend(basket, k)

    def recommend_batch(self, baskets: Sequence[Sequence[str]], k: int) -> list[list[str]]:
        assert self.model is not None, "fit first"
        return self.model.recommend_batch(baskets, k)
