"""Composite experiences (docs/design.md, Composite flow): broker-free logic the chat agent calls.

Entry point: ``handle_turn`` (reply.py). Pieces: entities, planner, discovery (ranking and
product mix), options (LLM curation + validator + deterministic builder), card, bulk_add.
The LLM is optional (``LLMClient.from_settings`` returns None without a key).
"""

from .bulk_add import (
    BulkAddResult,
    BundleStore,
    InMemoryBundleStore,
    UnknownProductsError,
    add_bulk,
    plan_bulk_add,
)
from .card import build_experience_card, engagement_message, template_message
from .discovery import (
    Candidate,
    CatalogIndex,
    apply_product_mix,
    build_index,
    discover_category,
    discover_composite,
    rank_candidates,
    rank_pool,
    slot_counts,
)
from .entities import extract_entities, merge_entities
from .llm import Deadline, LLMClient, LLMError
from .options import build_options, suggest_composite_bundle_options, validate_options
from .planner import PlanDecision, apply_decision, plan, plan_with_llm
from .reply import handle_turn, new_session

__all__ = [
    "BulkAddResult",
    "BundleStore",
    "Candidate",
    "CatalogIndex",
    "Deadline",
    "InMemoryBundleStore",
    "LLMClient",
    "LLMError",
    "PlanDecision",
    "UnknownProductsError",
    "add_bulk",
    "apply_decision",
    "apply_product_mix",
    "build_experience_card",
    "build_index",
    "build_options",
    "discover_category",
    "discover_composite",
    "engagement_message",
    "extract_entities",
    "handle_turn",
    "merge_entities",
    "new_session",
    "plan",
    "plan_bulk_add",
    "plan_with_llm",
    "rank_candidates",
    "rank_pool",
    "slot_counts",
    "suggest_composite_bundle_options",
    "template_message",
    "validate_options",
]
