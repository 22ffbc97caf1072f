"""Order webhook receiver and the popularity read endpoint."""

from __future__ import annotations

import time
from typing import Any, cast

import orjson
from faust import web

from security import open_route, store_route
from webhooks.shopify import WebhookRejected, event_from_shopify

from .. import readmodel
from ..app import app
from ..topics import orders_topic
from ..transport import LowLatencyConsumer
from .auth import guarded
from .common import HttpError, check_id, error_response, read_body
from .shopify_delivery import first_delivery, verified_store


@app.page("/api/v1/webhooks/orders")
@guarded(
    open_route(
        "Shopify calls it without our keys; every request is authenticated by its HMAC signature"
    )
)
class OrderWebhook(web.View):
    """Shopify orders/create, orders/cancelled and refunds/create, by X-Shopify-Topic (none:
    orders/create): per-shop HMAC, freshness window, dedupe on X-Shopify-Event-Id, publish."""

    async def post(self, request: web.Request) -> web.Response:
        try:
            body = await read_body(request)
            store_id = verified_store(request.headers, body)
            try:
                payload = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise HttpError(422, f"body is not JSON: {exc}") from exc
            try:
                order = event_from_shopify(
                    request.headers.get("X-Shopify-Topic"), payload, store_id
                )
            except WebhookRejected as exc:
                raise HttpError(exc.status, exc.reason, exc.errors) from exc
        except HttpError as exc:
            return error_response(self, exc)
        if order is None:
            return self.json(
                {"status": "ignored", "reason": "the refund returns no units: no count changes"},
                status=200,
            )
        if not await first_delivery(store_id, request.headers):
            return self.json(
                {"status": "duplicate", "order_id": order.order_id, "kind": order.kind},
                status=200,
            )
        await orders_topic.send(key=store_id.encode(), value=order.to_bytes())
        return self.json(
            {
                "status": "accepted",
                "order_id": order.order_id,
                "store_id": store_id,
                "kind": order.kind,
            },
            status=202,
        )


@app.page("/api/v1/stores/{store}/popularity")
@guarded(store_route(param="store"))
class Popularity(web.View):
    """Top products by orders, optionally within one category, plus the category tallies."""

    async def get(self, request: web.Request, store: str) -> web.Response:
        try:
            check_id("store", store)
        except HttpError as exc:
            return error_response(self, exc)
        category = request.query.get("category") or None
        try:
            limit = int(request.query.get("limit", "10"))
        except ValueError:
            return self.json({"error": "limit must be an integer"}, status=422)
        if not 1 <= limit <= 500:
            return self.json({"error": "limit must be between 1 and 500"}, status=422)
        return self.json(await readmodel.read_popularity(store, category, limit))


@app.page("/healthz")
@guarded(
    open_route(
        "liveness for load balancers and orchestrators; reports only up/down of Redis and Kafka"
    )
)
class Health(web.View):
    """Liveness and progress: Redis, Kafka assignments, no stalled stream, no event-loop lag (503 otherwise).

    A stream stalled (event in flight or input waiting, no progress for ``stall_after_s``) is
    named with the time it stalled from; the loop's lag is the worst of the last 10 s."""

    async def get(self, request: web.Request) -> web.Response:
        from .. import health

        checks: dict[str, object] = {}
        try:
            checks["redis"] = bool(
                await readmodel.redis_client().ping()
            )  # bounded: redis_timeout_s
        except Exception as exc:
            checks["redis"] = f"error: {exc}"
            if isinstance(exc, readmodel.UNAVAILABLE):
                readmodel.note_unavailable("/healthz ping", exc)
        checks["assigned_partitions"] = len(app.assignor.assigned_actives()) if app.assignor else 0
        consumer = cast(LowLatencyConsumer, app.consumer)  # the app's transport (agents.app)
        checks["rebalancing"] = bool(app.rebalancing) or consumer.rejoin_pending()
        checks["topics_without_metadata"] = consumer.topics_without_metadata()
        checks["standby"] = health.standby_progress()
        checks["read_model"] = readmodel.state.report(time.monotonic())
        ok, progress = health.report()
        checks.update(progress)
        if not ok:
            return self.json({"status": "unhealthy", "checks": checks}, status=503)
        # Redis is the read model, not the truth: the worker keeps counting without it and
        # catches up by itself, so a restart would not help. Degraded, still 200.
        degraded = checks["redis"] is not True or readmodel.state.failing
        # replaying changelogs (minutes on an empty disk): alive and moving, not yet serving
        recovering = bool(cast(dict[str, Any], checks["recovery"])["in_recovery"])
        status = "recovering" if recovering else "degraded" if degraded else "ok"
        return self.json({"status": status, "checks": checks}, status=200)
