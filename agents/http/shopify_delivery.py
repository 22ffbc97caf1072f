"""The two steps every Shopify webhook route takes: accept a delivery, then drop a retry of one
already published. The rules themselves are pure (``webhooks.shopify``); this wires them to the
worker's settings and to the Redis-backed dedupe."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from webhooks.shopify import WebhookRejected, authenticate_delivery, delivery_id

from .. import readmodel
from ..app import settings
from .common import HttpError

SHOP_SECRETS = {
    shop: secret.get_secret_value() for shop, secret in settings.shopify_webhook_secrets.items()
}


def verified_store(headers: Mapping[str, str], body: bytes) -> str:
    """The store a genuine, current delivery is for; HttpError(401) with the reason otherwise."""
    try:
        return authenticate_delivery(
            headers,
            body,
            SHOP_SECRETS,
            settings.shopify_webhook_secret,
            settings.default_store_id,
            settings.webhook_max_age_s,
            datetime.now(UTC),
        )
    except WebhookRejected as exc:
        raise HttpError(exc.status, exc.reason, exc.errors) from exc


async def first_delivery(store_id: str, headers: Mapping[str, str]) -> bool:
    """False for a delivery already accepted (same event id). A delivery without an id, or one
    that arrives while Redis is down, counts as the first: what it publishes is safe to see
    twice (the orders agent drops an order id it has counted, the stock fold a reading no newer
    than the one it holds), and refusing it would lose it."""
    event_id = delivery_id(headers)
    if not event_id:
        return True
    try:
        return bool(await readmodel.remember_webhook(store_id, event_id))
    except readmodel.UNAVAILABLE:
        return True
