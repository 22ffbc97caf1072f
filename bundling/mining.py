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
    return (counts / n) >= min_support


def mine_itemsets(
    matrix: BasketMatrix, min_support: float, max_len: int = 3, weights: np.ndarray | None = None
) -> Itemsets:
    """All itemsets with support >= ``min_support`` and length <= ``max_len`` (exact counts).

    ``weights`` (one per basket) also gives each frequent pair its weighted co-occurrence
    ``sum_b w_b`` in ``Itemsets.weighted["pairs"]`` (and each item's in ``["items"]``), from the
    same sparse product: the right factor carries ``1 + i*w_b`` (complex), so the real part is
    the exact count and the imaginary part the weighted sum, for about the cost of one product."""
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

    Xf = X[:, freq]  # baskets x frequent items (CSR); local column j <-> global freq[j]
    # Drop baskets that have fewer than 2 frequent items: they cannot hold a frequent pair.
    keep = np.flatnonzero(np.diff(Xf.indptr) >= 2)
    Xf = (Xf[keep] if keep.size < Xf.shape[0] else Xf).tocsc()

    # Level 2: the upper triangle of Xf.T @ Xf (blocked sparse products).
    if weights is None:
        a, b, cnt = _pair_counts(Xf, n, min_support)
        wsum = m = None
    else:
        wk = w[keep] if keep.size < n else w
        Xr = Xf.tocsr()
        Xz = sp.csr_matrix(
            (1.0 + 1j * np.repeat(wk, np.diff(Xr.indptr)), Xr.indices, Xr.indptr), shape=Xr.shape
        )
        C = (Xf.T.tocsr().astype(np.complex128) @ Xz).tocoo()
        wsum = C.data.imag
        C = sp.coo_matrix((np.rint(C.data.real).astype(np.int64), (C.row, C.col)), shape=C.shape)
        m = (C.row < C.col) & _frequent(C.data.astype(np.int64), n, min_support)
        a, b, cnt = C.row[m], C.col[m], C.data[m].astype(np.int64)
    a, b = a.astype(np.int32), b.astype(np.int32)
    order = np.lexsort((b, a))
    local = np.stack([a[order], b[order]], axis=1)
    counts = cnt[order]
    res.levels.append((freq[local], counts))
    if wsum is not None:
        res.weighted["pairs"] = wsum[m][order]

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
    Xf: sp.csc_matrix, n: int, min_support: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frequent pairs (a < b) of the columns of ``Xf`` and their counts, upper triangle only.

    ``Xf.T @ Xf`` is symmetric; the column range is cut into ``K`` blocks and only the block
    products ``Xf[:, g].T @ Xf[:, g_start:]`` are formed, which skips most of the lower triangle
    (about (K+1)/2K of the full product's work and output)."""
    nf = Xf.shape[1]
    K = int(min(8, max(1, nf // _PAIR_BLOCK_COLS)))
    bounds = np.linspace(0, nf, K + 1).astype(np.int64)
    XT = Xf.T.tocsr()
    Xr = Xf.tocsr()
    rows, cols, cnts = [], [], []
    for s, e in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        if e <= s:
            continue
        C = (XT[s:e] @ Xr[:, s:]).tocoo()
        r = C.row.astype(np.int64) + s
        c = C.col.astype(np.int64) + s
        d = C.data.astype(np.int64)
        m = (r < c) & _frequent(d, n, min_support)
        rows.append(r[m])
        cols.append(c[m])
        cnts.append(d[m])
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(cnts)


_POP8 = np.array([bin(i).count("1") for i in range(256)], np.uint8)


def _popcount(x: np.ndarray) -> np.ndarray:
    """Set bits per uint64 word (``np.bitwise_count`` on numpy >= 2, a byte table before)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    x = np.ascontiguousarray(x, dtype=np.uint64)
    return _POP8[x.view(np.uint8)].reshape(*x.shape, 8).sum(axis=-1, dtype=np.uint8)


# Cells (used items x baskets) of the boolean membership table of one basket block in _level3.
_TABLE_CELLS = 1 << 26
# uint64 words gathered per step when counting triple candidates.
_CAND_WORDS = 1 << 20


def _triple_block_counts(
    Xb: sp.csr_matrix, ua: np.ndarray, ub: np.ndarray, f1: np.ndarray, f2: np.ndarray
) -> np.ndarray:
    """``|rows(a) & rows(b) & rows(c)|`` on one block of baskets for each candidate.

    Edge ``k = (ua[k], ub[k])`` gets a bitset over the *anchor's* baskets: bit ``i`` is set when
    the i-th basket holding ``a`` also holds ``b`` (``ceil(n_a / 64)`` words, not one bit per
    basket of the store). A candidate ``(a, b, c)`` is the edge pair ``(f1, f2) = ((a, b), (a, c))``
    and its count is ``popcount(bits[f1] & bits[f2])`` over the anchor's words.
    """
    Xb = Xb.tocsc()
    Xb.sort_indices()
    nb, nu = Xb.shape
    stride = nb + 1  # column nb of the table is always False: padding target
    cptr = Xb.indptr.astype(np.int64)
    clen = np.diff(cptr)
    cw = (clen + 63) >> 6  # 64-basket words per item
    boff = np.cumsum(cw) - cw
    it = np.int32 if nu * stride < 2**31 else np.int64
    rpad = np.full(int(cw.sum()) * 64, nb, it)  # each item's basket list, padded to 64
    rpad[_seg_index(boff * 64, clen)] = Xb.indices
    rpad = rpad.reshape(-1, 64)
    table = np.zeros(nu * stride, bool)
    table[np.repeat(np.arange(nu, dtype=np.int64) * stride, clen) + Xb.indices] = True
    wa = cw[ua]
    off = np.cumsum(wa) - wa
    look = rpad[_seg_index(boff[ua], wa)]  # (words, 64): the anchor's baskets, word by word
    look += np.repeat((ub * stride).astype(it), wa)[:, None]  # ... looked up in b's column
    bits = np.packbits(table[look], axis=1, bitorder="little").view(np.uint64).ravel()
    # Candidates grouped by their anchor's word count w: (k, w) gathers, no ragged reductions.
    wc = wa[f1]
    cnt = np.zeros(f1.size, np.int64)
    by_w = np.argsort(wc, kind="stable")
    wsorted = wc[by_w]
    cuts = np.flatnonzero(np.diff(wsorted)) + 1
    for lo, hi in zip(np.r_[0, cuts].tolist(), np.r_[cuts, wc.size].tolist()):
        w = int(wsorted[lo])
        if w == 0:
            continue
        span = np.arange(w, dtype=np.int64)
        step = max(1, _CAND_WORDS // w)
        for s in range(lo, hi, step):
            sel = by_w[s : min(hi, s + step)]
            x = bits[off[f1[sel]][:, None] + span]
            x &= bits[off[f2[sel]][:, None] + span]
            cnt[sel] = _popcount(x).sum(axis=1, dtype=np.int64)
    return cnt


def _level3(
    Xf: sp.csc_matrix, pairs: np.ndarray, n: int, min_support: float
) -> tuple[np.ndarray, np.ndarray]:
    """Frequent triples from frequent pairs: apriori candidates, exact bitset counts.

    1. Items are relabelled by ascending count, so in every triple ``a < b < c`` (new labels) the
       anchor ``a`` is the rarest item.
    2. Candidates: a triple can only be frequent if its three pairs are; with ``U`` the
       upper-triangular frequent-pair adjacency, the row-wise AND ``U[a] & U[b]`` over the
       frequent pairs ``(a, b)`` lists every ``c`` (one sparse elementwise product).
    3. Counts: every pair ``(a, x)`` used by a candidate gets a bitset over the baskets of its
       anchor ``a`` (see ``_triple_block_counts``); ``n(a, b, c) = popcount(ab & ac)``. The
       work per candidate is ``n_a / 64`` words, with ``n_a`` the rarest item's count. Baskets
       with fewer than 3 relevant items are dropped, and baskets are processed in blocks so
       the membership table stays within ``_TABLE_CELLS``.
    Exact integer counts; the result equals apriori's triples with their counts.
    """
    nf = Xf.shape[1]
    empty = (np.empty((0, 3), np.int32), np.empty(0, np.int64))
    if pairs.shape[0] < 3:
        return empty
    order = np.lexsort((np.arange(nf), np.diff(Xf.indptr)))  # rank -> column
    rank = np.empty(nf, np.int64)
    rank[order] = np.arange(nf)
    pr = np.sort(rank[pairs], axis=1)
    ekey = pr[:, 0] * nf + pr[:, 1]
    o = np.argsort(ekey, kind="stable")
    pr, ekey = pr[o], ekey[o]
    E = pr.shape[0]
    U = sp.csr_matrix(
        (np.ones(E, np.int8), pr[:, 1], np.searchsorted(pr[:, 0], np.arange(nf + 1))),
        shape=(nf, nf),
    )
    R = U[pr[:, 0]].multiply(U[pr[:, 1]]).tocsr()
    R.eliminate_zeros()
    e1 = np.repeat(np.arange(E), np.diff(R.indptr))  # candidate -> edge (a, b)
    if e1.size == 0:
        return empty
    c = R.indices.astype(np.int64)
    e2 = np.searchsorted(ekey, pr[e1, 0] * nf + c)  # candidate -> edge (a, c)
    need = np.zeros(E, bool)
    need[e1] = True
    need[e2] = True
    eid = np.flatnonzero(need)
    emap = np.full(E, -1, np.int64)
    emap[eid] = np.arange(eid.size)
    used = np.zeros(nf, bool)
    used[pr[eid].ravel()] = True
    uidx = np.flatnonzero(used)  # ranks of the items in any candidate
    umap = np.full(nf, -1, np.int64)
    umap[uidx] = np.arange(uidx.size)
    Xc = Xf[:, order[uidx]].tocsr()
    Xc = Xc[np.flatnonzero(np.diff(Xc.indptr) >= 3)]
    ua, ub = umap[pr[eid, 0]], umap[pr[eid, 1]]
    f1, f2 = emap[e1], emap[e2]
    step = max(64, (_TABLE_CELLS // max(uidx.size, 1)) // 64 * 64)
    cnt = np.zeros(e1.size, np.int64)
    for s in range(0, Xc.shape[0], step):
        cnt += _triple_block_counts(Xc[s : s + step], ua, ub, f1, f2)
    m = _frequent(cnt, n, min_support)
    tri = np.stack([pr[e1[m], 0], pr[e1[m], 1], c[m]], axis=1)
    idx = np.sort(order[tri], axis=1).astype(np.int32)
    oo = np.lexsort(idx.T[::-1])
    return idx[oo], cnt[m][oo]


def _level_k(
    Xf: sp.csc_matrix, prev: np.ndarray, n: int, min_support: float
) -> tuple[np.ndarray, np.ndarray]:
    """k-itemsets from frequent (k-1)-itemsets: ``P.T @ Xf`` with P the column-AND indicators."""
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
        P = Xf[:, block[:, 0]]
        for t in range(1, block.shape[1]):
            P = P.multiply(Xf[:, block[:, t]])
        P = sp.csr_matrix(P)
        P.eliminate_zeros()
        T = (P.T.tocsr() @ Xf).tocoo()
        mm = (T.col > block[T.row, -1]) & _frequent(T.data.astype(np.int64), n, min_support)
        new_idx.append(np.concatenate([block[T.row[mm]], T.col[mm, None].astype(np.int32)], axis=1))
        new_cnt.append(T.data[mm].astype(np.int64))
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

    def to_records(self) -> list[dict]:
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
    >= ``min_count`` baskets: ``P.T @ X`` with P the column-AND indicators. Used to grow only the
    best pairs into triples (bounded work) instead of mining every triple."""
    if sets.size == 0:
        return np.empty((0, sets.shape[1] + 1), np.int32), np.empty(0, np.int64)
    Xc = matrix.X.tocsc()
    P = Xc[:, sets[:, 0]]
    for t in range(1, sets.shape[1]):
        P = P.multiply(Xc[:, sets[:, t]])
    T = (sp.csr_matrix(P).T.tocsr() @ matrix.X).tocoo()
    m = np.flatnonzero(T.data >= min_count)  # the count test first: it leaves few rows to check
    m = m[~(sets[T.row[m]] == T.col[m, None]).any(axis=1)]
    idx = np.sort(np.concatenate([sets[T.row[m]], T.col[m, None]], axis=1), axis=1).astype(np.int32)
    nI, k = max(matrix.n_items, 1), idx.shape[1]
    if float(nI) ** k < 2.0**62:
        # one int64 key per row (order-preserving), a 1-d unique instead of a row-wise one
        key = np.zeros(idx.shape[0], np.int64)
        for t in range(k):
            key = key * nI + idx[:, t]
        _, first = np.unique(key, return_index=True)
        idx = idx[first]
    else:
        idx, first = np.unique(idx, axis=0, return_index=True)
    return idx, T.data[m][first].astype(np.int64)


def _lookup(keys_sorted: np.ndarray, vals: np.ndarray, query: np.ndarray) -> np.ndarray:
    pos = np.searchsorted(keys_sorted, query)
    pos = np.clip(pos, 0, max(keys_sorted.size - 1, 0))
    return vals[pos]


def association_rules(
    itemsets: Itemsets, min_confidence: float = 0.0, min_lift: float = 0.0
) -> Rules:
    """Rules from frequent pairs and triples (1->1, 2->1, 1->2), vectorised.

    support = n(A u C)/N, confidence = n(A u C)/n(A), lift = confidence / supp(C).
    """
    N = max(itemsets.n_baskets, 1)
    ic = itemsets.item_counts.astype(np.float64)
    ants: list[tuple[int, ...]] = []
    cons: list[tuple[int, ...]] = []
    sup_l, conf_l, lift_l = [], [], []

    def emit(
        A: np.ndarray, Cq: np.ndarray, cnt_union: np.ndarray, cnt_a: np.ndarray, cnt_c: np.ndarray
    ) -> None:
        conf = cnt_union / cnt_a
        lift = conf / (cnt_c / N)
        m = (conf >= min_confidence) & (lift >= min_lift)
        if not m.any():
            return
        ants.extend(map(tuple, A[m].tolist()))
        cons.extend(map(tuple, Cq[m].tolist()))
        sup_l.append(cnt_union[m] / N)
        conf_l.append(conf[m])
        lift_l.append(lift[m])

    P, pc = itemsets.pairs, itemsets.pair_counts.astype(np.float64)
    if P.shape[0]:
        a, b = P[:, :1], P[:, 1:]
        emit(a, b, pc, ic[P[:, 0]], ic[P[:, 1]])
        emit(b, a, pc, ic[P[:, 1]], ic[P[:, 0]])
    T, tc = itemsets.triples, itemsets.triple_counts.astype(np.float64)
    if T.shape[0]:
        nI = np.int64(itemsets.items.size)
        keys = P[:, 0].astype(np.int64) * nI + P[:, 1]
        order = np.argsort(keys)
        keys, pcs = keys[order], pc[order]

        def pair_count(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            return _lookup(keys, pcs, x.astype(np.int64) * nI + y)

        for drop in range(3):
            keep = [j for j in range(3) if j != drop]
            AB = T[:, keep]
            Cq = T[:, [drop]]
            n_ab = pair_count(AB[:, 0], AB[:, 1])
            emit(AB, Cq, tc, n_ab, ic[T[:, drop]])  # {a,b} -> c
            emit(Cq, AB, tc, ic[T[:, drop]], n_ab)  # c -> {a,b}

    def cat(xs):
        return np.concatenate(xs) if xs else np.empty(0)

    return Rules(itemsets.items, ants, cons, cat(sup_l), cat(conf_l), cat(lift_l))
