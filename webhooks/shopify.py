"""Shopify order webhooks: signature check and mapping to ``OrderEvent``.

Three topics, told apart by ``X-Shopify-Topic`` (``event_from_shopify``): ``orders/create`` (the
order), ``orders/cancelled`` (the full order again, with ``cancelled_at``: a cancellation) and
``refunds/create`` (``order_id`` and the refunded ``refund_line_items``: a refund).

Shopify signs the raw body: header ``X-Shopify-Hmac-Sha256`` = base64(HMAC-SHA256(secret, body)).
The check must run on the exact bytes received (before any JSON parsing) and compare in constant
time. Docs: shopify.dev/docs/apps/build/webhooks/subscribe/https (verify webhooks).

One endpoint serves many shops, each with its own secret, so the secret is picked by
``X-Shopify-Shop-Domain`` and a shop nobody configured is refused: that also bounds how many stores
a webhook caller can create. Shopify retries a failed delivery 8 times over 4 hours with the
original payload and the original ``X-Shopify-Triggered-At``, so a delivery older than the freshness
window is refused and the event-id dedupe outlives that window: a replay is either deduplicated or
refused. ``X-Shopify-Triggered-At`` is not covered by the HMAC, so the window only stops replays that
keep the captured headers; the event-id dedupe and the orders agent's order-id dedupe stop the rest
from counting twice.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta
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


# How long an X-Shopify-Event-Id is remembered. Must exceed the freshness window (see
# ``check_window``) so that a replay is either deduplicated or refused as stale.
WEBHOOK_DEDUPE_TTL_S = 7 * 24 * 3600
# Triggered-At this far in the future is still accepted: clocks of NTP-synced hosts drift by
# well under a second; five minutes is the customary allowance (Kerberos uses the same).
CLOCK_SKEW_S = 300


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify_signature(secret: str, body: bytes, header_value: str | None) -> bool:
    if not header_value:
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header_value.strip().encode())


def normalize_shop(domain: str) -> str:
    """Shop domains are case-insensitive hostnames; one spelling keeps one store id per shop."""
    return domain.strip().lower()


def secret_for_shop(
    shop_domain: str | None,
    shop_secrets: Mapping[str, str],
    fallback_secret: str,
    default_store_id: str,
) -> tuple[str, str]:
    """(store id, secret) for a delivery; raises WebhookRejected(401) for a shop with no secret.

    A shop named in ``shop_secrets`` uses its own secret. The single ``fallback_secret`` signs only
    deliveries for the default store (no shop header, or the default store named explicitly): if
    it covered any shop, one leaked secret would let its holder create stores at will.
    """
    shop = normalize_shop(shop_domain) if shop_domain and shop_domain.strip() else default_store_id
    secrets = {normalize_shop(name): secret for name, secret in shop_secrets.items()}
    if shop in secrets:
        return shop, secrets[shop]
    if shop == default_store_id:
        return shop, fallback_secret
    raise WebhookRejected(
        401,
        f"unknown shop {shop[:255]!r}: no webhook secret is configured for it "
        "(BUNDLESTREAM_SHOPIFY_WEBHOOK_SECRETS)",
    )


def parse_triggered_at(value: str | None) -> datetime:
    """X-Shopify-Triggered-At (ISO 8601, e.g. ``2024-09-10T15:14:00.123456789Z``) as an aware datetime."""
    if value is None or not value.strip():
        raise WebhookRejected(401, "missing X-Shopify-Triggered-At header")
    try:
        moment = datetime.fromisoformat(value.strip()[:64])
    except ValueError as exc:
        raise WebhookRejected(
            401, f"X-Shopify-Triggered-At is not an ISO 8601 time: {value[:64]!r}"
        ) from exc
    if moment.tzinfo is None:
        raise WebhookRejected(401, f"X-Shopify-Triggered-At has no time zone: {value[:64]!r}")
    return moment


def check_window(
    triggered_at: datetime, now: datetime, max_age_s: float, skew_s: float = CLOCK_SKEW_S
) -> None:
    """Refuse a delivery triggered more than ``max_age_s`` ago or more than ``skew_s`` ahead of ``now``.

    401, like a bad signature: the request is not accepted as a genuine, current Shopify delivery.
    Shopify retries any non-2xx, but a stale delivery only gets staler, so nothing is lost that a
    retry could have saved.
    """
    age = now - triggered_at
    if age > timedelta(seconds=max_age_s):
        raise WebhookRejected(
            401,
            f"stale delivery: X-Shopify-Triggered-At is {age.total_seconds():.0f}s old, "
            f"older than the {max_age_s:.0f}s window (BUNDLESTREAM_WEBHOOK_MAX_AGE_S)",
        )
    if -age > timedelta(seconds=skew_s):
        raise WebhookRejected(
            401,
            f"X-Shopify-Triggered-At is {-age.total_seconds():.0f}s in the future, "
            f"beyond the {skew_s:.0f}s clock-skew allowance",
        )


def authenticate_delivery(
    headers: Mapping[str, str],
    body: bytes,
    shop_secrets: Mapping[str, str],
    fallback_secret: str,
    default_store_id: str,
    max_age_s: float,
    now: datetime,
) -> str:
    """The store id of a genuine, current delivery: the shop's secret (``secret_for_shop``), the
    HMAC of the raw body, then the freshness window. Raises WebhookRejected(401) otherwise."""
    store_id, secret = secret_for_shop(
        headers.get("X-Shopify-Shop-Domain"), shop_secrets, fallback_secret, default_store_id
    )
    if not verify_signature(secret, body, headers.get("X-Shopify-Hmac-Sha256")):
        raise WebhookRejected(401, "missing or invalid X-Shopify-Hmac-Sha256 signature")
    check_window(parse_triggered_at(headers.get("X-Shopify-Triggered-At")), now, max_age_s)
    return store_id


def delivery_id(headers: Mapping[str, str]) -> str | None:
    """What names a delivery for the dedupe (one id per event, the same on every retry)."""
    return headers.get("X-Shopify-Event-Id") or headers.get("X-Shopify-Webhook-Id") or None


def _line_product_id(item: dict[str, Any]) -> str | None:
    for field in ("product_id", "variant_id", "sku"):
        value = item.get(field)
        if value not in (None, ""):
            return str(value)
    return None


TOPIC_ORDER = "orders/create"
TOPIC_CANCELLED = "orders/cancelled"
TOPIC_REFUND = "refunds/create"
TOPICS = (TOPIC_ORDER, TOPIC_CANCELLED, TOPIC_REFUND)


def _validated(raw: dict[str, Any]) -> OrderEvent:
    try:
        return OrderEvent.model_validate(raw)
    except ValidationError as exc:
        errors = [
            {"loc": ".".join(map(str, e["loc"])), "msg": e["msg"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        raise WebhookRejected(
            422, "; ".join(f"{e['loc']}: {e['msg']}" for e in errors[:5]), errors
        ) from exc


def _order_lines(items: Any, required: bool) -> list[dict[str, Any]]:
    if not isinstance(items, list) or (required and not items):
        if required:
            raise WebhookRejected(422, "order has no line_items")
        return []
    lines = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise WebhookRejected(422, f"line_items[{index}] is not an object")
        product_id = _line_product_id(item)
        if product_id is None:
            raise WebhookRejected(422, f"line_items[{index}] has no product_id, variant_id or sku")
        lines.append(
            {
                "product_id": product_id,
                "quantity": item.get("quantity"),
                "price": item.get("price"),
                "title": item.get("title") or item.get("name"),
                "category": item.get("product_type") or None,
            }
        )
    return lines


def _order_id(payload: dict[str, Any]) -> str:
    order_id = payload.get("id") or payload.get("admin_graphql_api_id") or payload.get("name")
    if order_id in (None, ""):
        raise WebhookRejected(422, "order has no id")
    return str(order_id)


def order_from_shopify(payload: Any, store_id: str) -> OrderEvent:
    """Map Shopify's order JSON to an OrderEvent; raises WebhookRejected(422) with the reason."""
    if not isinstance(payload, dict):
        raise WebhookRejected(422, "body must be a JSON object (a Shopify order)")
    order_id = _order_id(payload)
    lines = _order_lines(payload.get("line_items"), required=True)
    raw = {
        "order_id": order_id,
        "store_id": store_id,
        "lines": lines,
        "created_at": payload.get("created_at") or payload.get("processed_at"),
        "currency": payload.get("currency") or "USD",
        "customer_id": str((payload.get("customer") or {}).get("id") or "") or None,
        "source": "webhook",
    }
    if raw["created_at"] is None:
        del raw["created_at"]
    return _validated(raw)


