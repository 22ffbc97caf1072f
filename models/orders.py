"""Order events: from Shopify webhooks, the HTTP API or replayed order history.

One event type carries three kinds of fact about an order, told apart by ``kind``:

- ``order``: the order itself (the default, so records written before ``kind`` existed read as
  orders).
- ``cancellation``: the whole order is void. Its ``lines`` are optional and informative only; the
  orders fold subtracts what the order added, which it remembers itself.
- ``refund``: some units of the order come back. ``refund_id`` names the refund (one order can
  have many, each counted once) and ``lines`` are the refunded units, at most what was bought.

All three use the order's ``order_id`` and are keyed by store, so the events of one order reach
the same worker in the order they were sent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from .common import Currency, Id, InputEvent, NonNegativeMoney, SafeId, utcnow

OrderKind = Literal["order", "cancellation", "refund"]


class OrderLine(InputEvent):
    product_id: Id
    quantity: int = Field(
        gt=0,
        le=1_000_000,
        description="Units bought (an order) or given back (a refund); always positive.",
    )
    price: NonNegativeMoney = Field(description="Unit price in the order's currency.")
    category: str | None = Field(
        None, max_length=200, description="Product category if the source knows it."
    )
    title: str | None = Field(None, max_length=500)


class OrderEvent(InputEvent):
    """An order, its cancellation or one refund. Keyed by ``store_id`` on the orders topic so a
    store's counts live on one worker."""

    order_id: Id
    store_id: SafeId
    kind: OrderKind = Field(
        "order",
        description=(
            "order: the order; cancellation: the whole order is void; refund: ``lines`` come back. "
            "Records without the field are orders."
        ),
    )
    refund_id: Id | None = Field(
        None,
        description="The refund's own id (required for a refund, absent otherwise): each refund "
        "of an order counts once, however often it is delivered.",
    )
    lines: list[OrderLine] = Field(
        default_factory=list,
        max_length=1000,
        description="Order lines; for a refund the refunded units; optional for a cancellation.",
    )
    created_at: datetime = Field(
        default_factory=utcnow,
        description="When it happened: the order's creation, the cancellation or the refund.",
    )
    currency: Currency = "USD"
    customer_id: str | None = Field(None, max_length=200)
    source: Literal["webhook", "replay", "api"] = "api"

    @model_validator(mode="after")
    def _kind_contract(self) -> OrderEvent:
        if self.kind in ("order", "refund") and not self.lines:
            raise ValueError(f"{self.kind} needs at least one line")
        if self.kind == "refund" and self.refund_id is None:
            raise ValueError("a refund needs a refund_id")
        if self.kind != "refund" and self.refund_id is not None:
            raise ValueError(f"refund_id is only for refunds, not for kind {self.kind}")
        return self
