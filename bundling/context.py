"""Per-upload store context: everything candidate generators share, computed once and lazily.

Why: the eight generators need the same views (in-stock products, best sellers, basket matrix,
mined itemsets, co-purchase vectors, embeddings); computing each once keeps an upload of the
whole Online Retail history well under a second.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from models.catalog import Product
from models.orders import OrderEvent

from .embeddings import Embedder, EmbeddingCache, cached_tfidf, embed_catalog
from .measures import lift
from .mining import BasketMatrix, Itemsets, extend_by_one, mine_itemsets
from .objectives import StoreMetrics, compute_metrics
from .orderarrays import OrderArrays
from .recommend import basket_weights, itemset_affinity, pair_similarities

FBT_MIN_SUPPORT = 0.01  # gate 3 needs support >= 1%
FBT_MIN_COUNT = 2  # but never a "rule" seen in a single basket
TRIPLE_SEEDS = 200


@dataclass(init=False)
class StoreContext:
    """``metrics`` and ``arrays`` may be passed in; when not, they are computed here, so after
    construction both are always set (the written-out ``__init__`` lets the types say so)."""

    catalog: Sequence[Product]
    orders: Sequence[OrderEvent]
    metrics: StoreMetrics
    embedder: Embedder | None
    embedding_cache: EmbeddingCache | None
    assumed_margin: float
    arrays: OrderArrays
    _co_cache: dict[int, np.ndarray]

    def __init__(
        self,
        catalog: Sequence[Product],
        orders: Sequence[OrderEvent],
        metrics: StoreMetrics | None = None,
        embedder: Embedder | None = None,
        embedding_cache: EmbeddingCache | None = None,
        assumed_margin: float = 0.35,
        arrays: OrderArrays | None = None,
        dense_embeddings: bool = False,
    ) -> None:
        self.catalog = catalog
        self.orders = orders
        self.embedder = embedder
        self.embedding_cache = embedding_cache
        self.assumed_margin = assumed_margin
        self._co_cache = {}
        self.dense_embeddings = dense_embeddings
        self.products: dict[str, Product] = {}
        for p in self.catalog:
            self.products.setdefault(p.product_id, p)
        self.arrays = OrderArrays.from_orders(self.orders) if arrays is None else arrays
        self.metrics = (
            compute_metrics(list(self.products.values()), self.orders, arrays=self.arrays)
            if metrics is None
            else metrics
        )

    # --- catalog views -------------------------------------------------------------------
    @cached_property
    def product_list(self) -> list[Product]:
        return list(self.products.values())

    @cached_property
    def pos(self) -> dict[str, int]:
        return {p.product_id: i for i, p in enumerate(self.product_list)}

    @cached_property
    def _sellable(self) -> np.ndarray:
        """In stock with a price, per product of ``product_list``: the one pass that asks each
        product, which the sellable views below index instead of asking again."""
        products = self.product_list
        return np.fromiter((p.in_stock and p.price > 0 for p in products), bool, len(products))

    @cached_property
    def in_stock(self) -> list[Product]:
        products = self.product_list
        return [products[i] for i in np.flatnonzero(self._sellable).tolist()]

    def margin_of(self, p: Product) -> float:
        m = p.margin
        return m if m is not None else self.assumed_margin

    # --- sales views ---------------------------------------------------------------------
    @cached_property
    def basket(self) -> BasketMatrix:
        return self.arrays.basket

    @cached_property
    def item_col(self) -> dict[str, int]:
        return self.basket.index()

    @cached_property
    def item_product(self) -> np.ndarray:
        """Position in ``product_list`` of each basket item (column), -1 when not in the catalog."""
        get, items = self.pos.get, self.basket.items
        return np.fromiter((get(str(it), -1) for it in items), np.int64, len(items))

    @cached_property
    def order_counts(self) -> np.ndarray:
        """Orders containing each catalog product (aligned with product_list)."""
        cnt = np.asarray(self.basket.X.sum(axis=0)).ravel()
        out = np.zeros(len(self.product_list))
        at = self.item_product
        known = at >= 0
        out[at[known]] = cnt[known]
        return out

    @cached_property
    def _best_seller_rows(self) -> np.ndarray:
        """Rows of ``product_list`` in best-seller order (see ``best_sellers``)."""
        rows = np.flatnonzero(self._sellable)
        products = self.product_list
        ids = [products[i].product_id for i in rows.tolist()]
        id_rank = np.empty(len(ids), np.int64)  # ids are unique: the rank breaks every tie
        id_rank[sorted(range(len(ids)), key=ids.__getitem__)] = np.arange(len(ids))
        price = np.fromiter((products[i].price for i in rows.tolist()), float, len(ids))
        return rows[np.lexsort((id_rank, -price, -self.order_counts[rows]))]

    @cached_property
    def best_sellers(self) -> list[Product]:
        """In-stock products by orders containing them (desc), then price (desc), then id."""
        products = self.product_list
        return [products[i] for i in self._best_seller_rows.tolist()]

    @cached_property
    def sold(self) -> list[Product]:
        products, rows = self.product_list, self._best_seller_rows
        return [products[i] for i in rows[self.order_counts[rows] > 0].tolist()]

    @cached_property
    def best_sellers_by_category(self) -> dict[str, list[Product]]:
        """``best_sellers`` grouped by category (categories in first-seen order, best first
        within each): every mix-and-match combo of an upload reads the same grouping."""
        return _by_category(self.best_sellers)

    @cached_property
    def sold_by_category(self) -> dict[str, list[Product]]:
        """``sold`` grouped the same way."""
        return _by_category(self.sold)

    @cached_property
    def in_stock_by_category(self) -> dict[str, list[Product]]:
        """``in_stock`` grouped the same way (catalog order within a category)."""
        return _by_category(self.in_stock)

    @cached_property
    def itemsets(self) -> Itemsets:
        """Frequent pairs at support >= max(1%, 2 baskets); triples grown from the best 200 pairs
        only, so dense wholesale baskets cannot explode the work.

        "Best" is the basket-completion model of ``bundling.recommend`` (the model the offline
        evaluation measures), evaluated on the mined itemsets only instead of fitted on the
        whole catalog: one complex sparse product gives each frequent pair its count and its
        weighted co-occurrence ``sum_b w_b`` (``w_b = 1/|b|``, the model's basket weights), and
        ``recommend.pair_similarities`` turns those into the model's ``S_ij``/``S_ji``. A
        bundle's affinity is ``recommend.itemset_affinity``: the mean ``S`` over its ordered
        pairs (stored in ``weighted["pair_affinity"]`` / ``["triple_affinity"]``). Alpha is the
        model's fallback (``recommend.ENGINE_ALPHA``): the per-store "auto" choice needs a
        validation fit, which is what this avoids."""
        n = max(self.basket.n_baskets, 1)
        ms = max(FBT_MIN_SUPPORT, FBT_MIN_COUNT / n)
        w = basket_weights(self.basket.X, self.arrays.order_ts if self.arrays is not None else None)
        its = mine_itemsets(self.basket, ms, max_len=2, weights=w)
        P = its.pairs
        if P.shape[0]:
            pop = its.weighted["items"]
            s_ab, s_ba = pair_similarities(its.weighted["pairs"], pop[P[:, 0]], pop[P[:, 1]])
            aff = itemset_affinity([(s_ab, s_ba)])
            its.weighted["pair_affinity"] = aff
            top = P[top_stable(aff, TRIPLE_SEEDS)]
            idx, cnt = extend_by_one(self.basket, top, int(np.ceil(ms * n - 1e-9)))
            keep = (cnt / n) >= ms
            T = idx[keep]
            its.levels.append((T, cnt[keep]))
            # every sub-pair of a frequent triple is a frequent pair: look its S values up
            nI = np.int64(its.items.size)
            keys = P[:, 0].astype(np.int64) * nI + P[:, 1]  # ascending: pairs are lexsorted
            sub = []
            for x, y in ((0, 1), (0, 2), (1, 2)):
                k = np.searchsorted(keys, T[:, x].astype(np.int64) * nI + T[:, y])
                sub.append((s_ab[k], s_ba[k]))
            its.weighted["triple_affinity"] = itemset_affinity(sub) if T.shape[0] else np.zeros(0)
        return its

    @cached_property
    def item_sellable(self) -> np.ndarray:
        """Basket items (columns) that are in-stock catalog products with a price."""
        at = self.item_product
        if not self._sellable.size:
            return np.zeros(at.size, bool)
        sellable: np.ndarray = (at >= 0) & self._sellable[np.maximum(at, 0)]
        return sellable

    @cached_property
    def _Xcsc(self) -> sp.csc_matrix:
        return self.basket.X.tocsc()

    @cached_property
    def item_counts(self) -> np.ndarray:
        return np.asarray(self.basket.X.sum(axis=0)).ravel().astype(float)

    def co_vector(self, pid: str) -> np.ndarray:
        """Co-purchase counts of ``pid`` with every basket item (aligned with basket.items)."""
        j = self.item_col.get(pid)
        if j is None:
            return np.zeros(self.basket.n_items)
        if j not in self._co_cache:
            Xc, X = self._Xcsc, self.basket.X
            rows = Xc.indices[Xc.indptr[j] : Xc.indptr[j + 1]]
            # the column indices of those baskets, gathered without a sparse row slice
            starts, lens = X.indptr[rows], np.diff(X.indptr)[rows]
            pos = np.repeat(starts - np.concatenate(([0], np.cumsum(lens)[:-1])), lens) + np.arange(
                int(lens.sum())
            )
            v = np.bincount(X.indices[pos], minlength=self.basket.n_items).astype(float)
            v[j] = 0.0
            self._co_cache[j] = v
        return self._co_cache[j]

    def pair_stats(self, a: str, b: str) -> tuple[float, float, float]:
        """(support, confidence a->b, lift) from the baskets; zeros when unseen."""
        ja, jb = self.item_col.get(a), self.item_col.get(b)
        n = self.basket.n_baskets
        if ja is None or jb is None or n == 0:
            return 0.0, 0.0, 0.0
        c = self.co_vector(a)[jb]
        ca, cb = self.item_counts[ja], self.item_counts[jb]
        pair_lift = float(lift(c, ca, cb, n)) if ca and cb else 0.0
        return c / n, c / ca if ca else 0.0, pair_lift

    def partners(
        self, pid: str, k: int = 10, *, pool: set[str] | None = None
    ) -> list[tuple[str, float]]:
        """Top co-purchased in-stock catalog partners by cosine of co-purchase (count/sqrt(ci cj))."""
        v = self.co_vector(pid)
        if not v.any():
            return []
        ja = self.item_col[pid]
        score = v / np.sqrt(np.maximum(self.item_counts, 1) * max(self.item_counts[ja], 1))
        out: list[tuple[str, float]] = []
        for j in np.argsort(-score, kind="stable")[: 8 * k + 20]:
            if score[j] <= 0:
                break
            q = str(self.basket.items[j])
            p = self.products.get(q)
            if p is None or not p.in_stock or p.price <= 0 or (pool is not None and q not in pool):
                continue
            out.append((q, float(score[j])))
            if len(out) >= k:
                break
        return out

    # --- semantics -----------------------------------------------------------------------
    dense_embeddings: bool = False

    @cached_property
    def embeddings(self) -> np.ndarray | sp.csr_matrix:
        """Dense embeddings (cold start, or an explicit embedder); otherwise the L2-normalised
        TF-IDF rows, whose cosines are as good for coherence and need no SVD on big catalogs.
        Both are read from ``embedding_cache`` by content hash when the catalog was seen before
        (the steady state of a store), so a warm upload tokenises nothing."""
        if self.dense_embeddings or self.embedder is not None:
            return embed_catalog(self.product_list, self.embedder, self.embedding_cache)
        return cached_tfidf(self.product_list, self.embedding_cache)

    def use_dense_embeddings(self) -> None:
        """Switch to dense embeddings (cold start needs real semantic neighbours, which sparse
        TF-IDF rows of short titles do not give) and forget any sparse ones already computed."""
        self.dense_embeddings = True
        # a functools.cached_property stores its value in the instance dict; deleting it there
        # is the documented way to make the next access compute it again
        self.__dict__.pop("embeddings", None)

    def similar(
        self,
        pid: str,
        lo: float = -1.0,
        hi: float = 1.01,
        k: int = 10,
        candidates: Sequence[Product] | None = None,
    ) -> list[tuple[Product, float]]:
        E = self.embeddings
        i = self.pos[pid]
        pool = candidates if candidates is not None else self.in_stock
        idx = np.array([self.pos[p.product_id] for p in pool if p.product_id != pid], dtype=int)
        if idx.size == 0:
            return []
        s = E[idx] @ E[i].T
        s = np.asarray(s.toarray() if hasattr(s, "toarray") else s).ravel()
        m = (s >= lo) & (s <= hi)
        order = np.argsort(-s, kind="stable")
        out = [(self.product_list[idx[o]], float(s[o])) for o in order if m[o]]
        return out[:k]


def top_stable(rank: np.ndarray, k: int) -> np.ndarray:
    """``np.argsort(-rank, kind="stable")[:k]`` without sorting everything: partition, keep
    every value tied with the k-th, stable-sort that short list (ascending index breaks ties).
    A rank with NaNs (which a partition would leave out) is sorted whole."""
    if rank.size <= 4 * k or np.isnan(rank).any():
        return np.argsort(-rank, kind="stable")[:k]
    neg = -rank
    kth = np.partition(neg, k - 1)[k - 1]
    cand = np.flatnonzero(neg <= kth)
    return cand[np.argsort(neg[cand], kind="stable")][:k]


def _by_category(products: Sequence[Product]) -> dict[str, list[Product]]:
    out: dict[str, list[Product]] = {}
    for p in products:
        group = out.get(p.category)
        if group is None:
            out[p.category] = [p]
        else:
            group.append(p)
    return out


def bundle_id(bundle_type: str, objective: str, product_ids: Sequence[str]) -> str:
    """Deterministic id: the same bundle from a replay gets the same id."""
    h = hashlib.sha1(f"{bundle_type}|{objective}|{'|'.join(product_ids)}".encode()).hexdigest()[:12]
    return f"{bundle_type.lower()}-{h}"
