"""Stock level receivers: Shopify ``inventory_levels/update`` and a store's own JSON levels.

Both publish one ``InventoryEvent`` keyed by store to the inventory topic; the stock agent
(``agents.stock``) folds it into the store's live stock and re-gates its published bundles.
The webhook is checked exactly as the orders webhook is (per-shop HMAC on the raw body,
freshness window, X-Shopify-Event-Id dedupe); the JSON route needs the store's key.
"""

from __future__ import annotations

from datetime import UTC, datetime

from faust import web

from models.inventory import InventoryEvent
from security import open_route, store_route
from webhooks.inventory import inventory_from_json, inventory_from_shopify
from webhooks.shopify import (
    WebhookRejected,
    check_window,
    parse_triggered_at,
    secret_for_shop,
    verify_signature,
)

from .. import readmodel
from ..app import app, settings
from ..stock import inventory_topic
from .auth import guarded
from .common import HttpError, check_id, error_response, parse_json, read_body
from .orders import SHOP_SECRETS


async def _publish(inventory: InventoryEvent) -> None:
    await inventory_topic.send(key=inventory.store_id.encode(), value=inventory.to_bytes())


@app.page("/api/v1/webhooks/inventory")
@guarded(
    open_route(
        "Shopify calls it without our keys; every request is authenticated by its HMAC signature"
    )
)
class InventoryWebhook(web.View):
    """Shopify inventory_levels/update: per-shop HMAC, freshness window, event-id dedupe, publish."""

    async def post(self, request: web.Request) -> web.Response:
        try:
            body = await read_body(request)
            try:
                store_id, secret = secret_for_shop(
                    request.headers.get("X-Shopify-Shop-Domain"),
                    SHOP_SECRETS,
                    settings.shopify_webhook_secret,
                    settings.default_store_id,
                )
                if not verify_signature(secret, body, request.headers.get("X-Shopify-Hmac-Sha256")):
                    raise HttpError(401, "missing or invalid X-Shopify-Hmac-Sha256 signature")
                triggered_at = parse_triggered_at(request.headers.get("X-Shopify-Triggered-At"))
                check_window(triggered_at, datetime.now(UTC), settings.webhook_max_age_s)
                inventory = inventory_from_shopify(parse_json(body), store_id)
            except WebhookRejected as exc:
                raise HttpError(exc.status, exc.reason, exc.errors) from exc
        except HttpError as exc:
            return error_response(self, exc)
        event_id = request.headers.get("X-Shopify-Event-Id") or request.headers.get(
            "X-Shopify-Webhook-Id"
        )
        if event_id:
            try:
                first = await readmodel.remember_webhook(store_id, event_id)
            except readmodel.UNAVAILABLE:
                # Redis down: accept anyway; a second copy is a reading as old as the one held,
                # which the stock fold ignores
                first = True
            if not first:
                return self.json({"status": "duplicate", "store_id": store_id}, status=200)
        await _publish(inventory)
        return self.json(
            {"status": "accepted", "store_id": store_id, "levels": len(inventory.levels)},
            status=202,
        )


@app.page("/api/v1/stores/{store}/inventory")
@guarded(store_route(param="store"))
class StoreInventory(web.View):
    """A store's own stock levels: ``{"levels": [{"product_id", "available", ...}]}``."""

    async def post(self, request: web.Request, store: str) -> web.Response:
        try:
            check_id("store", store)
            body = await read_body(request)
            try:
                inventory = inventory_from_json(parse_json(body), store)
            except WebhookRejected as exc:
                raise HttpError(exc.status, exc.reason, exc.errors) from exc
        except HttpError as exc:
            return error_response(self, exc)
        await _publish(inventory)
        return self.json(
            {"status": "accepted", "store_id": store, "levels": len(inventory.levels)}, status=202
        )
