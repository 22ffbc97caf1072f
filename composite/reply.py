"""One chat turn in, the new session state and one CompositeReply out: the chat agent's only call.

plan (LLM or deterministic) -> questions, or discovery -> options -> engagement -> card.
All LLM calls share one turn deadline of ``TURN_DEADLINE_FACTOR * llm_timeout_s`` so a turn
answers in bounded time whatever the model does; every failure ends on the deterministic path.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Literal

from models.catalog import Product
from models.chat import CategoryListing, ChatTurn, CompositeReply, SessionState
from models.config import ConfigDocument

from .card import build_experience_card, engagement_message, template_message
from .discovery import CatalogIndex, as_index, discover_category, discover_composite
from .llm import Deadline, LLMClient
from .options import _prompt, suggest_composite_bundle_options
from .planner import PlanDecision, apply_decision, plan_with_llm

TURN_DEADLINE_FACTOR = 2.0
_NS = uuid.UUID("6f1d3c1e-4b7a-4d6e-9a51-0c0b0d1e5a7f")


def new_session(turn: ChatTurn) -> SessionState:
    return SessionState(session_id=turn.session_id, store_id=turn.store_id, user_id=turn.user_id)


def _search_terms(decision: PlanDecision) -> list[str]:
    """Dietary needs and the occasion nudge text relevance; they never filter products out."""
    e = decision.entities
    return [*e.dietary, *([e.occasion] if e.occasion else [])]


def _join_reasons(*reasons: str | None) -> str | None:
    got = [r for r in reasons if r and r not in ("no_api_key",)]
    if not got and any(r == "no_api_key" for r in reasons):
        return "no_api_key"
    return "; ".join(got) or None


async def handle_turn(
    state: SessionState | None,
    turn: ChatTurn,
    catalog: Sequence[Product] | CatalogIndex,
    sold_counts: Mapping[str, int],
    config_doc: ConfigDocument,
    llm: LLMClient | None,
    now: datetime | None = None,
) -> tuple[SessionState, CompositeReply]:
    """Decide, discover, curate and render for one turn. Never raises on LLM trouble.

    ``catalog`` should be a ``CatalogIndex`` from ``build_index``, built once per catalog version
    and cached by the caller keyed by the catalog's sha256 (``agents.chat._IndexCache``); the
    index also memoises per-category candidate rows, so reusing it keeps turns in the
    low milliseconds on a 33k-product catalog. A plain product list works but is indexed on
    every call (hundreds of milliseconds on such a catalog).
    """
    t0 = time.perf_counter()
    now = now or turn.sent_at or datetime.now(UTC)
    state = state or new_session(turn)
    index = as_index(catalog)
    config, prompts = config_doc.platform, config_doc.prompts
    deadline = Deadline(TURN_DEADLINE_FACTOR * llm.timeout_s) if llm else None

    decision, plan_by, plan_reason = await plan_with_llm(
        state,
        turn.text,
        config,
        _prompt(prompts, "planner"),
        llm,
        now,
        known_categories=index.categories,
        default_currency=index.currency,
        deadline=deadline,
        learned=index.learned,
    )
    new_state = apply_decision(state, decision, now, config)
    base = dict(
        reply_id=str(uuid.uuid5(_NS, f"{turn.session_id}/{turn.turn_id}")),
        turn_id=turn.turn_id,
        session_id=turn.session_id,
        store_id=turn.store_id,
        intent=decision.intent,
        entities=decision.entities,
    )

    if decision.action != "fetch" or not decision.categories:
        kind: Literal["questions", "message"] = (
            "questions" if decision.action == "probe" else "message"
        )
        message = decision.message or " ".join(decision.questions)
        reply = CompositeReply(
            **base,
            kind=kind,
            message=message,
            questions=decision.questions,
            generated_by=plan_by,
            fallback_reason=plan_reason,
            latency_ms=(time.perf_counter() - t0) * 1000,
        )
        return new_state, reply

    terms = _search_terms(decision)
    budget = decision.entities.budget
    if decision.intent == "discover_composite":
        listings = discover_composite(
            index, decision.categories, sold_counts, config, extra_terms=terms, budget=budget
        )
        options, opt_by, opt_reason = await suggest_composite_bundle_options(
            listings,
            decision.entities,
            config,
            prompts,
            llm,
            experience=decision.experience,
            deadline=deadline,
        )
    else:
        listings = [
            discover_category(
                index, decision.categories[0], sold_counts, config, extra_terms=terms, budget=budget
            )
        ]
        options, opt_by, opt_reason = [], "deterministic", None

    title_key = decision.experience or (
        decision.categories[0] if decision.intent == "discover" else None
    )
    if options:
        message, msg_by, msg_reason = await engagement_message(
            decision.experience,
            decision.entities,
            options,
            listings,
            prompts,
            llm,
            deadline=deadline,
        )
    else:
        message, msg_by, msg_reason = (
            template_message(title_key, decision.entities, [], listings),
            "deterministic",
            None,
        )
    card = build_experience_card(title_key, options, listings, message)
    llm_parts = [
        plan_by,
        opt_by if decision.intent == "discover_composite" else None,
        msg_by if options else None,
    ]
    generated_by: Literal["llm", "deterministic"] = (
        "llm" if llm is not None and all(p in (None, "llm") for p in llm_parts) else "deterministic"
    )
    reply = CompositeReply(
        **base,
        kind="options" if options else "products",
        message=message,
        categories=listings,
        options=options,
        experience_card=card,
        generated_by=generated_by,
        fallback_reason=_join_reasons(plan_reason, opt_reason, msg_reason),
        latency_ms=(time.perf_counter() - t0) * 1000,
    )
    return new_state, reply


def catalog_ids(listings: Sequence[CategoryListing]) -> set[str]:
    """Ids a reply may mention (used by tests and by the agent's own assertion)."""
    return {p.product_id for lst in listings for p in lst.products}
