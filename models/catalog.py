"""Catalog products, shared by bundle generation and composite discovery."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from .common import Currency, Id, NonNegativeMoney

MAX_IMAGE_URL = 2048
# Characters no image address needs and that would matter if a page ever put one in markup.
_URL_FORBIDDEN = frozenset(" \"'<>\\`")


def image_url_problem(value: str) -> str | None:
    """Why ``value`` is not an image address a page may load (absolute http(s) with a host), or
    None when it is one. The merchant page loads https ones only (see README, Merchant page)."""
    if len(value) > MAX_IMAGE_URL:
        return f"is {len(value)} characters long (at most {MAX_IMAGE_URL})"
    if any(ch in _URL_FORBIDDEN or ord(ch) < 0x21 or ord(ch) == 0x7F for ch in value):
        return "contains a space, quote, angle bracket, backslash or control character"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        return f"is not a URL ({exc})"
    if parts.scheme.lower() not in ("http", "https"):
        return "must start with http:// or https://"
    if not parts.hostname:
        return "has no host"
    if parts.username is not None or parts.password is not None:
        return "must not carry a user name or password"
    return None


def _image_url(value: str) -> str:
    problem = image_url_problem(value)
    if problem:
        raise ValueError(f"image URL {problem}")
    return value


ImageUrl = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_IMAGE_URL, strip_whitespace=True),
    AfterValidator(_image_url),
]


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
    image_url: ImageUrl | None = Field(
        None, description="The product's picture: an absolute http(s) URL (Shopify's Image Src)."
    )

    @property
    def in_stock(self) -> bool:
        return self.status == "active" and (self.inventory is None or self.inventory > 0)

    @property
    def margin(self) -> float | None:
        if self.cost is None or self.price <= 0:
            return None
        return (self.price - self.cost) / self.price
