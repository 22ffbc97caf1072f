"""The demo's gift shop through the real broker, Redis and a worker subprocess.

The demo's own steps (``bundlestream.demo``): a slice of Online Retail split 80/20 by time, the
older part uploaded, the newer part replayed as live orders. The upload must end with bundles a
merchant can read (product names and prices), and the live counts of the performance endpoint must
equal the offline counts computed from the same held-out orders and bundle set. Every wait is
bounded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bundlestream.demo import (
    ShopFiles,
    prepare_shop,
    publish_upload,
    replay_live,
    wait_bundle_set,
    wait_performance,
)
from bundlestream.demo_retail import format_bundle_set, format_performance
from core.settings import Settings, get_settings
from evaluation.live_hit_rate import (
    as_live_orders,
    bundle_products,
    live_hit_rates,
    offline_hit_rates,
    order_products,
)
from models.common import utcnow
from tests.integration.harness import TEST_ADMIN_TOKEN, Worker, isolated_topics, ready_worker

SLICE = 1500  # newest orders: 1,200 uploaded, 300 replayed
WAIT_S = 120.0
STORE = "gift-shop-test"


@pytest.fixture(scope="module")
def settings(stack, tmp_path_factory) -> Iterator[Settings]:
    with isolated_topics(get_settings(), tmp_path_factory.mktemp("stack")) as s:
        yield s


@pytest.fixture(scope="module")
def worker(settings: Settings) -> Iterator[Worker]:
    with ready_worker(settings, "gift-shop-worker") as w:
        yield w


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> ShopFiles:
    return prepare_shop(Path(tmp_path_factory.mktemp("shop")), SLICE)


def test_the_gift_shop_upload_ends_with_named_bundles_and_live_counts_match_offline(
    settings: Settings, worker: Worker, shop: ShopFiles
) -> None:
    assert shop.train_orders == 1200 and len(shop.holdout) == 300
    started = time.monotonic()
    upload_id = asyncio.run(
        publish_upload(
            settings, STORE, shop.catalog_csv, "generic", shop.train_export, "online_retail"
        )
    )
    bundle_set = wait_bundle_set(worker.url, TEST_ADMIN_TOKEN, STORE, upload_id, WAIT_S)
    assert bundle_set is not None, worker.log_tail()
    assert bundle_set.status == "ok", bundle_set.error
    assert bundle_set.bundles and bundle_set.metrics.transactions == 1200
    for bundle in bundle_set.bundles:
        for product in bundle.products:
            # a real name from the shop's catalog, not an id
            assert product.title and product.title != product.product_id
            assert product.title == product.title.title() and product.unit_price > 0
        assert bundle.pricing.currency == "GBP"
        assert bundle.pricing.bundle_price <= bundle.pricing.list_price
    text = "\n".join(format_bundle_set(bundle_set))
    assert bundle_set.bundles[0].products[0].title in text and "£" in text
    print(text)
    print(f"upload answered in {time.monotonic() - started:.1f} s")

    holdout = order_products(shop.holdout)
    offline = offline_hit_rates(holdout, bundle_products(bundle_set))
    sent = asyncio.run(replay_live(settings, as_live_orders(shop.holdout, STORE, utcnow())))
    assert sent == len(shop.holdout)
    status, performance = wait_performance(
        worker.url, TEST_ADMIN_TOKEN, STORE, upload_id, len(holdout), WAIT_S
    )
    assert status == 200 and performance is not None, worker.log_tail()
    print("\n".join(format_performance(performance, bundle_set)))
    live = live_hit_rates(performance)
    assert performance.upload_id == upload_id and live.orders == offline.orders == len(holdout)
    counts = {b.bundle_id: (b.orders_partial, b.orders_whole) for b in live.bundles}
    assert counts == {b.bundle_id: (b.orders_partial, b.orders_whole) for b in offline.bundles}
    revenue = {b.bundle_id: b.revenue_partial for b in live.bundles}
    for b in offline.bundles:
        assert revenue[b.bundle_id] == pytest.approx(b.revenue_partial, abs=0.01 * len(holdout))
