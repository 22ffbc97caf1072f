"""Order events: from Shopify webhooks, the HTTP API or replayed order history."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator

from .common import Currency, Id, InputEvent, NonNegativeMoney, SafeId, utcnow


class OrderLine(InputEvent):
    product_id: Id
    quantity: int = Field(
        gt=0, le=1_000_000, description="Units bought; returns and cancellations are not orders."
    )
    price: NonNegativeMoney = Field(description="Unit price in the order's currency.")
    category: str | None = Field(
        None, max_length=200, description="Product category if the source knows it."
    )
    title: str | None = Field(None, max_length=500)


class OrderEvent(InputEvent):
    """One order. Keyed by ``store_id`` on the orders topic so a store's counts live on one worker."""

    order_id: Id
    store_id: SafeId
    lines: list[OrderLine] = Field(min_length=1, max_length=1000)
    created_at: datetime = Field(default_factory=utcnow)
    currency: Currency = "USD"
    customer_id: str | None = Field(None, max_length=200)
    source: Literal["webhook", "replay", "api"] = "api"

    @field_validator("lines")
    @classmethod
    def _lines_not_empty(cls, lines: list[OrderLine]) -> list[OrderLine]:
        if not lines:
            raise ValueError("an order needs at least one line")
        return lines
