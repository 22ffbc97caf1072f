"""Embedding cache hit paths, the weighted mining product, sparse coherence, and "one model":
FBT candidates are ranked with the same S_ij as ``bundling.recommend.fit_basket_model``."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import scipy.sparse as sp

import bundling.embeddings as emb
from bundling.candidates import gen_fbt
from bundling.context import StoreContext
from bundling.embeddings import InMemoryCache, cached_tfidf, coherence, tfidf_matrix
from bundling.engine import generate_bundle_set
from bundling.mining import BasketMatrix, mine_itemsets
from bundling.recommend import ENGINE_ALPHA, fit_basket_model
from models.bundles import Objective
from models.catalog import Product
from models.orders import OrderEvent, OrderLine

T0 = datetime(2024, 1, 1, tzinfo=UTC)
CATS = ["kitchen", "garden", "desk"]


def _catalog(n: int = 18) -> list[Product]:
    return [
        Product(
            product_id=f"p{i}",
            title=f"{CATS[i % 3]} item {i} {'mug cup' if i % 2 else 'lamp'}",
            category=CATS[i % 3],
            price=10.0 + i,
            cost=4.0 + i / 2,
            inventory=50,
        )
        for i in range(n)
    ]


def _orders(catalog: list[Product], n_orders: int, seed: int = 3) -> list[OrderEvent]:
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n_orders):
        size = int(rng.integers(1, 5))
        first = int(rng.integers(0, 6))  # a popular head
        ids = {first, *(int(x) for x in rng.integers(0, len(catalog), size - 1))}
        if rng.random() < 0.5:
            ids.add((first + 3) % len(catalog))  # a planted complement
        out.append(
            OrderEvent(
                order_id=f"o{k}",
                store_id="s",
                created_at=T0 + timedelta(hours=k),
                lines=[
                    OrderLine(product_id=catalog[i].product_id, quantity=1, price=catalog[i].price)
                    for i in sorted(ids)
                ],
            )
        )
    return out


class CountingEmbedder:
    name = "counting-3"
    corpus_dependent = False

    def __init__(self) -> None:
        self.calls = 0
        self.texts = 0

    def embed(self, texts):
        self.calls += 1
        self.texts += len(texts)
        v = np.array(
            [[len(t) % 7 + 1.0, t.count("mug") + 1.0, t.count("lamp") + 0.5] for t in texts],
            np.float32,
        )
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def _strip(bs):
    d = bs.model_dump(mode="json")
    d.pop("metrics")
    return d


def test_dense_cache_hit_skips_the_embedder():
    cat = _catalog()
    orders = _orders(cat, 5)  # cold start: dense embeddings
    e, cache = CountingEmbedder(), InMemoryCache()
    first, _ = generate_bundle_set("u1", "s", cat, orders, embedder=e, embedding_cache=cache)
    assert e.calls == 1 and e.texts == len(cat) and len(cache) == len(cat)
    second, _ = generate_bundle_set("u2", "s", cat, orders, embedder=e, embedding_cache=cache)
    assert e.calls == 1  # warm: every vector came from the cache
    assert first.metrics.cold_start and [b.bundle_id for b in first.bundles] == [
        b.bundle_id for b in second.bundles
    ]


def test_tfidf_cache_hit_skips_tokenising(monkeypatch):
    cat = _catalog()
    orders = _orders(cat, 300)
    calls = []
    real = emb.tfidf_matrix
    monkeypatch.setattr(emb, "tfidf_matrix", lambda texts: calls.append(len(texts)) or real(texts))
    cache = InMemoryCache()
    cold, _ = generate_bundle_set("u1", "s", cat, orders, embedding_cache=cache)
    assert calls == [len(cat)]
    warm, _ = generate_bundle_set("u2", "s", cat, orders, embedding_cache=cache)
    assert calls == [len(cat)]  # the warm run rebuilt the rows from the cache
    assert not cold.metrics.cold_start
    assert _strip(cold)["bundles"] == _strip(warm)["bundles"]  # bit-identical scores


def test_cached_tfidf_round_trip_is_exact_through_float32_bytes():
    cat = [*_catalog(), _catalog()[0].model_copy(update={"product_id": "dup"})]  # a duplicate text

    class Float32Bytes(InMemoryCache):  # what the agent's Redis cache does to values
        def put_many(self, items):
            super().put_many(
                {
                    k: np.frombuffer(np.asarray(v, np.float32).tobytes(), np.float32)
                    for k, v in items.items()
                }
            )

    cache = Float32Bytes()
    M = cached_tfidf(cat, cache)
    R = cached_tfidf(cat, cache)
    ref = tfidf_matrix([emb.product_text(p) for p in cat])
    for A in (M, R):
        assert A.shape == ref.shape
        assert np.array_equal(A.indptr, ref.indptr) and np.array_equal(A.indices, ref.indices)
        assert np.array_equal(A.data, ref.data)
    # another order of the same products is another corpus layout: a miss, not mixed rows
    before = len(cache)
    cached_tfidf(cat[::-1], cache)
    assert len(cache) > before


def test_sparse_coherence_equals_dense():
    cat = _catalog()
    E = tfidf_matrix([emb.product_text(p) for p in cat])
    D = E.toarray()
    for ii in ([0, 1], [0, 3, 6], [2, 5, 7], [4]):
        S = D[ii] @ D[ii].T
        n = len(ii)
        ref = 1.0 if n < 2 else min(1.0, max(0.0, (S.sum() - np.trace(S)) / (n * (n - 1))))
        assert coherence(E, ii) == pytest.approx(ref, abs=1e-12)
        assert coherence(sp.csr_matrix(E), ii) == pytest.approx(coherence(D, ii), abs=1e-12)


def test_weighted_mining_counts_and_sums():
    rng = np.random.default_rng(0)
    baskets = [
        sorted(set(rng.integers(0, 12, int(rng.integers(1, 6))).tolist())) for _ in range(150)
    ]
    m = BasketMatrix.from_baskets([[str(i) for i in b] for b in baskets])
    w = 1.0 / np.maximum(np.diff(m.X.indptr), 1)
    plain = mine_itemsets(m, 0.02, max_len=3)
    its = mine_itemsets(m, 0.02, max_len=3, weights=w)
    for (a, ca), (b, cb) in zip(plain.levels, its.levels):
        assert np.array_equal(a, b) and np.array_equal(ca, cb)
    X = m.X.toarray().astype(bool)
    for (i, j), s in zip(its.pairs.tolist(), its.weighted["pairs"].tolist()):
        assert s == pytest.approx(w[X[:, i] & X[:, j]].sum(), abs=1e-12)
    assert np.allclose(its.weighted["items"], (X * w[:, None]).sum(axis=0))


def test_fbt_ranks_with_the_fitted_recommenders_similarity():
    cat = _catalog()
    orders = _orders(cat, 400)
    ctx = StoreContext(cat, orders)
    its = ctx.itemsets
    model = fit_basket_model(orders, alpha=ENGINE_ALPHA)
    col = model.index()
    S = model.S.toarray()
    assert its.pairs.shape[0] > 5 and its.triples.shape[0] > 0
    for (i, j), aff in zip(its.pairs.tolist(), its.weighted["pair_affinity"].tolist()):
        a, b = col[str(its.items[i])], col[str(its.items[j])]
        assert aff == pytest.approx((S[a, b] + S[b, a]) / 2, rel=1e-9)
    for t, aff in zip(its.triples.tolist(), its.weighted["triple_affinity"].tolist()):
        c = [col[str(its.items[x])] for x in t]
        ref = np.mean([S[x, y] for x, y in itertools.permutations(c, 2)])
        assert aff == pytest.approx(ref, rel=1e-9)
    drafts = gen_fbt(ctx, Objective.INCREASE_AOV)
    assert drafts
    got = [d.extra["recommender_score"] for d in drafts]
    assert got == sorted(got, reverse=True)  # no featured boost for increase_aov: model order
    best = max(its.weighted["pair_affinity"].max(), its.weighted["triple_affinity"].max())
    assert got[0] == pytest.approx(best)
