"""The store context's sellable views (best sellers, sold, sellable basket items, order counts)
against their per-product definitions, on a catalog built to tie on counts and prices."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from bundling.context import StoreContext
from models.catalog import Product
from models.orders import OrderEvent, OrderLine

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _store(seed: int) -> StoreContext:
    rng = random.Random(seed)
    catalog = [
        Product(
            product_id=f"p{rng.randrange(60)}-{i}",
            title=f"t{i}",
            category=rng.choice(["mugs", "bags", "cards"]),
            price=rng.choice([0.0, 1.0, 2.5, 2.5, 9.0]),
            inventory=rng.choice([None, 0, 3]),
            status=rng.choice(["active", "active", "draft"]),
        )
        for i in range(80)
    ]
    catalog.append(catalog[3].model_copy(update={"price": 99.0}))  # a repeated id: first one wins
    ids = [p.product_id for p in catalog] + ["not-in-catalog", "other"]
    orders = [
        OrderEvent(
            order_id=f"o{k}",
            store_id="s",
            created_at=T0 - timedelta(days=k),
            lines=[
                OrderLine(product_id=pid, quantity=1, price=1.0)
                for pid in rng.sample(ids, rng.randint(1, 4))
            ],
        )
        for k in range(rng.choice([0, 1, 40]))
    ]
    return StoreContext(catalog, orders)


@pytest.mark.parametrize("seed", range(6))
def test_views_match_their_per_product_definitions(seed: int) -> None:
    ctx = _store(seed)
    products = list(ctx.products.values())
    in_stock = [p for p in products if p.in_stock and p.price > 0]
    counts = {pid: 0.0 for pid in ctx.products}
    for order in ctx.orders:
        for pid in {line.product_id for line in order.lines}:
            if pid in counts:
                counts[pid] += 1
    best = sorted(in_stock, key=lambda p: (-counts[p.product_id], -p.price, p.product_id))

    assert ctx.in_stock == in_stock
    assert ctx.order_counts.tolist() == [counts[p.product_id] for p in products]
    assert [p.product_id for p in ctx.best_sellers] == [p.product_id for p in best]
    assert ctx.sold == [p for p in best if counts[p.product_id] > 0]
    sellable = [
        (p := ctx.products.get(str(it))) is not None and p.in_stock and p.price > 0
        for it in ctx.basket.items
    ]
    assert ctx.item_sellable.tolist() == sellable
    assert ctx.item_sellable.dtype == np.bool_


@pytest.mark.parametrize("seed", range(6))
def test_category_groupings_keep_each_views_order(seed: int) -> None:
    """Each grouping holds its view's products, categories in first-seen order and the view's
    order within a category, so a generator reading it sees what grouping the view would give."""
    ctx = _store(seed)
    for view, grouped in (
        (ctx.best_sellers, ctx.best_sellers_by_category),
        (ctx.sold, ctx.sold_by_category),
        (ctx.in_stock, ctx.in_stock_by_category),
    ):
        categories = list(dict.fromkeys(p.category for p in view))
        assert list(grouped) == categories
        for category in categories:
            assert grouped[category] == [p for p in view if p.category == category]


@pytest.mark.parametrize("seed", range(40))
def test_top_stable_equals_a_full_stable_sort(seed):
    """Ties (few distinct values), signed zeros and NaNs, k below and above the partition cut."""
    from bundling.context import top_stable

    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 600))
    values = rng.choice([0.0, -0.0, 0.25, 0.5, 1.0, 3.0, np.nan if seed % 4 == 0 else 2.0], n)
    rank = np.where(rng.random(n) < 0.5, values, rng.random(n))
    for k in (1, 5, 37, 200):
        assert np.array_equal(top_stable(rank, k), np.argsort(-rank, kind="stable")[:k])
