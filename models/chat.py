"""Chat turns in, composite replies out (docs/design.md, Composite flow)."""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .common import Currency, Id, InputEvent, OutputRecord, SafeId, utcnow


class ChatTurn(InputEvent):
    """One shopper message. Keyed by store_id so the session meets its store's catalog and counts."""

    turn_id: Id
    session_id: SafeId
    store_id: SafeId
    user_id: str = Field("anonymous", max_length=200)
    text: str = Field(min_length=1, max_length=4000)
    sent_at: datetime = Field(default_factory=utcnow)


class Budget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: float = Field(gt=0)
    currency: Currency = "USD"


class Entities(BaseModel):
    """What the shopper told us so far; merged turn by turn into the session state."""

    model_config = ConfigDict(extra="forbid")

    date: dt.date | None = None
    date_text: str | None = None
    budget: Budget | None = None
    dietary: list[str] = Field(default_factory=list)
    party_size: int | None = Field(None, ge=1, le=1000)
    occasion: str | None = None
    experience: str | None = Field(
        None, description="Resolved experience (date_night, birthday, ...)."
    )


class SessionState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_id: Id
    store_id: Id
    user_id: str = "anonymous"
    entities: Entities = Field(default_factory=Entities)
    turns: int = 0
    probes_asked: int = 0
    last_intent: str | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class DiscoveredProduct(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: Id
    name: str
    category: str
    price: float = Field(ge=0)
    currency: Currency = "USD"
    rating: float | None = None
    sold_count: int = 0
    sponsored: bool = False
    partner_name: str | None = None
    score: float = 0.0
    slice: str | None = Field(None, description="Product-mix slice that picked it.")


class CategoryListing(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: str
    query: str = ""
    products: list[DiscoveredProduct] = Field(default_factory=list)


class CompositeOption(BaseModel):
    """One bundle option: one product per category, ids only from the listing."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field(min_length=1, max_length=120)
    description: str = Field("", max_length=600)
    product_ids: list[Id] = Field(min_length=1, max_length=10)
    total_price: float = Field(ge=0)
    currency: Currency = "USD"


class CompositeReply(OutputRecord):
    """Keyed by session_id on the composite-options topic, consumed by the chat gateway."""

    reply_id: Id
    turn_id: Id
    session_id: Id
    store_id: Id
    kind: Literal["questions", "options", "products", "message"]
    intent: str = Field(
        "discover_composite", description="discover_composite | discover | smalltalk"
    )
    message: str = Field("", description="Engagement message or probing text shown to the shopper.")
    questions: list[str] = Field(default_factory=list)
    entities: Entities = Field(default_factory=Entities)
    categories: list[CategoryListing] = Field(default_factory=list)
    options: list[CompositeOption] = Field(default_factory=list, max_length=4)
    experience_card: dict[str, Any] | None = Field(None, description="Adaptive Card 1.5 JSON.")
    generated_by: Literal["llm", "deterministic"] = "deterministic"
    fallback_reason: str | None = Field(
        None, description="Why the deterministic path answered, if it did."
    )
    latency_ms: float = 0.0
    created_at: datetime = Field(default_factory=utcnow)


class AddBulkRequest(BaseModel):
    """POST /api/v1/bundle/add-bulk body."""

    model_config = ConfigDict(extra="forbid")

    product_ids: list[Id] = Field(min_length=1, max_length=50)
    user_id: str | None = Field(None, max_length=200)
    bundle_id: SafeId | None = None
    store_id: SafeId | None = None
    session_id: SafeId | None = None
    option_label: str | None = Field(None, max_length=120)


class AddBulkResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bundle_id: str
    products_added: list[str]
    total_price: float
    currency: Currency = "USD"


class BundleAdded(OutputRecord):
    """Bundle-adds topic record: one per successful bulk add (attach analytics)."""

    bundle_id: Id
    store_id: Id
    user_id: str | None = None
    session_id: str | None = None
    option_label: str | None = None
    product_ids: list[Id]
    products_added: list[str]
    bundle_product_ids: list[Id] = Field(
        default_factory=list, description="All products in the bundle after the add."
    )
    total_price: float
    currency: Currency = "USD"
    created: bool = Field(
        description="True when this call created the bundle, False when it extended one."
    )
    added_at: datetime = Field(default_factory=utcnow)
