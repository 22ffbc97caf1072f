"""Catalog products, shared by bundle generation and composite discovery."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from .common import Currency, Id, NonNegativeMoney


class Partner(BaseModel):
    """The seller of a product (Olist seller, Shopify vendor)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    partner_id: Id
    name: str = ""
    trust_score: float = Field(
        0.5, ge=0, le=1, description="0..1; ranks products of trusted sellers higher."
    )
    commission_rate: float = Field(
        0.0, ge=0, le=1, description="Platform commission on this partner's sales."
    )


class Sponsorship(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    active: bool = True
    boost: float = Field(
        0.5, ge=0, le=5, description="Added to the ranking score while active (default +0.5)."
    )


class Product(BaseModel):
    """One sellable product (a Shopify variant, an Olist product, a generic CSV row)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    product_id: Id
    title: str = Field("", max_length=500)
    category: str = Field("uncategorized", max_length=200)
    tags: list[str] = Field(default_factory=list, max_length=100)
    description: str = Field("", max_length=20_000)
    price: NonNegativeMoney
    cost: NonNegativeMoney | None = Field(
        None, description="Unit cost; None means unknown (margin gates then assume a default)."
    )
    inventory: int | None = Field(
        None, description="Units in stock; None means not tracked (treated as in stock)."
    )
    created_at: datetime | None = None
    currency: Currency = "USD"
    rating: float | None = Field(None, ge=0, le=5, description="Optional product rating (0..5).")
    partner: Partner | None = None
    sponsorship: Sponsorship | None = None
    status: str = Field("active", max_length=32)
    subscription: bool = Field(
        False, description="Sold as a subscription (subscription_push objective)."
    )

    @property
    def in_stock(self) -> bool:
        return self.status == "active" and (self.inventory is None or self.inventory > 0)

    @property
    def margin(self) -> float | None:
        if self.cost is None or self.price <= 0:
            return None
        return (self.price - self.cost) / self.price
