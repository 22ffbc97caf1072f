"""Stock level receivers: Shopify ``inventory_levels/update`` and a store's own JSON levels.

Both publish one ``InventoryEvent`` keyed by store to the inventory topic; the stock agent
(``agents.stock``) folds it into the store's live stock and re-gates its published bundles.
The webhook is checked exactly as the orders webhook is (per-shop HMAC on the raw body,
freshness window, X-Shopify-Event-Id dedupe); the JSON route needs the store's key.
"""

from __future__ import annotations

from faust import web

from models.inventory import InventoryEvent
from security import open_route, store_route
from webhooks.inventory import inventory_from_json, inventory_from_shopify
from webhooks.shopify import WebhookRejected

from ..app import app
from ..stock import inventory_topic
from .auth import guarded
from .common import HttpError, check_id, error_response, parse_json, read_body
from .shopify_delivery import first_delivery, verified_store


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
            store_id = verified_store(request.headers, body)
            try:
                inventory = inventory_from_shopify(parse_json(body), store_id)
            except WebhookRejected as exc:
                raise HttpError(exc.status, exc.reason, exc.errors) from exc
        except HttpError as exc:
            return error_response(self, exc)
        if not await first_delivery(store_id, request.headers):
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