def cancellation_from_shopify(payload: Any, store_id: str) -> OrderEvent:
    """``orders/cancelled``: the whole order is void. Its line items ride along (they tell what an
    order remembered without its amounts added); the event time is ``cancelled_at``."""
    if not isinstance(payload, dict):
        raise WebhookRejected(422, "body must be a JSON object (a cancelled Shopify order)")
    order_id = _order_id(payload)
    lines = _order_lines(payload.get("line_items"), required=False)
    raw = {
        "order_id": order_id,
        "store_id": store_id,
        "kind": "cancellation",
        "lines": [line for line in lines if line.get("quantity") not in (0, None)],
        "created_at": payload.get("cancelled_at") or payload.get("updated_at"),
        "currency": payload.get("currency") or "USD",
        "customer_id": str((payload.get("customer") or {}).get("id") or "") or None,
        "source": "webhook",
    }
    if raw["created_at"] is None:
        del raw["created_at"]
    return _validated(raw)


def refund_from_shopify(payload: Any, store_id: str) -> OrderEvent | None:
    """``refunds/create``: the refunded units of ``refund_line_items``, or None for a refund that
    returns no units (money only: shipping, an adjustment), which changes no count."""
    if not isinstance(payload, dict):
        raise WebhookRejected(422, "body must be a JSON object (a Shopify refund)")
    order_id = payload.get("order_id")
    if order_id in (None, ""):
        raise WebhookRejected(422, "refund has no order_id")
    refund_id = payload.get("id") or payload.get("admin_graphql_api_id")
    if refund_id in (None, ""):
        raise WebhookRejected(422, "refund has no id")
    items = payload.get("refund_line_items")
    if items is None:
        items = []
    if not isinstance(items, list):
        raise WebhookRejected(422, "refund_line_items is not a list")
    lines = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise WebhookRejected(422, f"refund_line_items[{index}] is not an object")
        line_item = item.get("line_item")
        if not isinstance(line_item, dict):
            raise WebhookRejected(422, f"refund_line_items[{index}] has no line_item object")
        product_id = _line_product_id(line_item)
        if product_id is None:
            raise WebhookRejected(
                422, f"refund_line_items[{index}].line_item has no product_id, variant_id or sku"
            )
        if item.get("quantity") in (0, None):
            continue  # a money-only line: no units come back
        lines.append(
            {
                "product_id": product_id,
                "quantity": item.get("quantity"),
                "price": line_item.get("price"),
                "title": line_item.get("title") or line_item.get("name"),
                "category": line_item.get("product_type") or None,
            }
        )
    if not lines:
        return None
    raw = {
        "order_id": str(order_id),
        "store_id": store_id,
        "kind": "refund",
        "refund_id": str(refund_id),
        "lines": lines,
        "created_at": payload.get("created_at") or payload.get("processed_at"),
        "currency": payload.get("currency") or _transaction_currency(payload) or "USD",
        "source": "webhook",
    }
    if raw["created_at"] is None:
        del raw["created_at"]
    return _validated(raw)


def _transaction_currency(payload: dict[str, Any]) -> str | None:
    transactions = payload.get("transactions")
    if isinstance(transactions, list) and transactions and isinstance(transactions[0], dict):
        currency = transactions[0].get("currency")
        return currency if isinstance(currency, str) else None
    return None


def event_from_shopify(topic: str | None, payload: Any, store_id: str) -> OrderEvent | None:
    """The event for a delivery of ``topic`` (no topic: ``orders/create``, as before topics were
    read); None when it changes nothing (a refund of money only). 422 for a topic not handled."""
    topic = (topic or TOPIC_ORDER).strip().lower()
    if topic == TOPIC_ORDER:
        return order_from_shopify(payload, store_id)
    if topic == TOPIC_CANCELLED:
        return cancellation_from_shopify(payload, store_id)
    if topic == TOPIC_REFUND:
        return refund_from_shopify(payload, store_id)
    raise WebhookRejected(
        422, f"X-Shopify-Topic {topic[:64]!r} is not handled here (one of {', '.join(TOPICS)})"
    )
