"""Stock levels: from Shopify ``inventory_levels/update`` webhooks or a store's own JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from .common import Id, InputEvent, SafeId, utcnow

MAX_LEVELS = 1000  # stock levels in one event (one request)
MAX_UNITS = 1_000_000_000


class InventoryLevel(InputEvent):
    """Units available of one item at one location, as of ``updated_at``."""

    item_ids: list[Id] = Field(
        min_length=1,
        max_length=4,
        description="The ids this item may go by in the catalog, most specific first "
        "(product_id, sku, variant_id, inventory_item_id); the first one that names a tracked "
        "bundle component is used.",
    )
    location_id: str = Field("", max_length=100, description="Empty: the store's only location.")
    available: int = Field(
        ge=-MAX_UNITS, le=MAX_UNITS, description="Units available (negative when oversold)."
    )
    updated_at: datetime = Field(default_factory=utcnow)


class InventoryEvent(InputEvent):
    """Keyed by ``store_id`` on the inventory topic, like orders, so stock meets the store's bundles."""

    store_id: SafeId
    levels: list[InventoryLevel] = Field(min_length=1, max_length=MAX_LEVELS)
    source: Literal["webhook", "api"] = "api"
