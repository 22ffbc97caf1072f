"""Association mining of pairs and triples with sparse-matrix arithmetic.

Why: apriori / fp-growth enumerate candidates in Python (or walk trees); counting co-occurrence
with a basket x item boolean CSR matrix is a handful of BLAS-like sparse products instead:

* item counts       = column sums of ``X``                                   (n_items,)
* pair counts       = ``Xf.T @ Xf`` on frequent items only, upper-triangle blocks (|F| x |F|)
* triple counts     = apriori candidates from the frequent-pair graph (``U[a] & U[b]``),
  counted exactly with bitsets over each candidate's rarest item's baskets (``_level3``)
* k-itemset counts  = ``P.T @ Xf`` where ``P[:, j]`` is the basket indicator of the j-th
  frequent (k-1)-itemset (the column-AND of its items); only ``c > last item`` is kept so each
  itemset is counted once. Because support is anti-monotone, any k-itemset reaching the
  threshold has all its subsets frequent, so the result equals apriori's exactly.

Supports are ``count / n_baskets`` and the threshold test is the same float comparison that
mlxtend and efficient-apriori use (``support >= min_support``), so itemset supports are identical.

Public API (stable; used by ``evaluation/`` and ``bench/``)::

    m = BasketMatrix.from_baskets([["a", "b"], ["a", "c"], ...])   # or from_pairs / from_codes
    its = mine_itemsets(m, min_support=0.01, max_len=3)
    its.items                  # np.ndarray[str] of all item ids (column order of m)
    its.item_counts            # np.ndarray[int] count per item (all items)
    its.pairs, its.pair_counts       # (P, 2) int item indices (sorted within row), (P,) counts
    its.triples, its.triple_counts   # (T, 3), (T,)
    its.supports()             # {frozenset[str]: float} for every frequent itemset (len 1..max_len)
    rules = association_rules(its, min_confidence=0.1)
    rules.to_records()         # list of dicts: antecedent, consequent (tuples of ids), support, ...

Lift and the other co-purchase measures are defined in ``bundling.measures``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp

from ingest.columnar import OrderLines

from .measures import lift

__all__ = [
    "BasketMatrix",
    "Itemsets",
    "Rules",
    "association_rules",
    "mine_itemsets",
]

# Cap on nonzeros of one P.T @ X product batch; keeps peak memory bounded on big stores.
_BATCH_NNZ = 4_000_000


@dataclass(frozen=True)
class BasketMatrix:
    """Boolean basket x item matrix (CSR, int32 ones) plus the item id of every column.

    The one basket matrix of the project: mining, the engine's recommender and the evaluation
    baselines all build theirs here. Duplicate items in a basket count once (an itemset is a
    set). Empty baskets are kept: they are real transactions and count in the support
    denominator, as in apriori.
    """

    X: sp.csr_matrix
    items: np.ndarray  # dtype=object (str), column order

    @property
    def n_baskets(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.X.shape[1])

    @cached_property
    def column(self) -> dict[str, int]:
        """Item id -> column index (built once per matrix)."""
        return {str(it): i for i, it in enumerate(self.items)}

    def index(self) -> dict[str, int]:
        """Item id -> column index."""
        return self.column

    def encode(self, baskets: Sequence[Iterable[str]]) -> sp.csr_matrix:
        """Other baskets (e.g. test queries) as rows over this matrix's columns, 0/1 int32.

        Item ids this matrix has no column for are dropped; column indices are sorted per row.
        """
        column = self.column
        indptr = [0]
        indices: list[int] = []
        for basket in baskets:
            indices.extend(sorted({column[it] for it in basket if it in column}))
            indptr.append(len(indices))
        return sp.csr_matrix(
            (
                np.ones(len(indices), np.int32),
                np.asarray(indices, np.int64),
                np.asarray(indptr, np.int64),
            ),
            shape=(len(indptr) - 1, self.n_items),
        )

    @classmethod
    def from_baskets(
        cls, baskets: Sequence[Iterable[str]], *, sorted_items: bool = False
    ) -> BasketMatrix:
        """Build from baskets (each an iterable of item ids), one row per basket.

        Columns follow first appearance, or sorted item ids with ``sorted_items`` (then the
        column order, and every tie broken by column, does not depend on the basket order)."""
        index: dict[str, int] = {}
        cols: list[int] = []
        lens: list[int] = []
        for basket in baskets:
            before = len(cols)
            cols.extend([index.setdefault(str(it), len(index)) for it in basket])
            lens.append(len(cols) - before)
        items = np.empty(len(index), dtype=object)
        items[:] = list(index.keys())
        codes = np.asarray(cols, np.int64)
        if sorted_items:
            by_id = np.argsort(items.astype(str), kind="stable")
            new_code = np.empty(by_id.size, np.int64)
            new_code[by_id] = np.arange(by_id.size)
            items, codes = items[by_id], new_code[codes]
        rows = np.repeat(np.arange(len(lens), dtype=np.int64), lens)
        return cls.from_codes(rows, codes, len(lens), items)

    @classmethod
    def from_order_lines(cls, lines: OrderLines) -> BasketMatrix:
        """Rows are the parsed orders and columns their products, both in first-seen order."""
        return cls.from_codes(
            lines.line_order, lines.line_product, lines.n_orders, lines.product_ids
        )

    @classmethod
    def from_codes(
        cls,
        basket_codes: Sequence[int] | np.ndarray,
        item_codes: Sequence[int] | np.ndarray,
        n_baskets: int,
        items: np.ndarray,
    ) -> BasketMatrix:
        """Baskets x items 0/1 matrix from parallel integer codes; an item twice in a basket counts once.

        The one place coded (basket, item) pairs become the matrix: every other builder (baskets,
        id pairs, order events, columnar order lines) encodes and calls this.
        """
        X = sp.csr_matrix(
            (
                np.ones(len(item_codes), np.int32),
                (np.asarray(basket_codes, np.int64), np.asarray(item_codes, np.int64)),
            ),
            shape=(n_baskets, len(items)),
        )
        X.sum_duplicates()
        X.data[:] = 1
        return cls(X, items)

    @classmethod
    def from_pairs(
        cls, basket_ids: Sequence[Any] | np.ndarray, item_ids: Sequence[Any] | np.ndarray
    ) -> BasketMatrix:
        """Vectorised build from parallel (basket id, item id) arrays, e.g. order lines.

        Fastest path for large histories: no Python loop over lines. Rows follow the sorted
        basket ids and columns the sorted item ids; duplicates collapse.
        """
        basket_arr = np.asarray(basket_ids)
        item_arr = np.asarray(item_ids).astype(str)
        if basket_arr.size == 0:
            return cls(sp.csr_matrix(np.zeros((0, 0), np.int32)), np.empty(0, dtype=object))
        _, basket_codes = np.unique(basket_arr, return_inverse=True)
        items, item_codes = np.unique(item_arr, return_inverse=True)
        return cls.from_codes(
            basket_codes.ravel(),
            item_codes.ravel(),
            int(basket_codes.max()) + 1,
            items.astype(object),
        )


@dataclass(frozen=True)
class Itemsets:
    """Frequent itemsets of lengths 1..max_len, as arrays of item indices into ``items``.

    ``levels[k]`` holds (idx (m, k+1) int32 sorted ascending per row, counts (m,) int64).
    """

    items: np.ndarray
    n_baskets: int
    min_support: float
    item_counts: np.ndarray  # all items, not only frequent
    levels: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    # with ``mine_itemsets(..., weights=w)``: sum of w over the baskets holding each pair
    # (aligned with ``pairs``), and over the baskets holding each item (all items)
    weighted: dict[str, np.ndarray] = field(default_factory=dict)

    def _level(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self.levels) >= k:
            return self.levels[k - 1]
        return np.empty((0, k), dtype=np.int32), np.empty(0, dtype=np.int64)

    @property
    def singles(self) -> np.ndarray:
        return self._level(1)[0][:, 0]

    @property
    def pairs(self) -> np.ndarray:
        return self._level(2)[0]

    @property
    def pair_counts(self) -> np.ndarray:
        return self._level(2)[1]

    @property
    def triples(self) -> np.ndarray:
        return self._level(3)[0]

    @property
    def triple_counts(self) -> np.ndarray:
        return self._level(3)[1]

    def pair_count(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Count of each pair ``(a[i], b[i])`` (item indices, ``a < b``) as float64; NaN where
        the pair is not among the frequent pairs. Pairs are lexsorted, so their keys
        ``a * n_items + b`` are sorted and a binary search finds each one."""
        pairs = self.pairs
        if pairs.shape[0] == 0:
            return np.full(np.shape(a), np.nan)
        n_items = np.int64(self.items.size)
        keys = pairs[:, 0].astype(np.int64) * n_items + pairs[:, 1]
        query = np.asarray(a).astype(np.int64) * n_items + b
        pos = np.clip(np.searchsorted(keys, query), 0, keys.size - 1)
        return np.where(keys[pos] == query, self.pair_counts[pos].astype(np.float64), np.nan)

    def item_supports(self) -> np.ndarray:
        """Support of every item (frequent or not), aligned with ``items``."""
        return self.item_counts / max(self.n_baskets, 1)

    def supports(self) -> dict[frozenset[str], float]:
        """Every frequent itemset -> support, keyed by item ids (for comparison with apriori)."""
        out: dict[frozenset[str], float] = {}
        n = max(self.n_baskets, 1)
        for idx, cnt in self.levels:
            names = self.items[idx]
            for row, c in zip(names, cnt.tolist()):
                out[frozenset(row.tolist())] = c / n
        return out

    def __len__(self) -> int:
        return sum(len(c) for _, c in self.levels)


