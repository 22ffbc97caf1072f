"""Shopify ``orders/cancelled`` and ``refunds/create`` over real HTTP, Kafka and Redis.

Orders, a cancellation after its order, a cancellation before its order, a partial refund, each
retried (same event id) and redelivered (new event id): the tables and the read model end as if
the cancelled orders and the refunded units never happened, and every published event ends as an
applied event in an order's ledger or a dead letter.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import orjson
import pytest
from harness import (
    Worker,
    Workers,
    changelog_counts,
    dead_letters,
    read_table,
    redis_counts,
    wait_consumed,
)
from test_orders_webhook import shopify_order, triggered

from core.settings import Settings
from popularity import SeenOrder, key_of
from webhooks.shopify import sign

SHOP = "cancel-test.myshopify.com"
SECRET = "cancel-shop-secret-41d2"


async def post(
    session: aiohttp.ClientSession,
    worker: Worker,
    topic: str,
    payload: Any,
    event_id: str | None = None,
    secret: str = SECRET,
    triggered_at: str | None = None,
) -> tuple[int, dict[str, Any]]:
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-Triggered-At": triggered_at or triggered(),
        "X-Shopify-Hmac-Sha256": sign(secret, body),
    }
    if event_id is not None:
        headers["X-Shopify-Event-Id"] = event_id
    async with session.post(
        worker.url + "/api/v1/webhooks/orders", data=body, headers=headers
    ) as resp:
        return resp.status, await resp.json(content_type=None)


def refund(refund_id: int, order_id: int, lines: list[tuple[int, int]]) -> dict[str, Any]:
    return {
        "id": refund_id,
        "order_id": order_id,
        "created_at": "2024-05-02T12:00:00+02:00",
        "refund_line_items": [
            {"quantity": qty, "line_item": {"product_id": pid, "price": "9.50"}}
            for pid, qty in lines
        ],
        "transactions": [{"currency": "EUR"}],
    }


def cancelled(order: dict[str, Any]) -> dict[str, Any]:
    return {**order, "cancelled_at": "2024-05-03T08:00:00+02:00", "cancel_reason": "customer"}


@pytest.mark.timeout(180)
async def test_cancellation_and_refund_webhooks_subtract_exactly_once(
    isolated_settings: Settings, workers: Workers
) -> None:
    settings = isolated_settings.model_copy(update={"shopify_webhook_secrets": {SHOP: SECRET}})
    worker = workers.start(settings, name="cancel-webhook")
    await worker.wait_ready(timeout_s=90)
    o1 = shopify_order(2001, [(1, 2, "Kitchen"), (2, 1, "Kitchen"), (3, 1, "Garden")])
    o2 = shopify_order(2002, [(1, 1, "Kitchen"), (4, 3, "Garden")])
    o3 = shopify_order(2003, [(5, 1, "Garden")])
    accepted: list[tuple[str, str]] = []  # (kind, order id) of every 202
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:

        async def send(topic: str, payload: Any, event_id: str | None) -> dict[str, Any]:
            status, answer = await post(session, worker, topic, payload, event_id)
            assert status in (200, 202), answer
            if status == 202:
                accepted.append((answer["kind"], answer["order_id"]))
            return answer

        # a cancellation that arrives before its order: kept, then the order counts nothing
        assert (await send("orders/cancelled", cancelled(o3), "evt-c3"))["kind"] == "cancellation"
        await send("orders/create", o1, "evt-o1")
        await send("orders/create", o2, "evt-o2")
        await send("orders/create", o3, "evt-o3")
        # a partial refund of 2001: its only Garden product comes back
        answer = await send("refunds/create", refund(77, 2001, [(3, 1)]), "evt-r77")
        assert (answer["status"], answer["kind"]) == ("accepted", "refund")
        # retried with the same event id: a duplicate at the door
        assert (await send("refunds/create", refund(77, 2001, [(3, 1)]), "evt-r77"))[
            "status"
        ] == "duplicate"
        # redelivered under a new event id: published, dropped by the fold (same refund id)
        await send("refunds/create", refund(77, 2001, [(3, 1)]), "evt-r77-again")
        # 2002 cancelled after it counted, twice under two event ids
        await send("orders/cancelled", cancelled(o2), "evt-c2")
        await send("orders/cancelled", cancelled(o2), "evt-c2-again")
        # money only: nothing to publish
        status, answer = await post(
            session, worker, "refunds/create", refund(78, 2001, []), "evt-r78"
        )
        assert (status, answer["status"]) == (200, "ignored")

        # the same checks as orders/create: signature, freshness, payload, topic
        status, answer = await post(
            session, worker, "orders/cancelled", cancelled(o1), "x1", secret="wrong"
        )
        assert status == 401 and "signature" in answer["error"]
        status, answer = await post(
            session,
            worker,
            "refunds/create",
            refund(79, 2001, [(1, 1)]),
            "x2",
            triggered_at="2020-01-01T00:00:00Z",
        )
        assert status == 401 and "stale" in answer["error"]
        status, answer = await post(session, worker, "refunds/create", {"id": 1}, "x3")
        assert status == 422 and "order_id" in answer["error"]
        status, answer = await post(session, worker, "orders/updated", o1, "x4")
        assert status == 422 and "not handled" in answer["error"]

        await wait_consumed(settings, timeout_s=60, workers=[worker])

    # as if 2002, 2003 and the refunded unit never happened
    want_sold = {(SHOP, "1"): (2, 1), (SHOP, "2"): (1, 1)}
    want_cats = {(SHOP, "Kitchen"): 1}
    sold, cats = await changelog_counts(settings)
    assert {k: v for k, v in sold.items() if v != (0, 0)} == want_sold
    assert {k: v for k, v in cats.items() if v} == want_cats
    stores = await read_table(settings, "store-orders")
    assert stores[SHOP][0] == 1
    deadline = time.monotonic() + 30
    while True:  # the read model is written right after the tables
        r_sold, r_cats = await redis_counts(settings, {SHOP})
        r_sold = {k: v for k, v in r_sold.items() if v != (0, 0)}
        r_cats = {k: v for k, v in r_cats.items() if v}
        if (r_sold, r_cats) == (want_sold, want_cats) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert (r_sold, r_cats) == (want_sold, want_cats)

    # every published event: applied (held in its order's ledger) or a duplicate of one held
    assert not await dead_letters(settings)
    ledgers = {
        k: SeenOrder.from_json(v)
        for k, v in (await read_table(settings, "processed-orders")).items()
    }
    assert set(ledgers) == {key_of(SHOP, o) for o in ("2001", "2002", "2003")}
    assert all(ledger is not None and ledger.offset is not None for ledger in ledgers.values())
    held = {
        ("order", "2001"),
        ("order", "2002"),
        ("order", "2003"),
        ("cancellation", "2002"),
        ("cancellation", "2003"),
        ("refund", "2001"),
    }
    assert set(accepted) == held and len(accepted) == len(held) + 2  # two redeliveries
    l1, l2, l3 = (ledgers[key_of(SHOP, o)] for o in ("2001", "2002", "2003"))
    assert [r.refund_id for r in l1.refunds] == ["77"] and l1.cancelled is None
    assert l2.cancelled is not None and l3.cancelled is not None
    assert l3.cancelled < l3.offset  # the cancellation came first
