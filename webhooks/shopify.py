"""Shopify ``orders/create`` webhooks: signature check and mapping to ``OrderEvent``.

Shopify signs the raw body: header ``X-Shopify-Hmac-Sha256`` = base64(HMAC-SHA256(secret, body)).
The check must run on the exact bytes received (before any JSON parsing) and compare in constant
time. Docs: shopify.dev/docs/apps/build/webhooks/subscribe/https (verify webhooks).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from pydantic import ValidationError

from models import OrderEvent


class WebhookRejected(Exception):
    """Carries the HTTP status and the reason the client gets back."""

    def __init__(self, status: int, reason: str, errors: list[dict] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.errors = errors or []


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify_signature(secret: str, body: bytes, header_value: str | None) -> bool:
    if not header_value:
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header_value.strip().encode())


def _line_product_id(item: dict[str, Any]) -> str | None:
    for field in ("product_id", "variant_id", "sku"):
        value = item.get(field)
        if value not in (None, ""):
            return str(value)
    return None


def order_from_shopify(payload: Any, store_id: str) -> OrderEvent:
    """Map Shopify's order JSON to an OrderEvent; raises WebhookRejected(422) with the reason."""
    if not isinstance(payload, dict):
        raise WebhookRejected(422, "body must be a JSON object (a Shopify order)")
    order_id = payload.get("id") or payload.get("admin_graphql_api_id") or payload.get("name")
    if order_id in (None, ""):
        raise WebhookRejected(422, "order has no id")
    items = payload.get("line_items")
    if not isinstance(items, list) or not items:
        raise WebhookRejected(422, "order has no line_items")
    lines = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise WebhookRejected(422, f"line_items[{index}] is not an object")
        product_id = _line_product_id(item)
        if product_id is None:
            raise WebhookRejected(422, f"line_items[{index}] has no product_id, variant_id or sku")
        lines.append({
            "product_id": product_id,
            "quantity": item.get("quantity"),
            "price": item.get("price"),
            "title": item.get("title") or item.get("name"),
            "category": item.get("product_type") or None,
        })
    raw = {
        "order_id": str(order_id),
        "store_id": store_id,
        "lines": lines,
        "created_at": payload.get("created_at") or payload.get("processed_at"),
        "currency": payload.get("currency") or "USD",
        "customer_id": str((payload.get("customer") or {}).get("id") or "") or None,
        "source": "webhook",
    }
    if raw["created_at"] is None:
        del raw["created_at"]
    try:
        return OrderEvent.model_validate(raw)
    except ValidationError as exc:
        errors = [{"loc": ".".join(map(str, e["loc"])), "msg": e["msg"]} for e in exc.errors(include_url=False, include_input=False)]
        raise WebhookRejected(422, "; ".join(f"{e['loc']}: {e['msg']}" for e in errors[:5]), errors) from exc
