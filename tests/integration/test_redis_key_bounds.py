"""Every Redis key the demo flow leaves behind belongs to a registered family and keeps its bound.

Real worker, Kafka and Redis: a store key is created and used, a catalog is uploaded over HTTP,
orders arrive by signed webhook (with event ids) and on the orders topic, a shopper chats until
options come, one option is bulk-added, the config is written once. Then Redis is SCANned by the
test's prefix and each key is checked against ``agents.redis_keys``: an expiring family must
have a TTL no longer than declared, a bounded one must stay within its bound (stores used,
products and categories ordered, products bulk-added, API keys); a key of no family fails.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson
import pytest
import redis.asyncio as aioredis

from agents.redis_keys import Members, Per, family_of, key_parts
from core.settings import Settings
from models import OrderEvent
from tests.e2e.support import DATE_NIGHT_CSV, Api, start_worker
from tests.integration.harness import TEST_ADMIN_TOKEN, produce_orders
from tests.integration.readmodel_support import wait_for_value
from webhooks.shopify import sign

pytestmark = pytest.mark.timeout(240)

STORE = "keys-shop"
CATALOG = {row.split(",")[0]: row.split(",") for row in DATE_NIGHT_CSV.strip().splitlines()[1:]}


def topic_orders(count: int) -> list[OrderEvent]:
    """Orders over the catalog, with titles and categories as a replayed history carries them."""
    ids = sorted(CATALOG)
    out = []
    for n in range(count):
        picked = {ids[n % len(ids)], ids[(n * 7 + 3) % len(ids)]}
        out.append(
            OrderEvent.model_validate(
                {
                    "order_id": f"t-{n}",
                    "store_id": STORE,
                    "lines": [
                        {
                            "product_id": p,
                            "quantity": 1 + n % 3,
                            "price": float(CATALOG[p][2]),
                            "category": CATALOG[p][3],
                            "title": CATALOG[p][1],
                        }
                        for p in sorted(picked)
                    ],
                }
            )
        )
    return out


def shopify_order(order_id: int, product_ids: list[str]) -> dict[str, Any]:
    return {
        "id": order_id,
        "name": f"#{order_id}",
        "created_at": "2026-05-01T12:00:00+02:00",
        "currency": "USD",
        "line_items": [
            {
                "product_id": pid,
                "quantity": 1,
                "price": CATALOG[pid][2],
                "title": CATALOG[pid][1],
                "product_type": CATALOG[pid][3],
            }
            for pid in product_ids
        ],
    }


async def send_webhook(
    session: aiohttp.ClientSession, url: str, secret: str, body: dict[str, Any], event_id: str
) -> int:
    raw = orjson.dumps(body)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Hmac-Sha256": sign(secret, raw),
        "X-Shopify-Triggered-At": now,
        "X-Shopify-Event-Id": event_id,
    }
    async with session.post(url + "/api/v1/webhooks/orders", data=raw, headers=headers) as resp:
        return resp.status


async def scan_prefix(client: aioredis.Redis, prefix: str) -> list[str]:
    return sorted({key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)})


async def size_of(client: aioredis.Redis, key: str, kind: str) -> int:
    actual = await client.type(key)
    assert actual == kind, f"{key} is a {actual}, the registry says {kind}"
    if kind == "zset":
        return int(await client.zcard(key))
    if kind == "hash":
        return int(await client.hlen(key))
    if kind == "list":
        return int(await client.llen(key))
    return 1


async def test_demo_flow_leaves_only_registered_keys_within_their_bounds(
    isolated_settings: Settings,
) -> None:
    settings = isolated_settings
    worker = await start_worker(settings, "keys-worker", BUNDLESTREAM_DEFAULT_STORE_ID=STORE)
    api = Api(worker.url)
    client = aioredis.from_url(settings.redis_url, decode_responses=True)
    ordered: dict[str, set[str]] = defaultdict(set)  # category -> products ordered in it
    store_api: Api | None = None
    try:
        # keys: one store key, used once
        status, created = await api.request(
            "POST", "/api/v1/keys", {"scope": f"store:{STORE}", "name": "keys test"}
        )
        assert status == 201, created
        store_api = Api(worker.url, key=created["key"])
        # upload over HTTP
        form = aiohttp.FormData()
        form.add_field("store_id", STORE)
        form.add_field(
            "catalog", DATE_NIGHT_CSV.encode(), filename="catalog.csv", content_type="text/csv"
        )
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            async with session.post(
                worker.url + "/api/v1/uploads",
                data=form,
                headers={"Authorization": f"Bearer {TEST_ADMIN_TOKEN}"},
            ) as resp:
                assert resp.status == 202, await resp.text()
                upload_id = (await resp.json())["upload_id"]
            # orders: webhooks (one redelivered) and a replayed history on the topic
            secret = settings.shopify_webhook_secret
            hooks = [
                shopify_order(9001, ["fl-roses", "dn-pasta"]),
                shopify_order(9002, ["mv-jazz"]),
            ]
            for n, body in enumerate(hooks):
                assert await send_webhook(session, worker.url, secret, body, f"evt-{n}") == 202
                for line in body["line_items"]:
                    ordered[line["product_type"]].add(line["product_id"])
            assert (
                await send_webhook(session, worker.url, secret, hooks[0], "evt-0") == 200
            )  # duplicate
        history = topic_orders(60)
        await produce_orders(settings, history)
        for order in history:
            for line in order.lines:
                ordered[line.category or "uncategorized"].add(line.product_id)
        expected_orders = len(history) + len(hooks)

        async def orders_counted() -> int | None:
            status, body = await store_api.request(
                "GET", f"/api/v1/stores/{STORE}/popularity?limit=5"
            )
            assert status == 200, body
            return body["orders_counted"] if body["orders_counted"] == expected_orders else None

        await wait_for_value(orders_counted, "all orders in the read model", timeout_s=90)

        async def uploaded() -> bool | None:
            status, body = await store_api.request("GET", f"/api/v1/uploads/{upload_id}")
            return True if status == 200 and body.get("status") == "done" else None

        await wait_for_value(uploaded, "the upload's bundle set", timeout_s=90)
        # chat until options, then bulk-add one
        session_id = f"s-{uuid.uuid4().hex[:10]}"
        first = await api.say(session_id, STORE, "plan a date night", after=0, timeout_s=60)
        second = await api.say(
            session_id, STORE, "Saturday, $100, vegetarian", after=first["seq"], timeout_s=60
        )
        assert second["kind"] == "options", second
        option = second["options"][0]
        status, added = await api.request(
            "POST",
            "/api/v1/bundle/add-bulk",
            {"product_ids": option["product_ids"], "session_id": session_id},
        )
        assert status == 200, added
        attached = set(option["product_ids"])

        async def attach_mirrored() -> bool | None:
            status, body = await api.request("GET", f"/api/v1/stores/{STORE}/attach-stats")
            return (
                True
                if status == 200 and {p["product_id"] for p in body["products"]} == attached
                else None
            )

        await wait_for_value(attach_mirrored, "attach statistics in Redis", timeout_s=60)
        status, config = await api.request("GET", "/api/v1/config")
        assert status == 200
        status, body = await api.request(
            "PUT", "/api/v1/config", {**config, "version": config["version"]}
        )
        assert status == 200, body

        # --- the scan -----------------------------------------------------------------------------
        prefix = settings.topic_prefix
        keys = await scan_prefix(client, prefix)
        unknown = [k for k in keys if family_of(prefix, k) is None]
        assert not unknown, (
            f"keys of no registered family (add them to agents.redis_keys): {unknown}"
        )
        seen: dict[str, int] = defaultdict(int)
        problems: list[str] = []
        all_products = set().union(*ordered.values())
        for key in keys:
            spec = family_of(prefix, key)
            assert spec is not None
            seen[spec.name] += 1
            parts = key_parts(prefix, key, spec)
            ttl_ms = await client.pttl(key)
            if ttl_ms == -2:
                continue  # expired since the scan (a rate-limit state lives about a second)
            size = await size_of(client, key, spec.kind)
            if spec.ttl_s is not None:
                if not 0 < ttl_ms <= spec.ttl_s * 1000:
                    problems.append(f"{key}: TTL {ttl_ms} ms, registry says at most {spec.ttl_s} s")
                if spec.max_entries is not None and size > spec.max_entries:
                    problems.append(f"{key}: {size} entries > {spec.max_entries}")
                continue
            if spec.per in (Per.STORE, Per.STORE_CATEGORY) and parts[0] != STORE:
                problems.append(f"{key}: a store the flow never used")
            bound = {
                Members.PRODUCTS_OF_STORE: len(all_products),
                Members.PRODUCTS_OF_CATEGORY: len(ordered.get(parts[-1], set())) if parts else 0,
                Members.CATEGORIES_OF_STORE: len(ordered),
                Members.ATTACHED_PRODUCTS: min(
                    len(attached),
                    getattr(settings, "attach_stats_max_per_store", None) or len(attached),
                ),
                Members.API_KEYS: 2,  # the bootstrap admin and the store key
                Members.ONE_VALUE: 1,
            }[spec.members]
            if size > bound:
                problems.append(f"{key}: {size} members > bound {bound} ({spec.members.value})")
        assert not problems, problems
        # the flow touched every family it should have (so the checks above were not vacuous)
        must = {
            "pop",
            "units",
            "popcat",
            "prodcat",
            "titles",
            "cattx",
            "orders",
            "attach",
            "bundles",
            "catalog",
            "keys-last-used",
            "upload",
            "bundle",
            "session-store",
            "replies",
            "replies-seq",
            "once",
            "ratelimit",
            "config-version",
        }
        assert must <= set(seen), f"families the flow never wrote: {sorted(must - set(seen))}"
        assert seen["popcat"] == len(ordered)
        print(f"\n[redis keys] {len(keys)} keys under {prefix}: {dict(sorted(seen.items()))}")
    finally:
        if store_api is not None:
            await store_api.close()
        await client.aclose()
        await api.close()
        worker.stop()
