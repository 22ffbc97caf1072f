"""Live stock through the real broker, Redis and a worker: orders sell a bundle component out,
stock readings (a store's JSON, Shopify's inventory webhook) bring it back or take it away, and
the store's bundle set is re-gated on the bundle-sets topic, in the read model and in the
``published-bundles`` table, with the metrics saying why.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson
import pytest

import topics as registry
from core.settings import Settings, get_settings
from models import BundleSet, DeadLetter, GenerationMetrics, OrderEvent
from tests.integration.harness import (
    Worker,
    Workers,
    admin_headers,
    isolated_topics,
    produce_orders,
    produce_raw,
    read_table,
    read_topic,
    ready_worker,
)
from tests.integration.test_uploads_pipeline import (
    GENERIC_CATALOG_HEADER,
    MUG_WORDS,
    TEA_WORDS,
    csv_text,
    inline_event,
    publish,
    wait_bundle_sets,
)
from webhooks.shopify import sign

SHOP = "stock-shop.myshopify.com"
SHOP_SECRET = "stock-shop-secret-51d0"
REGATE_WAIT_S = 30.0


@pytest.fixture(scope="module")
def settings(stack, tmp_path_factory) -> Iterator[Settings]:
    with isolated_topics(
        get_settings(),
        tmp_path_factory.mktemp("stock"),
        partitions=4,
        shopify_webhook_secrets={SHOP: SHOP_SECRET},
    ) as s:
        yield s


@pytest.fixture(scope="module")
def worker(settings: Settings) -> Iterator[Worker]:
    with ready_worker(settings, "stock-worker") as w:
        yield w


def stocked_catalog(units: int, ids: list[str] | None = None) -> str:
    """Mugs and teas (a cold-start store), each with ``units`` in stock; ``ids`` names them."""
    words = [("mug", w, "mugs") for w in MUG_WORDS[:6]] + [("tea", w, "tea") for w in TEA_WORDS[:6]]
    rows: list[list[object]] = []
    for i, (kind, word, category) in enumerate(words):
        pid = ids[i] if ids else f"{kind}-{i}"
        rows.append(
            [
                pid,
                f"{word.title()} {kind.title()}",
                category,
                f"{kind}, {word}",
                f"A {word} {kind} for the kitchen",
                10 + i,
                4,
                units,
                "2024-05-01T00:00:00",
            ]
        )
    return csv_text(GENERIC_CATALOG_HEADER, rows)


async def store_sets(settings: Settings, store: str) -> list[BundleSet]:
    """The store's bundle sets on the topic, oldest first (a store lives on one partition)."""
    records = await read_topic(settings, registry.BUNDLE_SETS.name(settings.topic_prefix))
    out = [BundleSet.model_validate(orjson.loads(r.value)) for r in records]
    return [bs for bs in out if bs.store_id == store]