def _frequent(counts: np.ndarray, n: int, min_support: float) -> np.ndarray:
    """Boolean mask with the exact float test apriori implementations use."""
    return np.asarray((counts / n) >= min_support)


def mine_itemsets(
    matrix: BasketMatrix, min_support: float, max_len: int = 3, weights: np.ndarray | None = None
) -> Itemsets:
    """All itemsets with support >= ``min_support`` and length <= ``max_len`` (exact counts).

    ``weights`` (one per basket) also gives each frequent pair its weighted co-occurrence
    ``sum_b w_b`` in ``Itemsets.weighted["pairs"]`` (and each item's in ``["items"]``), from
    the same block products as the counts (``_pair_counts``)."""
    if not 0 < min_support <= 1:
        raise ValueError("min_support must be in (0, 1]")
    n = matrix.n_baskets
    X = matrix.X
    item_counts = (
        np.asarray(X.sum(axis=0)).ravel().astype(np.int64)
        if n
        else np.zeros(matrix.n_items, np.int64)
    )
    res = Itemsets(matrix.items, n, float(min_support), item_counts)
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        res.weighted["items"] = np.asarray(X.T @ w).ravel() if n else np.zeros(matrix.n_items)
        res.weighted["pairs"] = np.zeros(0)
    if n == 0 or max_len < 1:
        return res
    freq = np.flatnonzero(_frequent(item_counts, n, min_support)).astype(np.int32)
    res.levels.append((freq[:, None], item_counts[freq]))
    if max_len < 2 or freq.size < 2:
        return res

    # baskets x frequent items; local column j <-> global item freq[j]. Baskets with fewer than
    # 2 frequent items cannot hold a frequent pair: dropped.
    X_freq = X[:, freq]
    keep = np.flatnonzero(np.diff(X_freq.indptr) >= 2)
    Xf: sp.csc_matrix = (X_freq[keep] if keep.size < X_freq.shape[0] else X_freq).tocsc()

    # Level 2: the upper triangle of Xf.T @ Xf (with the weighted sums when asked for).
    kept_weights = None if weights is None else (w[keep] if keep.size < n else w)
    a, b, cnt, sums = _pair_counts(Xf, n, min_support, kept_weights)
    a, b = a.astype(np.int32), b.astype(np.int32)
    # each pair comes out of one block once, so its key a * n_cols + b is unique and sorting
    # the keys orders the pairs as a lexsort by (a, b) does, in a third of the time
    order = np.argsort(a.astype(np.int64) * Xf.shape[1] + b, kind="stable")
    local = np.stack([a[order], b[order]], axis=1)
    counts = cnt[order]
    res.levels.append((freq[local], counts))
    if sums is not None:
        res.weighted["pairs"] = sums[order]

    if max_len >= 3 and local.shape[0]:
        local, counts = _level3(Xf, local, n, min_support)
        res.levels.append((freq[local].reshape(-1, 3), counts))
    # Level k >= 4: indicator of each frequent (k-1)-itemset times Xf, keep c > last item.
    for k in range(4, max_len + 1):
        if local.shape[0] == 0:
            break
        local, counts = _level_k(Xf, local, n, min_support)
        res.levels.append((freq[local].reshape(-1, k), counts))
    return res


