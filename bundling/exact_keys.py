"""Exact float64 ranking keys for a few (basket, item) pairs, and the error bound of a float32
first pass over all the items.

The basket model ranks item j for a basket by ``key_j = (((0 + S_i1j) + S_i2j) + ...) + prior_j``
over the basket's items i1 < i2 < ... (the order every way of scoring adds them in). A float32
pass over every item is cheaper (half the memory traffic) but rounds; these functions give back
the exact key of the few items whose float32 value is too close to a decision (the k-th key, the
hidden item's key) to decide it, so the decisions are the ones the float64 keys make, bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

# Bound on the relative error of a float32 key of a basket of m items: every term is >= 0 and
# goes through a few roundings of 2^-24 before m - 1 additions (about (m + 6) x 2^-24); the
# bound taken is four times that, and an absolute slack covers values near float32's smallest.
_REL_PER_ITEM = 2.0**-22
_REL_EXTRA = 8
_ABS_SLACK = 1e-30


def exact_keys(
    S: sp.csr_matrix,
    Q: sp.csr_matrix,
    case: np.ndarray,
    cols: np.ndarray,
    prior: np.ndarray,
    entry_values: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """The float64 key of item ``cols[p]`` for basket row ``case[p]`` of Q (binary, sorted
    columns): ``S[i, j]`` (0 when absent) summed over the basket's items in column order from
    0, then ``prior[j]``; the sums every scoring path adds, in the same order, so the same
    numbers bit for bit. With ``entry_values``, S holds other numbers (a co-occurrence) and
    ``entry_values(rows, cols, stored)`` turns the entries read into the ones summed (it must
    map an absent 0 to 0).

    Pairs are sorted by basket size (largest first) so that the t-th addition of every pair
    still adding is one slice: a loop over basket positions, not over pairs."""
    size = np.diff(Q.indptr)[case]
    order = np.argsort(-size, kind="stable")
    case_s, cols_s, size_s = case[order], cols[order], size[order]
    n_pairs, n_terms = case.size, int(size_s.sum())
    out = np.empty(n_pairs)
    if not n_terms:
        out[order] = prior[cols_s]
        return out
    pair = np.repeat(np.arange(n_pairs), size_s)
    position = np.arange(n_terms) - np.repeat(np.cumsum(size_s) - size_s, size_s)
    item = Q.indices[np.repeat(Q.indptr[case_s], size_s) + position]
    values = _entries(S, item, cols_s[pair])
    if entry_values is not None:
        values = entry_values(item, cols_s[pair], values)
    values = values[np.argsort(position, kind="stable")]  # by position, pairs in order within
    acc = np.zeros(n_pairs)
    start = 0
    for still_adding in np.bincount(position).tolist():  # a prefix: sizes are descending
        acc[:still_adding] += values[start : start + still_adding]
        start += still_adding
    acc += prior[cols_s]
    out[order] = acc
    return out


def _entries(M: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``M[rows[t], cols[t]]`` of a CSR matrix with sorted rows, 0 where absent: one search in
    each row's own entries (no lookup table over all of M for a few entries)."""
    out = np.zeros(rows.size)
    if not rows.size:
        return out
    order = np.argsort(rows, kind="stable")
    by_row = rows[order]
    starts = np.flatnonzero(np.r_[True, by_row[1:] != by_row[:-1]])
    ends = np.r_[starts[1:], by_row.size]
    indptr, indices, data = M.indptr, M.indices, M.data
    for a, b, i in zip(starts.tolist(), ends.tolist(), by_row[starts].tolist()):
        lo, hi = int(indptr[i]), int(indptr[i + 1])
        if hi == lo:
            continue
        wanted = cols[order[a:b]]
        at = np.minimum(np.searchsorted(indices[lo:hi], wanted), hi - lo - 1)
        out[order[a:b]] = np.where(indices[lo + at] == wanted, data[lo + at], 0.0)
    return out


def key_bounds(exact: np.ndarray, basket_sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float32 thresholds ``(lo, hi)`` per row around an exact float64 key ``x``: any item whose
    float32 key (for a basket of that size) is above ``hi`` has an exact key above ``x``, any
    below ``lo`` an exact key below it; only items in between need their exact key."""
    rel = (basket_sizes.astype(np.float64) + _REL_EXTRA) * _REL_PER_ITEM
    hi = (exact + _ABS_SLACK) / (1.0 - rel)
    lo = (exact - _ABS_SLACK) / (1.0 + rel)
    hi32 = hi.astype(np.float32)
    hi32 = np.where(hi32 < hi, np.nextafter(hi32, np.float32(np.inf)), hi32)
    lo32 = lo.astype(np.float32)
    lo32 = np.where(lo32 > lo, np.nextafter(lo32, np.float32(-np.inf)), lo32)
    return lo32, hi32


def key_interval(approx: np.ndarray, basket_sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The interval ``(lo, hi)`` (float64) holding the exact key of an item whose float32 key,
    for a basket of that size, is ``approx``: the inverse of ``key_bounds``."""
    rel = (basket_sizes.astype(np.float64) + _REL_EXTRA) * _REL_PER_ITEM
    return (approx - _ABS_SLACK) / (1.0 + rel), (approx + _ABS_SLACK) / (1.0 - rel)


def in_float32_range(*arrays: np.ndarray, terms: int) -> bool:
    """Whether products of one value from each array (positive ones), summed ``terms`` times,
    stay well inside float32's normal range, where the relative bound holds."""
    low, high = 1.0, float(max(terms, 1))
    for a in arrays:
        positive = a[a > 0]
        if not positive.size:
            return False
        low *= float(positive.min())
        high *= float(positive.max())
    return low > 2.0**-100 and high < 2.0**100
