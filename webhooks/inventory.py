"""Stock levels from Shopify ``inventory_levels/update`` webhooks and from a store's own JSON.

The delivery checks (per-shop HMAC, freshness window, event-id dedupe) are the orders webhook's
(``webhooks.shopify``); this module maps a checked body to an ``InventoryEvent``.

Which product a level is about: Shopify's payload names the stock item by ``inventory_item_id``
only (plus ``location_id``, ``available``, ``updated_at``), while bundlestream's product ids come
from the store's catalog: the SKU (or handle and options) of a Shopify export, the id column of a
generic CSV. So a level carries every id its item may go by, most specific first (``product_id``,
``sku``, ``variant_id``, ``inventory_item_id``), and the stock fold (``popularity.stock``) uses the
first one that names a component of the store's published bundles. A level naming none is dropped
there and remembered nowhere, so unknown ids create no state. A connector that knows the store's
mapping adds ``product_id`` or ``sku`` to the payload; a catalog whose ids are Shopify inventory
item ids matches as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from models.inventory import MAX_LEVELS, InventoryEvent

from .shopify import WebhookRejected

INVENTORY_ID_FIELDS = ("product_id", "sku", "variant_id", "inventory_item_id")
MAX_ID_CHARS = 200


def inventory_item_ids(level: Mapping[str, Any]) -> list[str]:
    """The ids a stock level's item may go by, most specific first, without repeats."""
    ids: list[str] = []
    for name in INVENTORY_ID_FIELDS:
        value = level.get(name)
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            continue
        text = str(value).strip()[:MAX_ID_CHARS]
        if text and text not in ids:
            ids.append(text)
    return ids


def _rejected(exc: ValidationError) -> WebhookRejected:
    errors = [
        {"loc": ".".join(map(str, e["loc"])), "msg": e["msg"]}
        for e in exc.errors(include_url=False, include_input=False)
    ]
    return WebhookRejected(422, "; ".join(f"{e['loc']}: {e['msg']}" for e in errors[:5]), errors)


def _level(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise WebhookRejected(422, f"{where} must be a JSON object (a stock level)")
    ids = inventory_item_ids(raw)
    if not ids:
        raise WebhookRejected(
            422, f"{where} names no item: give product_id, sku, variant_id or inventory_item_id"
        )
    if raw.get("available") is None:
        raise WebhookRejected(422, f"{where} has no available count")
    level: dict[str, Any] = {
        "item_ids": ids,
        "location_id": str(raw.get("location_id") or "")[:100],
        "available": raw["available"],
    }
    if raw.get("updated_at"):
        level["updated_at"] = raw["updated_at"]
    return level


def inventory_from_shopify(payload: Any, store_id: str) -> InventoryEvent:
    """Map one ``inventory_levels/update`` payload; raises WebhookRejected(422) with the reason."""
    level = _level(payload, "body")
    try:
        return InventoryEvent.model_validate(
            {"store_id": store_id, "levels": [level], "source": "webhook"}
        )
    except ValidationError as exc:
        raise _rejected(exc) from exc


def inventory_from_json(payload: Any, store_id: str) -> InventoryEvent:
    """A store's own levels, ``{"levels": [{"product_id", "available", "location_id"?,
    "updated_at"?}, ...]}`` (at most ``MAX_LEVELS``); raises WebhookRejected(422) with the reason."""
    if not isinstance(payload, dict) or not isinstance(payload.get("levels"), list):
        raise WebhookRejected(422, 'body must be a JSON object {"levels": [...]}')
    raw_levels = payload["levels"]
    if not raw_levels:
        raise WebhookRejected(422, "levels is empty")
    if len(raw_levels) > MAX_LEVELS:
        raise WebhookRejected(422, f"{len(raw_levels)} levels in one request; at most {MAX_LEVELS}")
    levels = [_level(raw, f"levels[{i}]") for i, raw in enumerate(raw_levels)]
    try:
        return InventoryEvent.model_validate({"store_id": store_id, "levels": levels})
    except ValidationError as exc:
        raise _rejected(exc) from exc
