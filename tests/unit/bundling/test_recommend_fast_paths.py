"""The basket model's fast paths give exactly the numbers of the plain computations they replace,
on a real slice of Online Retail (its first 3,000 invoices): the similarity built per item, the
validation ranks read without building lists, and S scored as a dense array."""

from __future__ import annotations

import csv
import dataclasses
import gzip
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from bundling import recommend
from bundling.exact_keys import exact_keys, key_bounds
from bundling.measures import hit_ranks, hit_rate_at_k, ndcg_at_k
from bundling.recommend import (
    ALPHA_GRID,
    _cooccurrence,
    _from_orders,
    _hidden_ranks,
    _holdout_score,
    _sim_values,
    _similarity,
    basket_weights,
    fit_basket_model,
    top_k_per_row,
)
from evaluation.split import Basket, CompletionCases, completion_cases, time_split

INVOICES = 3000


@pytest.fixture(scope="module")
def retail_slice(data_dir: Path) -> tuple[list[Basket], CompletionCases]:
    """The first invoices of Online Retail (no cancellations or returns), split as
    ``bundlestream eval`` splits: training baskets and hide-one test cases."""
    items: dict[str, set[str]] = {}
    times: dict[str, datetime] = {}
    with gzip.open(data_dir / "online_retail.csv.gz", "rt", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            invoice = row["InvoiceNo"]
            if invoice.startswith(("C", "A")) or float(row["Quantity"]) <= 0:
                continue
            if invoice not in items and len(items) == INVOICES:
                break
            items.setdefault(invoice, set()).add(row["StockCode"])
            times.setdefault(invoice, datetime.fromisoformat(row["InvoiceDate"]))
    baskets = [Basket(i, times[i], tuple(sorted(its))) for i, its in items.items()]
    split = time_split(baskets)
    return split.train, completion_cases(split.test)


def _fit_inputs(train: list[Basket]) -> tuple[sp.csr_matrix, sp.csr_matrix, np.ndarray]:
    matrix, _ = _from_orders(train)
    X = sp.csr_matrix(matrix.X, dtype=np.float64)
    C, pop = _cooccurrence(X, basket_weights(X))
    return X, C, pop


def test_similarity_equals_the_formula_applied_per_pair(retail_slice):
    _, C, pop = _fit_inputs(retail_slice[0])
    h, q = recommend.DEFAULTS["shrink"], recommend.DEFAULTS["locality"]
    assert isinstance(h, float) and isinstance(q, float)
    pairs = C.tocoo()
    for a in ALPHA_GRID:
        S = _similarity(C, pop, a, h, q)
        values = _sim_values(pairs.data, pop[pairs.row], pop[pairs.col], a, h, q)
        plain = sp.csr_matrix((values, (pairs.row, pairs.col)), shape=C.shape)
        plain.eliminate_zeros()
        assert S.nnz > 0
        assert np.array_equal(S.indptr, plain.indptr)
        assert np.array_equal(S.indices, plain.indices)
        assert np.array_equal(S.data, plain.data)  # bit for bit, not approximately
        spent = C.copy()
        in_place = _similarity(spent, pop, a, h, q, out=spent.data)  # the final fit's way
        assert in_place.data is spent.data or np.shares_memory(in_place.data, spent.data)
        assert np.array_equal(in_place.indices, plain.indices)
        assert np.array_equal(in_place.data, plain.data)


def test_holdout_score_equals_ranking_the_recommended_lists(retail_slice):
    train = retail_slice[0]
    X, _, _ = _fit_inputs(train)
    rows = np.arange(X.shape[0] - X.shape[0] // 5, X.shape[0])
    for a in ALPHA_GRID:
        model = fit_basket_model(train, alpha=a)
        given, hidden = [], []
        for r in rows.tolist():
            cols = X.indices[X.indptr[r] : X.indptr[r + 1]]
            if cols.size < 2:
                continue
            h = int(cols[(r * 2654435761) % cols.size])
            given.append([str(model.items[c]) for c in cols if c != h])
            hidden.append(str(model.items[h]))
        ranks = hit_ranks(model.recommend_batch(given, 10), hidden)
        assert len(hidden) >= 100 and ranks.any()
        assert _holdout_score(model, X, rows) == hit_rate_at_k(ranks, 10) + ndcg_at_k(ranks, 10)


@pytest.mark.parametrize("k", [10, 300])  # 300: most baskets also take the two-hop backoff
def test_dense_and_sparse_scoring_rank_every_case_the_same(retail_slice, monkeypatch, k):
    train, cases = retail_slice
    dense = fit_basket_model(train)
    dense_lists = dense.recommend_batch(cases.given, k)
    assert dense._dense_S_blocks32 is not None  # float32 keys, exact where they are too close
    assert np.array_equal(dense._dense_S_blocks, recommend._dense_blocks(dense.S))
    assert dense.recommend_batch(cases.given, k) == dense_lists  # the float32 copy is intact
    monkeypatch.setattr(recommend, "_DENSE_S_CELLS", 0)
    sparse = fit_basket_model(train)
    assert sparse._dense_S_blocks is None and sparse._dense_S_blocks32 is None
    assert sparse.params == dense.params  # the same alpha chosen on the validation baskets
    sparse_lists = sparse.recommend_batch(cases.given, k)
    assert len(cases) > 100
    assert sparse_lists == dense_lists
    dense_ranks = hit_ranks(dense_lists, cases.hidden)
    sparse_ranks = hit_ranks(sparse_lists, cases.hidden)
    assert hit_rate_at_k(dense_ranks, 10) == hit_rate_at_k(sparse_ranks, 10) > 0
    assert ndcg_at_k(dense_ranks, 10) == ndcg_at_k(sparse_ranks, 10)


def test_hidden_ranks_are_the_positions_in_the_top_k_lists():
    """Integer keys make ties at every position, the boundary of the top k included."""
    rng = np.random.default_rng(7)
    key = rng.integers(0, 5, size=(400, 30)).astype(np.float64)
    key[rng.random(key.shape) < 0.2] = -np.inf  # basket items
    hidden = rng.integers(0, 30, size=400)
    key[np.arange(400), hidden] = rng.integers(0, 5, size=400)  # the hidden item is never -inf
    straddling = 0
    for k in (1, 3, 10, 30):
        top, valid = top_k_per_row(key, k)
        lists = [row[ok].tolist() for row, ok in zip(top, valid)]
        expected = hit_ranks(lists, hidden.tolist())
        assert np.array_equal(_hidden_ranks(key, hidden, k), expected)
        h_key = key[np.arange(400), hidden][:, None]
        above, tied = (key > h_key).sum(axis=1), (key == h_key).sum(axis=1)
        straddling += int(((above < k) & (above + tied > k)).sum())
    assert straddling > 0  # the rows ranked by the argpartition itself were exercised


def test_cooccurrence_equals_the_product_with_its_diagonal_set_to_zero(retail_slice):
    """The in-place sort and diagonal removal keep exactly the entries, in the order, of the
    plain product stripped of its diagonal."""
    matrix, _ = _from_orders(retail_slice[0])
    X = sp.csr_matrix(matrix.X, dtype=np.float64)
    w = basket_weights(X)
    C, pop = _cooccurrence(X, w)
    plain = (X.T @ sp.diags(w) @ X).tocsr()
    diagonal = plain.diagonal()
    plain.setdiag(0)
    plain.eliminate_zeros()
    plain.sort_indices()
    assert C.nnz > 0 and C.has_sorted_indices
    assert np.array_equal(pop, diagonal)
    assert np.array_equal(C.indptr, plain.indptr)
    assert np.array_equal(C.indices, plain.indices)
    assert np.array_equal(C.data, plain.data)  # the same sums, bit for bit
    assert (C.diagonal() == 0).all()


def test_dense_blocks_hold_s_column_by_column():
    rng = np.random.default_rng(3)
    n = recommend._BLOCK_COLUMNS * 2 + 37  # a padded last block
    S = sp.random(n, n, density=0.05, format="csr", random_state=rng)
    blocks = recommend._dense_blocks(S, np.full((3, n, recommend._BLOCK_COLUMNS), np.nan))
    dense = S.toarray()
    assert blocks.shape == (3, n, recommend._BLOCK_COLUMNS)
    side_by_side = np.concatenate(list(blocks), axis=1)
    assert np.array_equal(side_by_side[:, :n], dense)
    assert not side_by_side[:, n:].any()  # the padding is zero, whatever the buffer held


def test_alpha_search_picks_what_fitting_each_alpha_from_scratch_picks(retail_slice):
    """The search shares one co-occurrence, one buffer of similarity values and one dense copy
    of S between its candidates; a fresh model per candidate gives the same scores, hence the
    same alpha (ties: the first), and the final model the lists of a fit with that alpha."""
    train, cases = retail_slice
    matrix, ts = _from_orders(train)
    X = sp.csr_matrix(matrix.X, dtype=np.float64)
    order = np.argsort(ts, kind="stable")
    cut = X.shape[0] - round(X.shape[0] * 0.2)
    validation = order[cut:]
    validation = validation[np.diff(X.indptr)[validation] >= 2]
    assert recommend.AUTO_MIN_CASES <= validation.size <= recommend.AUTO_MAX_CASES
    h, q = recommend.DEFAULTS["shrink"], recommend.DEFAULTS["locality"]
    pop_weight, two_hop = recommend.DEFAULTS["pop_weight"], recommend.DEFAULTS["two_hop"]
    assert isinstance(h, float) and isinstance(q, float) and isinstance(pop_weight, float)
    scores = []
    for a in ALPHA_GRID:
        Xf = X[order[:cut]]
        C, pop = _cooccurrence(Xf, basket_weights(Xf))
        fresh = recommend.BasketModel(
            matrix.items,
            _similarity(C, pop, a, h, q),
            pop,
            pop,
            cut,
            pop_weight,
            {"two_hop": two_hop},
        )
        scores.append(_holdout_score(fresh, X, validation))
    assert len(set(scores)) > 1  # the candidates do differ on this slice
    searched = fit_basket_model(train)
    assert searched.params["alpha"] == ALPHA_GRID[int(np.argmax(scores))]
    fixed = fit_basket_model(train, alpha=searched.params["alpha"])
    assert searched.recommend_batch(cases.given, 10) == fixed.recommend_batch(cases.given, 10)


def _plain_top_k(key: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The top k as an argpartition of every row then a sort of its k survivors."""
    part = np.argpartition(-key, k - 1, axis=1)[:, :k]
    part_keys = np.take_along_axis(key, part, axis=1)
    top = np.take_along_axis(part, np.lexsort((part, -part_keys), axis=1), axis=1)
    return top, np.take_along_axis(key, top, axis=1) > -np.inf


@pytest.mark.parametrize("k", [1, 3, 10, 29, 30])
def test_top_k_equals_an_argpartition_of_every_row(k):
    """Few distinct values: ties at position k in many rows, whole rows of -inf in some."""
    rng = np.random.default_rng(11)
    key = rng.integers(0, 6, size=(500, 30)).astype(np.float64)
    key[rng.random(key.shape) < 0.3] = -np.inf
    key[:5] = -np.inf
    key[5:200] += rng.random((195, 30))  # distinct values: no straddling tie in these rows
    top, valid = top_k_per_row(key, k)
    plain_top, plain_valid = _plain_top_k(key, k)
    assert np.array_equal(top, plain_top)
    assert np.array_equal(valid, plain_valid)
    assert not valid[:5].any() and valid[5:200, :3].all()
    kth = -np.sort(-key, axis=1)[:, k - 1 : k]
    straddling = (key > kth).sum(axis=1) + (key == kth).sum(axis=1) > k
    # rows left to the argpartition, and (but for k = 29: -inf ties everywhere) rows selected by
    # their k-th value; k = 30 takes whole rows
    assert straddling.any() == (k < 30)
    assert not straddling.all() or k >= 29


def test_threaded_scoring_gives_the_lists_of_one_thread(retail_slice, monkeypatch):
    train, cases = retail_slice
    monkeypatch.setattr(recommend, "_CHUNK_CELLS", 50_000)  # many chunks
    threaded = fit_basket_model(train)
    assert threaded.chunk_rows() < len(cases) // 4
    lists = threaded.recommend_batch(cases.given, 10)
    monkeypatch.setattr(recommend, "_SCORING_THREADS", 1)
    single = fit_basket_model(train)
    assert single.params == threaded.params
    assert single.recommend_batch(cases.given, 10) == lists


def test_cooccurrence_on_threads_equals_the_plain_product_bit_for_bit(monkeypatch):
    """Any block count gives the plain product's off-diagonal entries, sorted, with the same
    sums (the weights are not powers of two, so another order of addition would show in the
    bits), its diagonal, and no zero sums (a basket of weight 0 adds only zeros)."""
    rng = np.random.default_rng(5)
    X = sp.random(600, 300, density=0.05, format="csr", random_state=rng)
    X.data[:] = 1.0
    X[7] = 0  # an empty basket
    X.eliminate_zeros()
    w = 1.0 / rng.integers(1, 97, size=600)
    w[11] = 0.0
    plain = (X.T.tocsr() @ sp.csr_matrix(sp.diags(w) @ X)).tocsr()
    assert not plain.has_sorted_indices  # the product leaves rows unordered
    diagonal = plain.diagonal()
    plain.setdiag(0)
    plain.eliminate_zeros()
    plain.sort_indices()
    for threads in (1, 2, 3, 4):
        monkeypatch.setattr(recommend, "_SCORING_THREADS", threads)
        C, pop = _cooccurrence(X, w)
        assert C.has_sorted_indices
        assert np.array_equal(pop, diagonal)
        assert np.array_equal(C.indptr, plain.indptr)
        assert np.array_equal(C.indices, plain.indices)
        assert np.array_equal(C.data, plain.data)


def _validation_cases(train: list[Basket]) -> tuple[sp.csr_matrix, np.ndarray, int]:
    """X and the alpha search's validation rows (the newest 20% with 2+ items), and the cut."""
    matrix, ts = _from_orders(train)
    X = sp.csr_matrix(matrix.X, dtype=np.float64)
    order = np.argsort(ts, kind="stable")
    cut = X.shape[0] - round(X.shape[0] * 0.2)
    validation = order[cut:]
    return X, validation[np.diff(X.indptr)[validation] >= 2], cut


def test_exact_keys_equal_the_scored_keys_bit_for_bit(retail_slice):
    train, cases = retail_slice
    model = fit_basket_model(train, alpha=0.6)
    Q = model.query_matrix(cases.given)
    one_hop = model._one_hop(Q) + model._prior
    rng = np.random.default_rng(13)
    case = rng.integers(0, Q.shape[0], 5000)
    cols = rng.integers(0, model.n_items, 5000)
    keys = exact_keys(model.S, Q, case, cols, model._prior)
    assert np.array_equal(keys, one_hop[case, cols])
    assert np.count_nonzero(keys > model._prior[cols]) > 100  # most pairs are not just the prior


def test_float32_keys_stay_within_their_bounds(retail_slice):
    """The factored float32 keys of the alpha screen, against the exact keys of every item."""
    train, _ = retail_slice
    X, rows, cut = _validation_cases(train)
    Xf = X[:cut]
    C, pop = _cooccurrence(Xf, basket_weights(Xf))
    given = X[rows]
    sizes = np.diff(given.indptr)
    for a in ALPHA_GRID:
        model = recommend.BasketModel(
            np.arange(X.shape[1]), _similarity(C, pop, a, 0.0, 2.0), pop, pop, cut, 1e-6, {}
        )
        exact = model._one_hop(given, dense=False) + model._prior
        seen = pop > 0
        left, right = np.zeros(pop.size), np.zeros(pop.size)
        left[seen], right[seen] = pop[seen] ** (-2 * a), pop[seen] ** (-2 * (1 - a))
        weighted = sp.csr_matrix(
            (left[given.indices].astype(np.float32), given.indices, given.indptr), given.shape
        )
        G = sp.csr_matrix((C.data**2, C.indices, C.indptr), C.shape).astype(np.float32)
        approx = (weighted @ G).toarray() * right.astype(np.float32)
        approx += model._prior.astype(np.float32)
        for r in range(0, exact.shape[0], 97):
            lo, hi = key_bounds(exact[r], np.full(exact.shape[1], sizes[r]))
            assert ((lo <= approx[r]) & (approx[r] <= hi)).all()
        assert not np.array_equal(approx, exact)  # float32 does round


def test_alpha_screen_scores_equal_the_exact_holdout_scores(retail_slice):
    train, _ = retail_slice
    X, rows, cut = _validation_cases(train)
    Xf = X[:cut]
    C, pop = _cooccurrence(Xf, basket_weights(Xf))
    buffer = recommend._dense_buffer(X.shape[1])
    values = np.empty(C.nnz)
    held = recommend._holdout_cases(X, rows)
    assert held is not None and buffer is not None
    screen = recommend._AlphaScreen(C, pop, 2.0, *held, buffer, values)

    def model_of(S: sp.csr_matrix) -> recommend.BasketModel:
        return recommend.BasketModel(
            np.arange(X.shape[1]), S, pop, pop, cut, 1e-6, {"two_hop": 0.5}
        )

    redone = 0
    for a in ALPHA_GRID:
        screened = screen.score(a, model_of)
        assert screened is not None
        S = _similarity(C, pop, a, 0.0, 2.0, out=values)
        assert screened == _holdout_score(model_of(S), X, rows)  # bit for bit
        redone += int(recommend._SimilarityAt(C, pop, a, 2.0).keeps_every_entry(screen.c_range))
    assert redone == len(ALPHA_GRID)


def test_similarity_entries_where_read_are_the_built_ones(retail_slice):
    """The alpha search's S entries, computed where they are read, and the rows it builds for
    whole-row ranking (with two-hop neighbours) are ``_similarity``'s, bit for bit."""
    train, _ = retail_slice
    X, _, _ = _validation_cases(train)
    C, pop = _cooccurrence(X, basket_weights(X))
    for a in ALPHA_GRID:
        S = _similarity(C, pop, a, 0.0, 2.0)
        at = recommend._SimilarityAt(C, pop, a, 2.0)
        rows = np.repeat(np.arange(C.shape[0]), np.diff(C.indptr))
        assert np.array_equal(at.values(rows, C.indices, C.data), S.data)
        assert np.array_equal(at.values(rows[:5], C.indices[:5], np.zeros(5)), np.zeros(5))
        model = recommend.BasketModel(
            np.arange(C.shape[0]), S, pop, pop, X.shape[0], 1e-6, {"two_hop": 0.5}
        )
        Q = X[:300]
        part = at.rows_for(Q)
        keys = dataclasses.replace(model, S=part).ranking_keys(Q, 10, dense=False)
        assert np.array_equal(keys, model.ranking_keys(Q, 10, dense=False))
        needed = np.unique(Q.indices)
        assert np.array_equal(part[needed].toarray(), S[needed].toarray())
        per_row = np.diff(C.indptr)
        rare = int(np.argmin(np.where(per_row > 0, per_row, per_row.max() + 1)))
        lone = sp.csr_matrix(([1], [rare], [0, 1]), shape=(1, C.shape[0]))
        assert 0 < at.rows_for(lone).nnz < S.nnz  # rows no hop reads stay empty


def test_similarity_entries_that_could_vanish_send_the_search_to_the_whole_s():
    C = sp.csr_matrix(np.array([[0.0, 1e-200], [1e-200, 0.0]]))
    assert not recommend._SimilarityAt(C, np.array([1.0, 1.0]), 0.6, 2.0).keeps_every_entry(
        (1e-200, 1e-200)
    )  # (1e-200)^2 underflows
    C = sp.csr_matrix(np.array([[0.0, 0.5], [0.5, 0.0]]))
    ok = recommend._SimilarityAt(C, np.array([2.0, 3.0]), 0.6, 2.0)
    assert ok.keeps_every_entry((0.5, 0.5))
    no_count = recommend._SimilarityAt(C, np.array([0.0, 3.0]), 0.6, 2.0)
    assert not no_count.keeps_every_entry((0.5, 0.5))  # 0^a in a denominator


@pytest.mark.parametrize("k", [1, 10, 40])
def test_top_k_of_wide_rows_equals_an_argpartition_of_every_row(k):
    """Rows wider than a few column blocks take the block-maxima path: few distinct values (ties
    at position k), distinct values, rows of -inf, rows with fewer than k real entries."""
    rng = np.random.default_rng(17)
    n = recommend._BLOCK_COLUMNS * 90 + 51  # a partial last block
    key = rng.integers(0, 40, size=(300, n)).astype(np.float64)
    key[100:200] += rng.random((100, n))  # distinct values
    key[rng.random(key.shape) < 0.1] = -np.inf
    key[:3] = -np.inf
    key[3:6, k // 2 :] = -np.inf  # fewer than k real entries
    key[6:9] = 5.0  # one tie across the whole row
    top, valid = top_k_per_row(key, k)
    plain_top, plain_valid = _plain_top_k(key, k)
    assert np.array_equal(top, plain_top)
    assert np.array_equal(valid, plain_valid)


def test_scipys_transpose_kernel_fills_slices_of_arrays_it_is_given():
    """The co-occurrence writes each block's transpose straight into C through scipy's private
    ``_sparsetools.csr_tocsc`` (what ``tocsc`` calls): an upgrade that moves or changes it must
    fail here, by name."""
    from scipy.sparse import _sparsetools

    rng = np.random.default_rng(3)
    A = sp.random(40, 30, density=0.2, format="csr", random_state=rng)
    data, indices = np.full(A.nnz + 5, -1.0), np.full(A.nnz + 5, -1, A.indices.dtype)
    indptr = np.empty(31, A.indices.dtype)
    _sparsetools.csr_tocsc(
        40, 30, A.indptr, A.indices, A.data, indptr, indices[2 : 2 + A.nnz], data[2 : 2 + A.nnz]
    )
    plain = A.tocsc()
    assert np.array_equal(indptr, plain.indptr)
    assert np.array_equal(indices[2 : 2 + A.nnz], plain.indices)
    assert np.array_equal(data[2 : 2 + A.nnz], plain.data)
    assert (data[:2] == -1).all() and (data[2 + A.nnz :] == -1).all()  # nothing else written


@pytest.mark.parametrize("shape", [(3, 0), (0, 4), (2, 1)])
def test_cooccurrence_of_no_items_no_baskets_or_one_item(shape):
    """The edges a store can reach (a history whose orders name no known product, no orders,
    one product): an empty or one-item C, the counts as the plain product gives them."""
    X = sp.csr_matrix(np.ones(shape))
    C, pop = _cooccurrence(X, np.ones(shape[0]))
    assert C.shape == (shape[1], shape[1]) and C.nnz == 0
    assert np.array_equal(pop, np.asarray(X.sum(axis=0)).ravel())