def _seg_index(starts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """``concat(arange(s, s + l) for s, l in zip(starts, lens))`` as int64, without a loop."""
    lens = np.asarray(lens, np.int64)
    ends = np.cumsum(lens)
    total = int(ends[-1]) if lens.size else 0
    out = np.repeat(np.asarray(starts, np.int64) - (ends - lens), lens)
    out += np.arange(total, dtype=np.int64)
    return out


# Columns per block of the upper-triangular pair product (at most 8 blocks).
_PAIR_BLOCK_COLS = 128


def _pair_counts(
    Xf: sp.csc_matrix, n: int, min_support: float, basket_weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Frequent pairs (a < b) of the columns of ``Xf``, their counts ``n_ab = (Xf.T Xf)_ab``
    and, given ``basket_weights``, their weighted sums ``sum_b w_b`` over the baskets holding
    both (else None).

    ``Xf.T @ Xf`` is symmetric; the column range is cut into a few blocks and only the block
    products ``Xf[:, block].T @ Xf[:, block_start:]`` are formed, which skips most of the lower
    triangle (about (K+1)/2K of the full product's work and output for K blocks).

    With weights the right factor carries ``1 + i*w_b`` (complex), so one product gives both:
    each term is ``1 * (1 + i*w_b)``, exact, the real part sums to the exact count and the
    imaginary part is ``w_b`` added from 0 in ascending basket order (the left factor's rows are
    sorted), the order a plain loop over the baskets adds them in. On a small store most
    nonzeros of the product are frequent pairs (22,901 of 609k cells for the first 1,000 Online
    Retail invoices, a few ms of lookups), so the weighted sums cost less inside the product
    than looked up afterwards."""
    n_cols = Xf.shape[1]
    n_blocks = int(min(8, max(1, n_cols // _PAIR_BLOCK_COLS)))
    bounds = np.linspace(0, n_cols, n_blocks + 1).astype(np.int64)
    if not Xf.has_sorted_indices:
        Xf = Xf.sorted_indices()
    items_by_basket = Xf.T.tocsr()
    baskets_by_item = Xf.tocsr()
    if basket_weights is not None:
        items_by_basket = items_by_basket.astype(np.complex128)
        baskets_by_item = sp.csr_matrix(
            (
                1.0 + 1j * np.repeat(basket_weights, np.diff(baskets_by_item.indptr)),
                baskets_by_item.indices,
                baskets_by_item.indptr,
            ),
            shape=baskets_by_item.shape,
        )
    rows, cols, cnts, sums = [], [], [], []
    for start, end in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        if end <= start:
            continue
        block = (items_by_basket[start:end] @ baskets_by_item[:, start:]).tocsr()
        counts = block.data.real if basket_weights is not None else block.data
        # the support test first: it keeps a few percent of the product's cells, and only
        # those get coordinates (a cell's row is the last row whose span starts at or before it)
        at = np.flatnonzero(_frequent(counts, n, min_support))
        r = np.searchsorted(block.indptr, at, side="right") - 1 + start
        c = block.indices[at].astype(np.int64) + start
        upper = r < c
        rows.append(r[upper])
        cols.append(c[upper])
        cnts.append(counts[at[upper]].astype(np.int64))  # whole numbers, also as floats
        if basket_weights is not None:
            sums.append(block.data.imag[at[upper]])
    return (
        np.concatenate(rows),
        np.concatenate(cols),
        np.concatenate(cnts),
        np.concatenate(sums) if basket_weights is not None else None,
    )


_POP8 = np.array([bin(i).count("1") for i in range(256)], np.uint8)


def _popcount(x: np.ndarray) -> np.ndarray:
    """Set bits per uint64 word (``np.bitwise_count`` on numpy >= 2, a byte table before)."""
    if hasattr(np, "bitwise_count"):
        return np.asarray(np.bitwise_count(x))
    x = np.ascontiguousarray(x, dtype=np.uint64)
    return np.asarray(_POP8[x.view(np.uint8)].reshape(*x.shape, 8).sum(axis=-1, dtype=np.uint8))


# Cells (used items x baskets) of the boolean membership table of one basket block in _level3.
_TABLE_CELLS = 1 << 26
# uint64 words gathered per step when counting triple candidates.
_CAND_WORDS = 1 << 20


def _triple_block_counts(
    block: sp.csr_matrix,
    edge_anchor: np.ndarray,
    edge_other: np.ndarray,
    cand_ab: np.ndarray,
    cand_ac: np.ndarray,
) -> np.ndarray:
    """``n_abc = |baskets(a) & baskets(b) & baskets(c)|`` on one block of baskets, per candidate.

    Edge ``e = (edge_anchor[e], edge_other[e])`` gets a bitset over its *anchor's* baskets: bit
    ``i`` is set when the i-th basket holding the anchor ``a`` also holds the other item
    (``ceil(n_a / 64)`` words, not one bit per basket of the store). Candidate ``(a, b, c)``
    is the edge pair ``(cand_ab, cand_ac)`` and ``n_abc = popcount(bits[ab] & bits[ac])`` over
    the anchor's words.
    """
    by_item = block.tocsc()
    by_item.sort_indices()
    n_baskets, n_items = by_item.shape
    table_stride = n_baskets + 1  # column n_baskets of the table is always False: padding target
    baskets_per_item: np.ndarray = np.diff(by_item.indptr.astype(np.int64))
    words_per_item = (baskets_per_item + 63) >> 6  # 64-basket words per item
    item_word_start = np.cumsum(words_per_item) - words_per_item
    index_dtype = np.int32 if n_items * table_stride < 2**31 else np.int64
    # each item's basket list, padded with the always-False basket to whole 64-basket words
    padded = np.full(int(words_per_item.sum()) * 64, n_baskets, index_dtype)
    padded[_seg_index(item_word_start * 64, baskets_per_item)] = by_item.indices
    padded_baskets = padded.reshape(-1, 64)
    membership = np.zeros(n_items * table_stride, bool)  # membership[item * stride + basket]
    membership[
        np.repeat(np.arange(n_items, dtype=np.int64) * table_stride, baskets_per_item)
        + by_item.indices
    ] = True
    edge_words = words_per_item[edge_anchor]
    edge_word_start = np.cumsum(edge_words) - edge_words
    # (words, 64): the anchor's baskets, word by word, looked up in the other item's column
    lookup = padded_baskets[_seg_index(item_word_start[edge_anchor], edge_words)]
    lookup += np.repeat((edge_other * table_stride).astype(index_dtype), edge_words)[:, None]
    edge_bits = np.packbits(membership[lookup], axis=1, bitorder="little").view(np.uint64).ravel()
    # Candidates grouped by their anchor's word count: (k, words) gathers, no ragged reductions.
    cand_words = edge_words[cand_ab]
    counts = np.zeros(cand_ab.size, np.int64)
    by_words = np.argsort(cand_words, kind="stable")
    sorted_words = cand_words[by_words]
    group_starts = np.flatnonzero(np.diff(sorted_words)) + 1
    for lo, hi in zip(
        np.r_[0, group_starts].tolist(), np.r_[group_starts, cand_words.size].tolist()
    ):
        words = int(sorted_words[lo])
        if words == 0:
            continue
        word_offsets = np.arange(words, dtype=np.int64)
        step = max(1, _CAND_WORDS // words)
        for s in range(lo, hi, step):
            sel = by_words[s : min(hi, s + step)]
            both = edge_bits[edge_word_start[cand_ab[sel]][:, None] + word_offsets]
            both &= edge_bits[edge_word_start[cand_ac[sel]][:, None] + word_offsets]
            counts[sel] = _popcount(both).sum(axis=1, dtype=np.int64)
    return counts


def _level3(
    Xf: sp.csc_matrix, pairs: np.ndarray, n: int, min_support: float
) -> tuple[np.ndarray, np.ndarray]:
    """Frequent triples ``n_abc / n >= min_support`` from frequent pairs: apriori candidates,
    exact bitset counts.

    1. Items are relabelled by ascending count (their rank), so in every triple ``a < b < c``
       (ranks) the anchor ``a`` is the rarest item.
    2. Candidates: a triple can only be frequent if its three pairs are; with ``U`` the
       upper-triangular frequent-pair adjacency, the row-wise AND ``U[a] & U[b]`` over the
       frequent pairs ``(a, b)`` lists every ``c`` (one sparse elementwise product).
    3. Counts: every pair ``(a, x)`` used by a candidate gets a bitset over the baskets of its
       anchor ``a`` (see ``_triple_block_counts``); ``n_abc = popcount(ab & ac)``. The work per
       candidate is ``n_a / 64`` words, with ``n_a`` the rarest item's count. Baskets with
       fewer than 3 relevant items are dropped, and baskets are processed in blocks so the
       membership table stays within ``_TABLE_CELLS``.
    Exact integer counts; the result equals apriori's triples with their counts.
    """
    n_cols = Xf.shape[1]
    empty = (np.empty((0, 3), np.int32), np.empty(0, np.int64))
    if pairs.shape[0] < 3:
        return empty
    col_of_rank = np.lexsort((np.arange(n_cols), np.diff(Xf.indptr)))
    rank_of_col = np.empty(n_cols, np.int64)
    rank_of_col[col_of_rank] = np.arange(n_cols)
    # frequent pairs as (lower rank, higher rank) "edges", sorted by key lo * n_cols + hi
    edges = np.sort(rank_of_col[pairs], axis=1)
    edge_keys = edges[:, 0] * n_cols + edges[:, 1]
    by_key = np.argsort(edge_keys, kind="stable")
    edges, edge_keys = edges[by_key], edge_keys[by_key]
    n_edges = edges.shape[0]
    upper = sp.csr_matrix(
        (
            np.ones(n_edges, np.int8),
            edges[:, 1],
            np.searchsorted(edges[:, 0], np.arange(n_cols + 1)),
        ),
        shape=(n_cols, n_cols),
    )
    # row e lists every c with (a, c) and (b, c) frequent, for edge e = (a, b)
    third_items = upper[edges[:, 0]].multiply(upper[edges[:, 1]]).tocsr()
    third_items.eliminate_zeros()
    cand_edge_ab = np.repeat(np.arange(n_edges), np.diff(third_items.indptr))
    if cand_edge_ab.size == 0:
        return empty
    cand_c = third_items.indices.astype(np.int64)
    cand_edge_ac = np.searchsorted(edge_keys, edges[cand_edge_ab, 0] * n_cols + cand_c)
    # bitsets only for the edges some candidate uses, items only for those edges' ends
    edge_used = np.zeros(n_edges, bool)
    edge_used[cand_edge_ab] = True
    edge_used[cand_edge_ac] = True
    used_edges = np.flatnonzero(edge_used)
    edge_slot = np.full(n_edges, -1, np.int64)
    edge_slot[used_edges] = np.arange(used_edges.size)
    item_used = np.zeros(n_cols, bool)
    item_used[edges[used_edges].ravel()] = True
    used_items = np.flatnonzero(item_used)  # ranks of the items in any candidate
    item_slot = np.full(n_cols, -1, np.int64)
    item_slot[used_items] = np.arange(used_items.size)
    baskets = Xf[:, col_of_rank[used_items]].tocsr()
    baskets = baskets[np.flatnonzero(np.diff(baskets.indptr) >= 3)]
    edge_anchor = item_slot[edges[used_edges, 0]]
    edge_other = item_slot[edges[used_edges, 1]]
    cand_ab, cand_ac = edge_slot[cand_edge_ab], edge_slot[cand_edge_ac]
    baskets_per_block = max(64, (_TABLE_CELLS // max(used_items.size, 1)) // 64 * 64)
    counts = np.zeros(cand_edge_ab.size, np.int64)
    for start in range(0, baskets.shape[0], baskets_per_block):
        counts += _triple_block_counts(
            baskets[start : start + baskets_per_block], edge_anchor, edge_other, cand_ab, cand_ac
        )
    is_frequent = _frequent(counts, n, min_support)
    triple_ranks = np.stack(
        [
            edges[cand_edge_ab[is_frequent], 0],
            edges[cand_edge_ab[is_frequent], 1],
            cand_c[is_frequent],
        ],
        axis=1,
    )
    triples = np.sort(col_of_rank[triple_ranks], axis=1).astype(np.int32)
    order = np.lexsort(triples.T[::-1])
    return triples[order], counts[is_frequent][order]


def _holding_all(X_by_item: sp.csc_matrix, itemsets: np.ndarray) -> sp.csr_matrix:
    """Baskets x itemsets 0/1: column j marks the baskets holding every item of ``itemsets[j]``
    (the elementwise AND of its items' columns)."""
    holding = X_by_item[:, itemsets[:, 0]]
    for t in range(1, itemsets.shape[1]):
        holding = holding.multiply(X_by_item[:, itemsets[:, t]])
    indicator = sp.csr_matrix(holding)
    indicator.eliminate_zeros()
    return indicator


def _level_k(
    Xf: sp.csc_matrix, prev: np.ndarray, n: int, min_support: float
) -> tuple[np.ndarray, np.ndarray]:
    """Frequent k-itemsets from the frequent (k-1)-itemsets ``prev``: ``H.T @ Xf`` with
    ``H = _holding_all(Xf, prev)``; only items after the itemset's last one are kept, so each
    k-itemset is counted once. Batches of ``prev`` keep each product within ``_BATCH_NNZ``."""
    k = prev.shape[1] + 1
    col_nnz = np.diff(Xf.indptr)
    est = col_nnz[prev[:, -1]]
    bounds = [0]
    acc = 0
    for j, e in enumerate(est.tolist()):
        acc += e
        if acc > _BATCH_NNZ and j > bounds[-1]:
            bounds.append(j)
            acc = e
    bounds.append(prev.shape[0])
    new_idx, new_cnt = [], []
    for s, e in itertools.pairwise(bounds):
        block = prev[s:e]
        counts = (_holding_all(Xf, block).T.tocsr() @ Xf).tocoo()  # itemset x item
        keep = (counts.col > block[counts.row, -1]) & _frequent(
            counts.data.astype(np.int64), n, min_support
        )
        new_idx.append(
            np.concatenate(
                [block[counts.row[keep]], counts.col[keep, None].astype(np.int32)], axis=1
            )
        )
        new_cnt.append(counts.data[keep].astype(np.int64))
    idx = np.concatenate(new_idx).astype(np.int32) if new_idx else np.empty((0, k), np.int32)
    cnt = np.concatenate(new_cnt) if new_cnt else np.empty(0, np.int64)
    if idx.shape[0]:
        order = np.lexsort(idx.T[::-1])
        idx, cnt = idx[order], cnt[order]
    return idx, cnt


@dataclass(frozen=True)
class Rules:
    """Association rules as parallel arrays; antecedent/consequent are tuples of item indices."""

    items: np.ndarray
    antecedents: list[tuple[int, ...]]
    consequents: list[tuple[int, ...]]
    support: np.ndarray
    confidence: np.ndarray
    lift: np.ndarray

    def __len__(self) -> int:
        return len(self.antecedents)

    def to_records(self) -> list[dict[str, Any]]:
        """Plain dicts with item ids, sorted by lift then confidence (descending)."""
        order = np.lexsort((-self.confidence, -self.lift))
        return [
            {
                "antecedent": tuple(str(self.items[i]) for i in self.antecedents[j]),
                "consequent": tuple(str(self.items[i]) for i in self.consequents[j]),
                "support": float(self.support[j]),
                "confidence": float(self.confidence[j]),
                "lift": float(self.lift[j]),
            }
            for j in order.tolist()
        ]


def extend_by_one(
    matrix: BasketMatrix, sets: np.ndarray, min_count: int
) -> tuple[np.ndarray, np.ndarray]:
    """Supersets with one more item of the given itemsets (rows of global item indices) seen in
    >= ``min_count`` baskets: ``H.T @ X`` with ``H = _holding_all(X, sets)``. Used to grow only
    the best pairs into triples (bounded work) instead of mining every triple."""
    if sets.size == 0:
        return np.empty((0, sets.shape[1] + 1), np.int32), np.empty(0, np.int64)
    counts = (_holding_all(matrix.X.tocsc(), sets).T.tocsr() @ matrix.X).tocoo()  # set x item
    m = np.flatnonzero(counts.data >= min_count)  # the count test first: few rows remain
    m = m[~(sets[counts.row[m]] == counts.col[m, None]).any(axis=1)]  # item already in the set
    idx = np.sort(
        np.concatenate([sets[counts.row[m]], counts.col[m, None]], axis=1), axis=1
    ).astype(np.int32)
    n_items, k = max(matrix.n_items, 1), idx.shape[1]
    if float(n_items) ** k < 2.0**62:
        # one int64 key per row (order-preserving), a 1-d unique instead of a row-wise one
        key = np.zeros(idx.shape[0], np.int64)
        for t in range(k):
            key = key * n_items + idx[:, t]
        _, first = np.unique(key, return_index=True)
        idx = idx[first]
    else:
        idx, first = np.unique(idx, axis=0, return_index=True)
    return idx, counts.data[m][first].astype(np.int64)


def association_rules(
    itemsets: Itemsets, min_confidence: float = 0.0, min_lift: float = 0.0
) -> Rules:
    """Rules from frequent pairs and triples (1->1, 2->1, 1->2), vectorised.

    support = n(A u C)/N, confidence = n(A u C)/n(A), lift = ``measures.lift`` of A and C.
    """
    n_baskets = max(itemsets.n_baskets, 1)
    item_counts = itemsets.item_counts.astype(np.float64)
    antecedents: list[tuple[int, ...]] = []
    consequents: list[tuple[int, ...]] = []
    supports: list[np.ndarray] = []
    confidences: list[np.ndarray] = []
    lifts: list[np.ndarray] = []

    def emit(
        ante: np.ndarray,
        cons: np.ndarray,
        n_union: np.ndarray,
        n_ante: np.ndarray,
        n_cons: np.ndarray,
    ) -> None:
        confidence = n_union / n_ante
        rule_lift = lift(n_union, n_ante, n_cons, n_baskets)
        keep = (confidence >= min_confidence) & (rule_lift >= min_lift)
        if not keep.any():
            return
        antecedents.extend(map(tuple, ante[keep].tolist()))
        consequents.extend(map(tuple, cons[keep].tolist()))
        supports.append(n_union[keep] / n_baskets)
        confidences.append(confidence[keep])
        lifts.append(rule_lift[keep])

    pairs, pair_counts = itemsets.pairs, itemsets.pair_counts.astype(np.float64)
    if pairs.shape[0]:
        first, second = pairs[:, :1], pairs[:, 1:]
        emit(first, second, pair_counts, item_counts[pairs[:, 0]], item_counts[pairs[:, 1]])
        emit(second, first, pair_counts, item_counts[pairs[:, 1]], item_counts[pairs[:, 0]])
    triples, triple_counts = itemsets.triples, itemsets.triple_counts.astype(np.float64)
    if triples.shape[0]:
        for drop in range(3):
            two = triples[:, [j for j in range(3) if j != drop]]
            one = triples[:, [drop]]
            n_two = itemsets.pair_count(two[:, 0], two[:, 1])  # frequent: a subset of a triple
            n_one = item_counts[triples[:, drop]]
            emit(two, one, triple_counts, n_two, n_one)  # {a,b} -> c
            emit(one, two, triple_counts, n_one, n_two)  # c -> {a,b}

    def joined(parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts) if parts else np.empty(0)

    return Rules(
        itemsets.items,
        antecedents,
        consequents,
        joined(supports),
        joined(confidences),
        joined(lifts),
    )