async def wait_stock_set(
    settings: Settings, worker: Worker, store: str, seen: int, timeout_s: float = REGATE_WAIT_S
) -> tuple[BundleSet, float]:
    """The first re-gated set after the ``seen`` stock sets already out, and how long it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if not worker.alive():
            raise RuntimeError(f"worker died:\n{worker.log_tail()}")
        stock = [bs for bs in await store_sets(settings, store) if bs.metrics.trigger == "stock"]
        if len(stock) > seen:
            return stock[seen], time.monotonic() - started
        await asyncio.sleep(0.2)
    raise TimeoutError(f"no re-gated set for {store} in {timeout_s:.0f} s:\n{worker.log_tail()}")


async def get_json(worker: Worker, path: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        async with session.get(worker.url + path, headers=admin_headers()) as resp:
            return resp.status, await resp.json(content_type=None)


async def post_json(worker: Worker, path: str, body: object) -> tuple[int, Any]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        async with session.post(worker.url + path, json=body, headers=admin_headers()) as resp:
            return resp.status, await resp.json(content_type=None)


async def wait_read_model(worker: Worker, store: str, want: BundleSet) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        status, body = await get_json(worker, f"/api/v1/stores/{store}/bundles")
        if status == 200 and BundleSet.model_validate(body).generated_at == want.generated_at:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"read model never showed the set of {want.generated_at}: {body}")
        await asyncio.sleep(0.2)


async def published(settings: Settings, store: str) -> BundleSet:
    return BundleSet.model_validate_json((await read_table(settings, "published-bundles"))[store])


def ids(bs: BundleSet) -> list[str]:
    return [b.bundle_id for b in bs.bundles]


def with_product(bs: BundleSet, pid: str) -> list[str]:
    return [b.bundle_id for b in bs.bundles if any(p.product_id == pid for p in b.products)]


def order(store: str, order_id: str, pid: str, quantity: int) -> OrderEvent:
    return OrderEvent.model_validate(
        {
            "order_id": order_id,
            "store_id": store,
            "created_at": datetime.now(UTC).isoformat(),
            "lines": [{"product_id": pid, "quantity": quantity, "price": 10.0}],
        }
    )


async def upload(settings: Settings, worker: Worker, store: str, catalog: str) -> BundleSet:
    event = inline_event(store, catalog)
    await publish(settings, event)
    bs = (await wait_bundle_sets(settings, worker, [event.upload_id]))[event.upload_id]
    assert bs.status == "ok" and bs.bundles, bs.error
    assert bs.metrics.trigger == "upload" and bs.metrics.stock_outs == []
    return bs


def test_orders_that_sell_a_component_out_regate_the_set_and_a_restock_brings_it_back(
    settings: Settings, worker: Worker
) -> None:
    async def run() -> None:
        store = "stock-" + uuid.uuid4().hex[:6]
        original = await upload(settings, worker, store, stocked_catalog(units=3))
        target = original.bundles[0].products[0].product_id
        dropped = with_product(original, target)
        kept = [bid for bid in ids(original) if bid not in dropped]

        need = max(
            p.quantity for b in original.bundles for p in b.products if p.product_id == target
        )
        assert need < 3, "a cold-start bundle takes one or two units of a product"
        first = order(store, "o1", target, 3 - need)
        # 3 - need units of three: still enough for every bundle, nothing is re-gated
        await produce_orders(settings, [first])
        # the rest sells it out; a redelivered copy of o1 is dropped by order-id dedupe
        started = time.monotonic()
        await produce_orders(settings, [first, order(store, "o2", target, need)])
        gated, waited = await wait_stock_set(settings, worker, store, 0)
        print(f"re-gated set on the topic {time.monotonic() - started:.2f} s after the orders")
        assert waited < REGATE_WAIT_S
        assert gated.upload_id == original.upload_id
        assert ids(gated) == kept
        assert [b for b in original.bundles if b.bundle_id in kept] == gated.bundles
        assert gated.metrics.trigger == "stock" and gated.metrics.stock_outs == [target]
        assert all(target not in {p.product_id for p in b.products} for b in gated.bundles)

        metrics = [
            GenerationMetrics.model_validate(orjson.loads(r.value))
            for r in await read_topic(
                settings, registry.GENERATION_METRICS.name(settings.topic_prefix)
            )
        ]
        mine = [m for m in metrics if m.store_id == store and m.trigger == "stock"]
        assert [m.stock_outs for m in mine] == [[target]]

        body = await wait_read_model(worker, store, gated)
        assert BundleSet.model_validate(body) == gated
        assert (await published(settings, store)) == gated
        levels = (await read_table(settings, "stock-levels"))[store]
        assert levels["upload_id"] == original.upload_id
        assert set(levels["products"]) == {
            p.product_id for b in original.bundles for p in b.products
        }

        # the store's own JSON restocks it: the upload's bundles come back, in their places
        status, answer = await post_json(
            worker,
            f"/api/v1/stores/{store}/inventory",
            {
                "levels": [
                    {"product_id": target, "available": 5},
                    {"product_id": "no-such", "available": 1},
                ]
            },
        )
        assert (status, answer["levels"]) == (202, 2), answer
        back, _ = await wait_stock_set(settings, worker, store, 1)
        assert back.bundles == original.bundles
        assert back.metrics.trigger == "stock" and back.metrics.stock_outs == []
        assert BundleSet.model_validate(await wait_read_model(worker, store, back)) == back
        levels = (await read_table(settings, "stock-levels"))[store]
        assert "no-such" not in levels["products"]  # an unknown id leaves no state

        # a bad level is refused with the reason, before any topic
        status, answer = await post_json(
            worker, f"/api/v1/stores/{store}/inventory", {"levels": [{"product_id": target}]}
        )
        assert status == 422 and "available" in answer["error"]

        # a record that does not decode becomes a dead letter with the reason
        await produce_raw(
            settings,
            [(store.encode(), b'{"store_id": 1')],
            topic=registry.INVENTORY.name(settings.topic_prefix),
        )
        deadline = time.monotonic() + 20
        while not (
            letters := await read_topic(
                settings, registry.INVENTORY_DLQ.name(settings.topic_prefix)
            )
        ):
            assert time.monotonic() < deadline, worker.log_tail()
            await asyncio.sleep(0.3)
        letter = DeadLetter.model_validate(orjson.loads(letters[0].value))
        assert letter.raw_b64 and letter.reason and letter.source_topic.endswith(".inventory")

    asyncio.run(run())


def triggered(seconds_ago: float = 0.0) -> str:
    moment = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"


async def post_webhook(
    worker: Worker,
    payload: dict[str, Any],
    event_id: str,
    secret: str = SHOP_SECRET,
    age_s: float = 0,
) -> tuple[int, Any]:
    body = orjson.dumps(payload)
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "inventory_levels/update",
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-Triggered-At": triggered(age_s),
        "X-Shopify-Hmac-Sha256": sign(secret, body),
        "X-Shopify-Event-Id": event_id,
    }
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        async with session.post(
            worker.url + "/api/v1/webhooks/inventory", data=body, headers=headers
        ) as resp:
            return resp.status, await resp.json(content_type=None)


def test_shopify_inventory_webhook_takes_a_component_out_of_the_bundles(
    settings: Settings, worker: Worker
) -> None:
    async def run() -> None:
        # a catalog whose product ids are the shop's inventory item ids
        item_ids = [str(44_000_000_000 + i) for i in range(12)]
        original = await upload(settings, worker, SHOP, stocked_catalog(50, item_ids))
        target = original.bundles[-1].products[-1].product_id
        dropped = with_product(original, target)
        level = {
            "inventory_item_id": int(target),
            "location_id": 905684977,
            "available": 0,
            "updated_at": datetime.now(UTC).isoformat(),
        }
        # refused: wrong signature, stale delivery, no item
        assert (await post_webhook(worker, level, "e0", secret="wrong"))[0] == 401
        assert (await post_webhook(worker, level, "e0", age_s=2 * 24 * 3600))[0] == 401
        status, answer = await post_webhook(worker, {"available": 1}, "e0")
        assert status == 422 and "names no item" in answer["error"]

        status, answer = await post_webhook(worker, level, "e1")
        assert (status, answer["status"], answer["store_id"]) == (202, "accepted", SHOP), answer
        assert (await post_webhook(worker, level, "e1"))[1]["status"] == "duplicate"
        gated, waited = await wait_stock_set(settings, worker, SHOP, 0)
        print(f"re-gated set on the topic {waited:.2f} s after the webhook")
        assert ids(gated) == [bid for bid in ids(original) if bid not in dropped]
        assert gated.metrics.stock_outs == [target]
        assert BundleSet.model_validate(await wait_read_model(worker, SHOP, gated)) == gated

        # an older reading of the same location is stale; a newer one at a second location
        # brings units back and the bundles return
        older = dict(level, available=40, updated_at="2024-01-01T00:00:00Z")
        assert (await post_webhook(worker, older, "e2"))[0] == 202
        newer = dict(level, location_id=2, available=7, updated_at=datetime.now(UTC).isoformat())
        assert (await post_webhook(worker, newer, "e3"))[0] == 202
        back, _ = await wait_stock_set(settings, worker, SHOP, 1)
        assert back.bundles == original.bundles
        sets = [bs for bs in await store_sets(settings, SHOP) if bs.metrics.trigger == "stock"]
        assert len(sets) == 2  # the stale reading re-emitted nothing
        levels = (await read_table(settings, "stock-levels"))[SHOP]
        locations = levels["products"][target][1]
        assert locations == {"905684977": 0, "2": 7}

    asyncio.run(run())


@pytest.mark.timeout(300)
def test_levels_survive_a_kill_and_a_new_upload_resets_them(
    isolated_settings: Settings, workers: Workers
) -> None:
    """kill -9 after an order: the restarted worker recovers the level from the changelog (a
    level started again from the catalog would not sell out). A new upload then tracks its own catalog's levels."""

    async def run() -> None:
        settings = isolated_settings
        first = workers.start(settings, name="stock-kill")
        await first.wait_ready(timeout_s=90)
        store = "kill-" + uuid.uuid4().hex[:6]
        original = await upload(settings, first, store, stocked_catalog(units=4))
        target = original.bundles[0].products[0].product_id
        need = max(
            p.quantity for b in original.bundles for p in b.products if p.product_id == target
        )
        await produce_orders(settings, [order(store, "k1", target, 2)])
        deadline = time.monotonic() + 30
        while store not in await read_table(settings, "stock-levels"):
            assert time.monotonic() < deadline, first.log_tail()
            await asyncio.sleep(0.3)
        first.kill()

        second = workers.start(settings, name="stock-kill-2")
        await second.wait_ready(timeout_s=120)
        # 4 - 2 = 2 left; taking 2 more sells it out only if the 2 sold before the kill count
        await produce_orders(settings, [order(store, "k2", target, 2)])
        gated, _ = await wait_stock_set(settings, second, store, 0, timeout_s=60)
        assert gated.metrics.stock_outs == [target] and need <= 2

        # a new upload of the same store with fresh stock: its set is tracked from its catalog
        fresh = await upload(settings, second, store, stocked_catalog(units=10))
        component = fresh.bundles[0].products[0].product_id
        await produce_orders(settings, [order(store, "k3", component, 1)])
        deadline = time.monotonic() + 30
        while True:
            levels = (await read_table(settings, "stock-levels"))[store]
            if levels["upload_id"] == fresh.upload_id:
                break
            assert time.monotonic() < deadline, second.log_tail()
            await asyncio.sleep(0.3)
        base, _locations, _read_at, pending = levels["products"][component]
        assert base == 10 and sum(units for _time, units in pending) == 1
        assert [bs.metrics.trigger for bs in await store_sets(settings, store)][-1] == "upload"

    asyncio.run(run())
