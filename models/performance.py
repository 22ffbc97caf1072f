"""Live bundle performance: what happened to each published bundle in the orders after it.

``GET /api/v1/stores/{store}/bundles/performance`` answers with ``StorePerformance``; the merchant
page and the demo read it. How the counts feed the next generation is in docs/design.md
(Live feedback).
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from .common import Id


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BundleDayPerformance(_Out):
    """One UTC day (by order time) of one bundle."""

    day: date
    orders_whole: int = Field(0, ge=0, description="Orders holding every product of the bundle.")
    orders_partial: int = Field(
        0, ge=0, description="Orders holding at least 2 of its products (whole ones included)."
    )
    revenue_whole: float = Field(
        0.0, ge=0, description="Revenue of the bundle's products in the whole-bundle orders."
    )
    revenue_partial: float = Field(
        0.0, ge=0, description="Revenue of the bundle's products in the at-least-2 orders."
    )


class BundlePerformance(_Out):
    bundle_id: Id
    product_ids: list[str]
    published_at: datetime
    orders_whole: int = Field(0, ge=0)
    orders_partial: int = Field(0, ge=0)
    revenue_whole: float = Field(0.0, ge=0)
    revenue_partial: float = Field(0.0, ge=0)
    days: list[BundleDayPerformance] = Field(default_factory=list)


class StorePerformance(_Out):
    """Counts since the store's latest bundle set was published; cancellations subtract."""

    store_id: Id
    upload_id: Id
    published_at: datetime
    orders_since_published: int = Field(
        0, ge=0, description="Orders of the store counted since publication (the denominator)."
    )
    bundles: list[BundlePerformance] = Field(default_factory=list)
    as_of: datetime
