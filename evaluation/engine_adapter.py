"""The bundle engine behind the evaluation protocol.

Basket completion uses the engine's own item-item model (``bundling.recommend``); the bundle hit
rate uses the bundles of ``bundling.engine.generate_bundle_set`` run on the training orders only,
exactly as an upload of that history would produce them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from models.catalog import Product
from models.orders import OrderEvent

from .split import Basket


class EngineUnavailable(RuntimeError):
    """The bundling package (or one of its APIs) is not there yet."""


class EngineRecommender:
    name = "engine"

    def __init__(self, orders: Sequence[OrderEvent], catalog: Sequence[Product] = ()) -> None:
        try:
            from bundling.engine import generate_bundle_set
            from bundling.recommend import BasketRecommender
        except ImportError as exc:
            raise EngineUnavailable(f"bundling engine API missing: {exc}") from exc
        self._generate = generate_bundle_set
        self._model = BasketRecommender()
        self._orders = orders
        self._catalog = list(catalog)
        self._bundles: list[tuple[str, ...]] = []
        self.fit_seconds = 0.0
        self.notes = ""

    def fit(self, train: Sequence[Basket]) -> EngineRecommender:
        started = time.perf_counter()
        self._model.fit(train)
        model_s = time.perf_counter() - started
        keep = {b.order_id for b in train}
        train_orders = [o for o in self._orders if o.order_id in keep]
        t = time.perf_counter()
        bundle_set, _ = self._generate("eval", "eval", self._catalog, train_orders)
        bundle_s = time.perf_counter() - t
        self._bundles = [tuple(p.product_id for p in b.products) for b in bundle_set.bundles]
        self.fit_seconds = time.perf_counter() - started
        sizes = sorted(len(b) for b in self._bundles)
        self.notes = (
            f"model fit {model_s:.3f}s; bundle set {bundle_s:.3f}s, status {bundle_set.status}, "
            f"{len(self._bundles)} bundles (sizes {sizes}), cold_start {bundle_set.metrics.cold_start}"
        )
        return self

    def recommend(self, basket: Sequence[str], k: int) -> list[str]:
        return self._model.recommend(basket, k)

    def recommend_batch(self, baskets: Sequence[Sequence[str]], k: int) -> list[list[str]]:
        return self._model.recommend_batch(baskets, k)

    def bundles(self, n: int = 10) -> list[tuple[str, ...]]:
        return self._bundles[:n]
