"""Bundle sets: the answer to an upload, with scores, pricing and generation metrics.

How each number is computed is in docs/design.md (Objectives to Time budget).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .catalog import ImageUrl
from .common import Currency, Id, OutputRecord, utcnow


class Objective(StrEnum):
    """The eight merchant goals a bundle can serve (docs/design.md, Objectives)."""

    MARGIN_GUARD = "margin_guard"
    CLEAR_SLOW_MOVERS = "clear_slow_movers"
    INCREASE_AOV = "increase_aov"
    NEW_LAUNCH = "new_launch"
    SEASONAL_PROMO = "seasonal_promo"
    CATEGORY_BUNDLE = "category_bundle"
    GIFT_BOX = "gift_box"
    SUBSCRIPTION_PUSH = "subscription_push"


class BundleType(StrEnum):
    FBT = "FBT"  # frequently bought together (association rules)
    FIXED = "FIXED"  # fixed set at a fixed bundle price
    MIX_MATCH = "MIX_MATCH"  # pick-n from a group, category diverse
    VOLUME = "VOLUME"  # quantity tiers of one product
    BXGY = "BXGY"  # buy X get Y: slow mover paired with a best seller
    GIFT_BOX = "GIFT_BOX"  # curated gift set
    NEW_LAUNCH = "NEW_LAUNCH"  # new product anchored on a best seller
    SUBSCRIPTION = "SUBSCRIPTION"  # replenishment bundle on subscribe


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BundleProduct(_Out):
    product_id: Id
    title: str = ""
    category: str = ""
    unit_price: float = Field(ge=0)
    quantity: int = Field(1, ge=1)
    role: Literal["anchor", "member", "free", "discounted"] = "member"
    image_url: ImageUrl | None = Field(None, description="The catalog's picture of the product.")


class VolumeTier(_Out):
    min_quantity: int = Field(ge=2)
    discount_pct: float = Field(ge=0, le=90)


class BundlePricing(_Out):
    """List price is the sum of unit prices x quantities; bundle price after the type's discount."""

    currency: Currency = "USD"
    list_price: float = Field(ge=0)
    bundle_price: float = Field(ge=0)
    discount_pct: float = Field(ge=0, le=100)
    cost: float | None = Field(None, ge=0)
    margin_pct: float | None = Field(
        None, description="(bundle_price - cost) / bundle_price, percent."
    )
    volume_tiers: list[VolumeTier] = Field(default_factory=list)
    policy: str = Field("", description="Name of the pricing policy that produced this price.")


class ScoreComponents(_Out):
    """Hybrid score = alpha * semantic + beta * data + gamma * business (docs/design.md, Scoring)."""

    semantic: float
    data: float
    business: float
    alpha: float
    beta: float
    gamma: float
    anchor_category: str = ""
    anchor_category_transactions: int = 0


class Bundle(_Out):
    bundle_id: Id
    bundle_type: BundleType
    objective: Objective
    products: list[BundleProduct] = Field(min_length=1, max_length=10)
    pricing: BundlePricing
    score: float
    score_components: ScoreComponents
    generation_method: str
    cold_start: bool = False
    support: float | None = Field(None, ge=0, le=1)
    confidence: float | None = Field(None, ge=0, le=1)
    lift: float | None = Field(None, ge=0)
    rationale: str = ""


class ObjectiveScore(_Out):
    benefit: float
    confidence: float
    priority: float
    rank: int
    inputs: dict[str, float] = Field(
        default_factory=dict, description="The metrics the benefit came from."
    )


class TimeBudget(_Out):
    target_ms: float
    rolling_cost_per_combo_ms: float
    max_objectives: int
    actual_duration_ms: float
    early_stopped: bool = False


class ComboRun(_Out):
    objective: Objective
    type: BundleType
    candidates: int
    duration_ms: float


class PolicyGateCounts(_Out):
    total_candidates: int = 0
    rejected_out_of_stock: int = 0
    rejected_low_margin: int = 0
    rejected_low_support: int = 0
    rejected_price_invalid: int = 0
    rejected_incompatible_categories: int = 0
    passed: int = 0


class DiversitySelection(_Out):
    candidates_after_gates: int
    mmr_lambda: float
    final_bundle_count: int


class BadRow(_Out):
    file: str
    line: int
    reason: str


class GenerationMetrics(OutputRecord):
    """How one upload was generated: objective scores, time budget, combos, gate counts, MMR."""

    csv_upload_id: Id
    store_id: Id
    objective_selection: dict[str, ObjectiveScore] = Field(default_factory=dict)
    selected_objectives: list[Objective] = Field(default_factory=list)
    time_budget: TimeBudget | None = None
    combos_evaluated: list[ComboRun] = Field(default_factory=list)
    policy_gates: PolicyGateCounts = Field(default_factory=PolicyGateCounts)
    diversity_selection: DiversitySelection | None = None
    cold_start: bool = False
    transactions: int = 0
    catalog_size: int = 0
    parse_ms: float = 0.0
    bad_rows: list[BadRow] = Field(default_factory=list, max_length=1000)
    bad_row_count: int = 0
    trigger: Literal["upload", "stock"] = Field(
        "upload",
        description="What produced this set: an upload, or live stock re-gating the upload's set.",
    )
    stock_outs: list[Id] = Field(
        default_factory=list,
        max_length=100,
        description="Components of the upload's bundles out of stock when this set was re-gated.",
    )
    created_at: datetime = Field(default_factory=utcnow)


class BundleSet(OutputRecord):
    """Keyed by store_id on the bundle-sets topic; the latest per store is the read model."""

    upload_id: Id
    store_id: Id
    status: Literal["ok", "error"] = "ok"
    error: str | None = None
    bundles: list[Bundle] = Field(default_factory=list, max_length=10)
    metrics: GenerationMetrics
    generated_at: datetime = Field(default_factory=utcnow)
