"""The Shopify order webhook and the popularity endpoint over real HTTP, Kafka and Redis."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson
import pytest
from harness import Worker, Workers, admin_headers, changelog_counts, wait_consumed

from core.settings import Settings
from webhooks.shopify import sign

SHOP = "webhook-test.myshopify.com"
OTHER_SHOP = "second-shop.myshopify.com"
SHOP_SECRET = "first-shop-secret-8c1f"
OTHER_SHOP_SECRET = "second-shop-secret-77ab"


def triggered(seconds_ago: float = 0.0) -> str:
    """X-Shopify-Triggered-At as Shopify writes it (UTC, nanoseconds, Z)."""
    moment = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"


def shopify_order(order_id: int, lines: list[tuple[int, int, str]]) -> dict[str, Any]:
    return {
        "id": order_id,
        "name": f"#{order_id}",
        "created_at": "2024-05-01T12:00:00+02:00",
        "currency": "EUR",
        "customer": {"id": 42},
        "line_items": [
            {
                "product_id": pid,
                "variant_id": pid * 10,
                "quantity": qty,
                "price": "9.50",
                "title": f"Product {pid}",
                "product_type": cat,
            }
            for pid, qty, cat in lines
        ],
    }


async def post(
    session: aiohttp.ClientSession,
    worker: Worker,
    body: bytes,
    secret: str | None,
    event_id: str | None = None,
    signature: str | None = None,
    shop: str | None = SHOP,
    triggered_at: str | None = "now",
) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json", "X-Shopify-Topic": "orders/create"}
    if shop is not None:
        headers["X-Shopify-Shop-Domain"] = shop
    if triggered_at is not None:
        headers["X-Shopify-Triggered-At"] = triggered() if triggered_at == "now" else triggered_at
    if signature is not None:
        headers["X-Shopify-Hmac-Sha256"] = signature
    elif secret is not None:
        headers["X-Shopify-Hmac-Sha256"] = sign(secret, body)
    if event_id is not None:
        headers["X-Shopify-Event-Id"] = event_id
    async with session.post(
        worker.url + "/api/v1/webhooks/orders", data=body, headers=headers
    ) as resp:
        return resp.status, await resp.json(content_type=None)


async def popularity(
    session: aiohttp.ClientSession, worker: Worker, **params: str
) -> dict[str, Any]:
    async with session.get(
        f"{worker.url}/api/v1/stores/{SHOP}/popularity", params=params, headers=admin_headers()
    ) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


@pytest.mark.timeout(150)
async def test_webhook_signature_dedupe_limits_and_popularity(
    isolated_settings: Settings, workers: Workers
) -> None:
    settings = isolated_settings.model_copy(update={"shopify_webhook_secrets": {SHOP: SHOP_SECRET}})
    secret = SHOP_SECRET
    worker = workers.start(settings, name="webhook")
    await worker.wait_ready(timeout_s=90)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        o1 = orjson.dumps(
            shopify_order(1001, [(1, 2, "Kitchen"), (2, 1, "Kitchen"), (3, 1, "Garden")])
        )
        o2 = orjson.dumps(shopify_order(1002, [(1, 1, "Kitchen"), (4, 3, "Garden")]))
        o3 = orjson.dumps(shopify_order(1003, [(1, 5, "Kitchen")]))

        status, answer = await post(session, worker, o1, secret, event_id="evt-1")
        assert (status, answer["status"], answer["order_id"]) == (202, "accepted", "1001")
        # Shopify retries with the same event id: accepted once, the retry is a 200 duplicate
        for _ in range(2):
            status, answer = await post(session, worker, o1, secret, event_id="evt-1")
            assert (status, answer["status"]) == (200, "duplicate")
        assert (await post(session, worker, o2, secret, event_id="evt-2"))[0] == 202
        # same order id under another event id: published, then dropped by the agent's order-id dedupe
        assert (await post(session, worker, o1, secret, event_id="evt-1-redelivered"))[0] == 202
        assert (await post(session, worker, o3, secret))[0] == 202

        # signatures: missing, wrong secret, tampered body -> 401, never published
        assert (await post(session, worker, o3, None))[0] == 401
        assert (await post(session, worker, o3, "wrong-secret"))[0] == 401
        tampered = o3.replace(b'"quantity":5', b'"quantity":50')
        status, answer = await post(session, worker, tampered, None, signature=sign(secret, o3))
        assert status == 401 and "signature" in answer["error"]

        # oversize body -> 413 (signed, so the size check is what rejects it)
        huge = b'{"pad": "' + b"x" * (settings.max_body_bytes + 10) + b'"}'
        status, answer = await post(session, worker, huge, secret)
        assert status == 413 and "limit" in answer["error"]

        # invalid JSON, no line items, bad quantity -> 422 with the reason
        status, answer = await post(session, worker, b"{not json", secret)
        assert status == 422 and "not JSON" in answer["error"]
        status, answer = await post(
            session, worker, orjson.dumps({"id": 5, "line_items": []}), secret
        )
        assert status == 422 and "line_items" in answer["error"]
        status, answer = await post(
            session, worker, orjson.dumps(shopify_order(6, [(1, -2, "Kitchen")])), secret
        )
        assert status == 422 and "quantity" in answer["error"]

        await wait_consumed(settings, timeout_s=60, workers=[worker])
        sold, cats = await changelog_counts(settings)
        assert sold == {
            (SHOP, "1"): (8, 3),
            (SHOP, "2"): (1, 1),
            (SHOP, "3"): (1, 1),
            (SHOP, "4"): (3, 1),
        }
        assert cats == {(SHOP, "Kitchen"): 3, (SHOP, "Garden"): 2}

        deadline = time.monotonic() + 30
        while True:  # the read model is written right after the tables; bounded wait for it
            top = await popularity(session, worker)
            if (
                top["category_transactions"] == {"Kitchen": 3, "Garden": 2}
                or time.monotonic() > deadline
            ):
                break
            await asyncio.sleep(0.2)
        assert top["category_transactions"] == {"Kitchen": 3, "Garden": 2}
        assert next((p["product_id"], p["orders"], p["units"]) for p in top["products"]) == (
            "1",
            3,
            8,
        )
        assert {p["product_id"] for p in top["products"]} == {"1", "2", "3", "4"}
        garden = await popularity(session, worker, category="Garden", limit="5")
        # equal scores: Redis ZREVRANGE orders ties by member, descending
        assert [
            (p["product_id"], p["orders"], p["units"], p["category"]) for p in garden["products"]
        ] == [("4", 1, 3, "Garden"), ("3", 1, 1, "Garden")]
        assert garden["category"] == "Garden"
        kitchen = await popularity(session, worker, category="Kitchen", limit="1")
        assert [p["product_id"] for p in kitchen["products"]] == ["1"] and kitchen["products"][0][
            "title"
        ] == "Product 1"
        async with session.get(
            f"{worker.url}/api/v1/stores/{SHOP}/popularity",
            params={"limit": "0"},
            headers=admin_headers(),
        ) as resp:
            assert resp.status == 422
        async with session.get(worker.url + "/metrics", headers=admin_headers()) as resp:
            assert resp.status == 200 and "# TYPE" in await resp.text()


@pytest.mark.timeout(150)
async def test_webhook_secrets_per_shop_and_the_freshness_window(
    isolated_settings: Settings, workers: Workers
) -> None:
    """Each shop signs with its own secret; unknown shops and stale or future deliveries are 401s."""
    settings = isolated_settings.model_copy(
        update={
            "shopify_webhook_secrets": {SHOP: SHOP_SECRET, OTHER_SHOP: OTHER_SHOP_SECRET},
            "shopify_webhook_secret": "default-store-secret-19d2",
            "webhook_max_age_s": 3600.0,
        }
    )
    worker = workers.start(settings, name="webhook-shops")
    await worker.wait_ready(timeout_s=90)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        first = orjson.dumps(shopify_order(2001, [(1, 1, "Kitchen")]))
        second = orjson.dumps(shopify_order(2002, [(7, 2, "Garden")]))
        default = orjson.dumps(shopify_order(2003, [(9, 1, "Tools")]))

        # each shop with its own secret; the other shop's secret is a bad signature
        assert (await post(session, worker, first, SHOP_SECRET, event_id="a-1"))[0] == 202
        status, answer = await post(
            session, worker, second, OTHER_SHOP_SECRET, event_id="b-1", shop=OTHER_SHOP
        )
        assert (status, answer["store_id"]) == (202, OTHER_SHOP)
        status, answer = await post(
            session, worker, second, SHOP_SECRET, event_id="b-2", shop=OTHER_SHOP
        )
        assert status == 401 and "signature" in answer["error"]
        # shop domains are case-insensitive: the same store, not a new one
        status, answer = await post(
            session, worker, second, OTHER_SHOP_SECRET, event_id="b-1", shop=OTHER_SHOP.upper()
        )
        assert (status, answer["status"]) == (200, "duplicate")
        # the single secret signs for the default store only
        status, answer = await post(
            session, worker, default, settings.shopify_webhook_secret, shop=None
        )
        assert (status, answer["store_id"]) == (202, settings.default_store_id)
        status, answer = await post(
            session, worker, first, settings.shopify_webhook_secret, event_id="a-2"
        )
        assert status == 401 and "signature" in answer["error"]

        # a shop nobody configured: 401 naming the reason, whatever it signs with; no store appears
        for secret in (settings.shopify_webhook_secret, SHOP_SECRET, "guess"):
            status, answer = await post(
                session, worker, first, secret, shop="mallory.myshopify.com"
            )
            assert status == 401 and "unknown shop 'mallory.myshopify.com'" in answer["error"], (
                answer
            )

        # freshness: a Shopify retry 50 minutes on is fine; past the window or from the future is not
        retry = orjson.dumps(shopify_order(2004, [(1, 3, "Kitchen")]))
        assert (
            await post(
                session, worker, retry, SHOP_SECRET, event_id="a-4", triggered_at=triggered(50 * 60)
            )
        )[0] == 202
        stale = orjson.dumps(shopify_order(2005, [(1, 4, "Kitchen")]))
        status, answer = await post(
            session, worker, stale, SHOP_SECRET, event_id="a-5", triggered_at=triggered(3700)
        )
        assert status == 401 and "stale" in answer["error"] and "3600s window" in answer["error"], (
            answer
        )
        status, answer = await post(
            session, worker, stale, SHOP_SECRET, event_id="a-5", triggered_at=triggered(-3600)
        )
        assert status == 401 and "in the future" in answer["error"], answer
        status, answer = await post(
            session, worker, stale, SHOP_SECRET, event_id="a-5", triggered_at=None
        )
        assert status == 401 and "missing X-Shopify-Triggered-At" in answer["error"], answer
        status, answer = await post(
            session, worker, stale, SHOP_SECRET, event_id="a-5", triggered_at="last tuesday"
        )
        assert status == 401 and "ISO 8601" in answer["error"], answer

        # only the accepted orders were counted, each under its own store
        await wait_consumed(settings, timeout_s=60, workers=[worker])
        sold, _ = await changelog_counts(settings)
        assert sold == {
            (SHOP, "1"): (4, 2),
            (OTHER_SHOP, "7"): (2, 1),
            (settings.default_store_id, "9"): (1, 1),
        }
