"""Platform config and prompts: documents on a compacted topic, so changing them needs no deploy.

Defaults and limits are listed in docs/design.md, Composite flow.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .common import InputEvent, utcnow

SliceSort = Literal["price_desc", "price_asc", "rating", "popularity", "sponsored", "recent"]
PROMPT_MAX_CHARS = 8000


class ProductMixSlice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sort: SliceSort
    limit: int = Field(10, ge=1, le=100, description="Max products considered from this slice.")
    pct: float = Field(
        ge=0, le=100, description="Share of the final list; slices are normalised to 100."
    )


DEFAULT_PRODUCT_MIX: tuple[dict[str, Any], ...] = (
    {"sort": "price_desc", "limit": 10, "pct": 50},
    {"sort": "price_asc", "limit": 10, "pct": 20},
    {"sort": "rating", "limit": 10, "pct": 10},
    {"sort": "popularity", "limit": 10, "pct": 10},
    {"sort": "sponsored", "limit": 10, "pct": 10},
)


class CompositeDiscoveryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    products_per_category: int = Field(5, ge=1, le=10)
    sponsorship_enabled: bool = True
    max_sponsored_per_query: int = Field(
        1, ge=0, le=10, description="sponsorship_pricing.max_sponsored_per_query"
    )
    product_mix: list[ProductMixSlice] = Field(
        default_factory=lambda: [ProductMixSlice(**s) for s in DEFAULT_PRODUCT_MIX], max_length=12
    )

    @field_validator("product_mix")
    @classmethod
    def _pct_sums_to_100(cls, mix: list[ProductMixSlice]) -> list[ProductMixSlice]:
        if mix:
            total = sum(s.pct for s in mix)
            if abs(total - 100.0) > 0.01:
                raise ValueError(f"product_mix pct must sum to 100, got {total:g}")
        return mix


DEFAULT_EXPERIENCES: dict[str, list[str]] = {
    "date_night": ["flowers", "dinner", "movie"],
    "birthday": ["cake", "gift", "decorations"],
    "anniversary": ["flowers", "jewelry", "dinner"],
    "picnic": ["food", "drinks", "blanket"],
    "movie_night": ["snacks", "drinks", "movie"],
    "spa_day": ["bath", "candles", "skincare"],
}


class PlatformConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enable_composite_bundle_suggestion: bool = True
    composite_discovery_config: CompositeDiscoveryConfig = Field(
        default_factory=CompositeDiscoveryConfig
    )
    experiences: dict[str, list[str]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_EXPERIENCES.items()},
        description="Experience -> the categories its composite bundle draws from.",
    )
    category_aliases: dict[str, list[str]] = Field(
        default_factory=dict, description="Experience category -> catalog categories that serve it."
    )

    @field_validator("experiences")
    @classmethod
    def _experiences_have_categories(cls, exp: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, cats in exp.items():
            if not 1 <= len(cats) <= 6:
                raise ValueError(f"experience {name!r} needs 1-6 categories")
        return exp


InteractionType = Literal["planner", "suggest_composite_bundle", "engagement_discover_composite"]


class Prompt(BaseModel):
    model_config = ConfigDict(extra="forbid")

    interaction_type: InteractionType
    display_name: str = Field(max_length=120)
    when_used: str = Field("", max_length=500)
    system_prompt: str = Field(min_length=1, max_length=PROMPT_MAX_CHARS)
    enabled: bool = True
    max_tokens: int = Field(500, ge=16, le=4096)
    display_order: int = 0


DEFAULT_PROMPTS: dict[InteractionType, dict[str, Any]] = {
    "planner": {
        "interaction_type": "planner",
        "display_name": "Planner",
        "when_used": "Every chat turn: decide whether to probe (ask questions) or fetch products.",
        "system_prompt": (
            "You are a shopping planner. Decide the next action for the shopper's message. "
            "If the message is generic (e.g. 'plan a date night') and we do not know the date, budget "
            "and preferences, action=probe and ask 2-3 short questions such as 'What date? Any dietary "
            "preferences? Budget?'. If the shopper gave details or says 'just show me options', "
            "action=fetch. Extract entities: date, budget (amount, currency), dietary, party_size, occasion."
        ),
        "max_tokens": 400,
        "display_order": 1,
    },
    "suggest_composite_bundle": {
        "interaction_type": "suggest_composite_bundle",
        "display_name": "Bundle Curation (Composite)",
        "when_used": "When discover_composite returns products. LLM suggests 2-4 bundle options (one product per category per option).",
        "system_prompt": (
            "You are a bundle curator. Given categories with products for a composite experience, suggest "
            "2-4 different options. Each option: one product per category. Return JSON: { options: [{ label, "
            "description, product_ids, total_price }] }. ONLY use product IDs from the list. Consider: theme "
            "fit, budget, diversity between options."
        ),
        "max_tokens": 500,
        "display_order": 8,
    },
    "engagement_discover_composite": {
        "interaction_type": "engagement_discover_composite",
        "display_name": "Engagement (Composite)",
        "when_used": "User-facing message shown with the products and bundle options.",
        "system_prompt": (
            "Write one or two friendly sentences introducing the bundle options for the shopper's "
            "experience. Mention the budget if one was given. No prices that are not in the options."
        ),
        "max_tokens": 200,
        "display_order": 9,
    },
}


class PromptSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompts: dict[InteractionType, Prompt] = Field(
        default_factory=lambda: {k: Prompt(**v) for k, v in DEFAULT_PROMPTS.items()}
    )

    @model_validator(mode="after")
    def _keys_match(self) -> PromptSet:
        for key, prompt in self.prompts.items():
            if prompt.interaction_type != key:
                raise ValueError(
                    f"prompt under {key!r} says interaction_type {prompt.interaction_type!r}"
                )
        return self


class ConfigDocument(InputEvent):
    """One record of the compacted config topic, keyed by ``scope`` ("platform" or a store id).

    The latest document per key wins; ``version`` lets writers detect lost updates.
    """

    scope: str = Field("platform", min_length=1, max_length=200)
    version: int = Field(1, ge=1)
    platform: PlatformConfig = Field(default_factory=PlatformConfig)
    prompts: PromptSet = Field(default_factory=PromptSet)
    updated_by: str | None = Field(None, max_length=200)
    updated_at: datetime = Field(default_factory=utcnow)
