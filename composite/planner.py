"""Probe or fetch: the planner decides the next action of a chat turn.

``plan`` is deterministic and alone gives every answer of this table (docs/design.md,
Composite flow):

| message                              | decision                                           |
|--------------------------------------|----------------------------------------------------|
| generic ("date night")               | probe: questions for what is missing, no discovery |
| with details ("Saturday $100 veg")   | fetch, entities merged into the session            |
| "just show me options"               | fetch immediately                                  |
| answer after a probe                 | merged into the session, then fetch                |
| "show me flowers"                    | single-category discover, fetch                    |

``plan_with_llm`` asks the model (configurable ``planner`` prompt, forced tool whose schema is
``PlanDecision``) and falls back to ``plan`` on any failure, recording why.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from models.chat import Entities, SessionState
from models.config import PlatformConfig, Prompt

from .defaults import (
    CATEGORY_KEYWORDS,
    COMPLEMENTS,
    DETECT_WORDS,
    EXPERIENCE_PATTERNS,
    FOOD_CATEGORIES,
    GROUP_EXPERIENCES,
)
from .discovery import norm_category, tokenize
from .entities import extract_entities, has_details, merge_entities
from .learned import (
    LEARNED_EXPERIENCE_THRESHOLD,
    MAX_LEARNED_CATEGORIES,
    CategorySpace,
    LearnedMatch,
)
from .llm import UNTRUSTED_NOTICE, Deadline, LLMClient, LLMError, untrusted, wrap_untrusted

Action = Literal["probe", "fetch", "message"]
Intent = Literal["discover_composite", "discover", "smalltalk"]
LEARNED_INTENT = "discover_composite:"  # + the learned plan's categories, comma-separated
MAX_PROBES = (
    1  # ask once; an answer without recognisable details still gets products, not a second quiz
)

SHOW_NOW = re.compile(
    r"just show|show me (?:the |some |your )?(?:options|bundles|ideas|something|what you(?:'ve| have)?|everything)"
    r"|\bskip\b|surprise me|\bwhatever\b|don'?t care|no preference|doesn'?t matter|just pick|any(?:thing)? (?:is fine|works|will do)"
    r"|^\s*(?:options|show options)\s*[.!]?\s*$",
    re.IGNORECASE,
)
SHOW_VERB = re.compile(r"\b(show|find|browse|see|search|list|get me|buy)\b", re.IGNORECASE)


class PlanDecision(BaseModel):
    """What to do with this turn. Also the forced tool's input schema for the LLM planner."""

    model_config = ConfigDict(extra="forbid")

    action: Action = Field(
        description="probe = ask questions, no discovery; fetch = discover products; message = just reply"
    )
    intent: Intent = Field(
        "discover_composite",
        description="discover_composite for experiences, discover for one category",
    )
    questions: list[str] = Field(
        default_factory=list, max_length=4, description="Probing questions (action=probe)"
    )
    entities: Entities = Field(
        default_factory=Entities, description="Everything known about the plan so far"
    )
    experience: str | None = Field(
        None, description="Experience key from the configured list, e.g. date_night"
    )
    categories: list[str] = Field(
        default_factory=list, max_length=6, description="Categories to discover"
    )
    message: str = Field("", max_length=600, description="Short text shown to the shopper")
    reason: str = Field("", max_length=300, description="Why this action (for logs)")


def experience_label(key: str | None) -> str:
    return (key or "plan").replace("_", " ")


def detect_experience(text: str, experiences: dict[str, list[str]]) -> str | None:
    """Configured keys by their own words first ('spa_day' -> 'spa day'), then built-in phrases."""
    low = text.lower()
    keys = sorted(experiences, key=lambda k: -len(k))
    for key in keys:
        phrase = re.escape(key.replace("_", " ")).replace(r"\ ", r"[\s_-]")
        if re.search(rf"\b{phrase}\b", low):
            return key
    for pattern, key in EXPERIENCE_PATTERNS:
        if key in experiences and re.search(rf"\b(?:{pattern})", low):
            return key
    return None


@lru_cache(maxsize=1024)
def _category_words(cat: str) -> tuple[str, frozenset[str]]:
    """(normalised key, words naming it): the category's own tokens plus its DETECT_WORDS."""
    key = norm_category(cat)
    return key, frozenset(tokenize(cat)) | {
        t for w in DETECT_WORDS.get(key, []) for t in tokenize(w)
    }


@lru_cache(maxsize=64)
def _known_words(known: tuple[str, ...]) -> tuple[tuple[str, frozenset[str]], ...]:
    """Catalog categories (given in name order) with their tokens minus 'and'/'of'; empty ones dropped."""
    out = []
    for cat in known:
        ctoks = frozenset(tokenize(cat)) - {"and", "of"}
        if ctoks:
            out.append((norm_category(cat), ctoks))
    return tuple(out)


def detect_category(
    text: str, config: PlatformConfig, known_categories: Iterable[str] = ()
) -> str | None:
    """A single category the shopper names ('show me flowers', 'roses', 'perfumery')."""
    toks = set(tokenize(text))
    vocab: list[str] = []
    for cats in config.experiences.values():
        vocab.extend(cats)
    vocab.extend(config.category_aliases)
    vocab.extend(DETECT_WORDS)
    seen: set[str] = set()
    for cat in vocab:
        key, words = _category_words(cat)
        if key in seen:
            continue
        seen.add(key)
        if not toks.isdisjoint(words):
            return key
    for key, ctoks in _known_words(tuple(sorted(known_categories))):
        if ctoks <= toks:
            return key
    return None


def composite_questions(
    experience: str | None, entities: Entities, categories: list[str]
) -> list[str]:
    """Ask only for what is missing, in this order: date, dietary, budget (+ head count)."""
    label = experience_label(experience)
    qs: list[str] = []
    if entities.date is None:
        qs.append(f"What date are you planning the {label} for?")
    if not entities.dietary and any(norm_category(c) in FOOD_CATEGORIES for c in categories):
        qs.append("Any dietary preferences (vegetarian, vegan, gluten-free...)?")
    if entities.budget is None:
        qs.append("What's your budget?")
    if entities.party_size is None and experience in GROUP_EXPERIENCES:
        qs.append("How many people?")
    return qs[:4] or [f"Anything else I should know about your {label}?"]


def discover_questions(category: str, entities: Entities) -> list[str]:
    """Preferences, occasion, budget, and a complement ('Would you like to add flowers?')."""
    label = category.replace("_", " ")
    qs = [f"Any preferences for the {label} (style, colour, brand)?"]
    if entities.occasion is None:
        qs.append("What's the occasion?")
    if entities.budget is None:
        qs.append("What's your budget?")
    qs.append(f"Would you like to add {COMPLEMENTS.get(category, 'flowers')}?")
    return qs[:4]


def _last_category(state: SessionState) -> str | None:
    """Single-discover sessions remember their category as last_intent='discover:<category>'."""
    li = state.last_intent or ""
    return li.split(":", 1)[1] if li.startswith("discover:") else None


def _help_message(config: PlatformConfig) -> str:
    names = ", ".join(experience_label(k) for k in list(config.experiences)[:6])
    return f"I can put together bundles for a {names}, or show you a single category like flowers. What are you planning?"


def plan(
    state: SessionState,
    turn_text: str,
    config: PlatformConfig,
    now: datetime,
    known_categories: Iterable[str] = (),
    default_currency: str = "USD",
    learned: CategorySpace | None = None,
) -> PlanDecision:
    """The deterministic planner (see module table). Pure: state in, decision out.

    ``learned`` (the store's categories in the embedder's space) maps a plan outside the
    configured experiences to the store's categories; see ``_learned_match`` for when.
    """
    new = extract_entities(turn_text, now, default_currency)
    old = state.entities
    exp_now = detect_experience(turn_text, config.experiences)
    show_now = bool(SHOW_NOW.search(turn_text))
    cat = detect_category(turn_text, config, known_categories)
    session_cats = _session_categories(state, config)
    in_composite = bool(session_cats)
    last_cat = _last_category(state)
    probes = state.probes_asked
    hit = _learned_match(learned, turn_text, config, exp_now, cat, in_composite, new)
    learned_cats = hit.categories if hit is not None else []
    if learned_cats and learned_cats != session_cats:
        assert hit is not None
        return _learned_plan(hit, state, new, show_now)

    switched = bool(exp_now and exp_now != old.experience)
    if (
        switched
    ):  # a new plan: keep only who the shopper is (diet), which alone is no reason to skip probing
        old = Entities(dietary=list(old.dietary))
        probes = 0
    merged = merge_entities(old, new)
    details = has_details(new) if switched else has_details(merged)

    if exp_now or (in_composite and not (cat and SHOW_VERB.search(turn_text))):
        exp = exp_now or old.experience
        # set either way: detected now, or the session's own, which in_composite found configured
        assert exp is not None
        merged = merged.model_copy(update={"experience": exp})
        cats = list(config.experiences[exp]) if exp in config.experiences else session_cats
        if show_now or details or probes >= MAX_PROBES:
            why = (
                "shopper asked for options"
                if show_now
                else ("details known" if details else "already probed")
            )
            return PlanDecision(
                action="fetch",
                intent="discover_composite",
                entities=merged,
                experience=exp,
                categories=cats,
                reason=why,
            )
        qs = composite_questions(exp, merged, cats)
        return PlanDecision(
            action="probe",
            intent="discover_composite",
            questions=qs,
            entities=merged,
            experience=exp,
            categories=cats,
            message=f"Happy to plan your {experience_label(exp)}! " + " ".join(qs),
            reason="generic message: probe before discovery",
        )

    category = cat or last_cat
    if category:
        merged = merged.model_copy(update={"experience": None})
        if (
            cat is None
            or show_now
            or SHOW_VERB.search(turn_text)
            or has_details(new)
            or probes >= MAX_PROBES
        ):
            return PlanDecision(
                action="fetch",
                intent="discover",
                entities=merged,
                categories=[category],
                reason="single-category discover",
            )
        qs = discover_questions(category, merged)
        return PlanDecision(
            action="probe",
            intent="discover",
            questions=qs,
            entities=merged,
            categories=[category],
            message=" ".join(qs),
            reason="generic single-category ask",
        )

    if hit is not None:  # below the threshold: ask which of the store's own categories
        qs = [_clarifying_question(hit, learned)] if learned is not None else []
        return PlanDecision(
            action="probe",
            intent="discover_composite",
            questions=qs,
            entities=merged,
            message=" ".join(qs),
            reason=f"no configured experience; best catalog category score {hit.best:.2f}"
            " is below the threshold",
        )
    return PlanDecision(
        action="message",
        intent="smalltalk",
        entities=merged,
        message=_help_message(config),
        reason="no experience or category recognised",
    )


def _session_categories(state: SessionState, config: PlatformConfig) -> list[str]:
    """The categories of the session's composite plan: configured, or learned from the catalog."""
    li = state.last_intent or ""
    if li == "discover_composite" and state.entities.experience in config.experiences:
        return list(config.experiences[state.entities.experience])
    if li.startswith(LEARNED_INTENT) and state.entities.experience:
        return [c for c in li[len(LEARNED_INTENT) :].split(",") if c][:MAX_LEARNED_CATEGORIES]
    return []


def _learned_match(
    learned: CategorySpace | None,
    turn_text: str,
    config: PlatformConfig,
    exp_now: str | None,
    cat: str | None,
    in_composite: bool,
    new: Entities,
) -> LearnedMatch | None:
    """Map the message on the store's categories, or None when something else decides the turn.

    Configured experiences and a named category always win. Inside a composite plan the
    message is usually an answer ("Saturday, $100"): it may only start a new learned plan when
    it carries no details and matches categories of its own (checked by the caller).
    """
    if learned is None or exp_now or cat:
        return None
    hit = learned.match(turn_text, LEARNED_EXPERIENCE_THRESHOLD)
    if in_composite and (has_details(new) or not hit.categories):
        return None
    return hit


def _learned_plan(
    hit: LearnedMatch, state: SessionState, new: Entities, show_now: bool
) -> PlanDecision:
    """A new plan on categories learned from the catalog: probe or fetch as a configured one."""
    merged = merge_entities(Entities(dietary=list(state.entities.dietary)), new)
    merged = merged.model_copy(update={"experience": hit.label})
    cats = list(hit.categories)
    if show_now or has_details(new):
        return PlanDecision(
            action="fetch",
            intent="discover_composite",
            entities=merged,
            experience=hit.label,
            categories=cats,
            reason=f"learned from the catalog (score {hit.best:.2f}); "
            + ("shopper asked for options" if show_now else "details known"),
        )
    qs = composite_questions(hit.label, merged, cats)
    names = ", ".join(c.replace("_", " ") for c in cats)
    return PlanDecision(
        action="probe",
        intent="discover_composite",
        questions=qs,
        entities=merged,
        experience=hit.label,
        categories=cats,
        message=f"Happy to plan your {hit.label}! I'll look in {names}. " + " ".join(qs),
        reason=f"learned from the catalog (score {hit.best:.2f}): probe before discovery",
    )


def _clarifying_question(hit: LearnedMatch, learned: CategorySpace) -> str:
    names = [learned.display(k) for k in hit.closest]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
    return (
        f"I couldn't match that to this store's catalog. Is it closer to {listed}? "
        "Tell me which, or what you'd like to buy."
    )


# --- LLM planner ------------------------------------------------------------------------------

PLAN_TOOL = "plan_next_action"


def plan_tool_schema() -> dict:
    return PlanDecision.model_json_schema()


def _llm_payload(state: SessionState, turn_text: str, config: PlatformConfig, now: datetime) -> str:
    return (
        "Decide the next action for this chat turn and call the tool.\n"
        f"Today is {now.date().isoformat()} ({now.strftime('%A')}).\n"
        f"Configured experiences (use these keys only): {sorted(config.experiences)}.\n"
        f"Probes already asked in this session: {state.probes_asked}.\n"
        "Known entities and the shopper's message:\n"
        + wrap_untrusted(
            {
                "known_entities": state.entities.model_dump(mode="json"),
                "shopper_message": untrusted(turn_text, 2000),
            }
        )
    )


def validate_llm_plan(
    raw: dict,
    base: PlanDecision,
    state: SessionState,
    config: PlatformConfig,
    known_categories: Iterable[str] = (),
) -> PlanDecision:
    """Turn model output into a decision we can trust; raise LLMError('invalid_output') if not.

    Entities: session <- deterministic extraction <- model (model wins where it says something).
    Categories always come from config (experience) or the known vocabulary (single discover).
    """
    try:
        got = PlanDecision.model_validate(raw)
    except ValidationError as exc:
        raise LLMError("invalid_output", str(exc)[:200]) from exc
    exp = got.experience if got.experience in config.experiences else None
    if got.intent == "discover_composite":
        exp = exp or base.experience
    entities = merge_entities(base.entities, got.entities.model_copy(update={"experience": exp}))
    if got.intent == "discover_composite":
        if exp is None:
            if got.action == "fetch":
                raise LLMError("invalid_output", "fetch without a configured experience")
            cats: list[str] = []
        elif exp in config.experiences:
            cats = list(config.experiences[exp])
        else:  # the deterministic plan's experience, learned from the catalog
            cats = list(base.categories)
    elif got.intent == "discover":
        vocab = {norm_category(c) for cs in config.experiences.values() for c in cs}
        vocab |= {norm_category(c) for c in config.category_aliases} | set(CATEGORY_KEYWORDS)
        vocab |= {norm_category(c) for c in known_categories}
        cats = [norm_category(c) for c in got.categories if norm_category(c) in vocab][
            :1
        ] or base.categories[:1]
        if got.action == "fetch" and not cats:
            raise LLMError("invalid_output", "discover without a known category")
    else:
        cats = []
    action = got.action
    if action == "probe" and state.probes_asked >= MAX_PROBES + 1 and cats:
        action = "fetch"  # never a third round of questions
    questions = [q.strip()[:200] for q in got.questions if q.strip()]
    if action == "probe" and not questions:
        questions = base.questions or composite_questions(exp, entities, cats)
    if action != "probe":
        questions = []
    return PlanDecision(
        action=action,
        intent=got.intent,
        questions=questions,
        entities=entities,
        experience=exp,
        categories=cats,
        message=got.message.strip()[:600],
        reason=("llm: " + got.reason)[:300],
    )


async def plan_with_llm(
    state: SessionState,
    turn_text: str,
    config: PlatformConfig,
    prompt: Prompt,
    llm: LLMClient | None,
    now: datetime,
    *,
    known_categories: Iterable[str] = (),
    default_currency: str = "USD",
    deadline: Deadline | None = None,
    learned: CategorySpace | None = None,
) -> tuple[PlanDecision, Literal["llm", "deterministic"], str | None]:
    """LLM planner with the deterministic decision as both the fallback and the entity base."""
    known = list(known_categories)
    base = plan(state, turn_text, config, now, known, default_currency, learned)
    if llm is None:
        return base, "deterministic", "no_api_key"
    if not prompt.enabled:
        return base, "deterministic", "prompt_disabled"
    try:
        call = await llm.tool_call(
            system=prompt.system_prompt + UNTRUSTED_NOTICE,
            messages=[{"role": "user", "content": _llm_payload(state, turn_text, config, now)}],
            tool_name=PLAN_TOOL,
            tool_description="Record the planner's decision for this chat turn.",
            input_schema=plan_tool_schema(),
            max_tokens=prompt.max_tokens,
            deadline=deadline,
        )
        return validate_llm_plan(call.input, base, state, config, known), "llm", None
    except LLMError as exc:
        return base, "deterministic", f"planner: {exc.reason}"


def apply_decision(
    state: SessionState,
    decision: PlanDecision,
    now: datetime,
    config: PlatformConfig | None = None,
) -> SessionState:
    """The session after this turn: merged entities, probe counter, what we were doing.

    A plan learned from the catalog (an experience ``config`` does not list) keeps its
    categories in ``last_intent`` as ``discover_composite:<c1>,<c2>``, the way a single-category
    session keeps ``discover:<category>``: the session model stays as it is, and a worker that
    does not know learned plans reads such a session as one without a plan in progress.
    """
    if decision.intent == "discover_composite":
        last = "discover_composite" if decision.experience else state.last_intent
        if decision.experience and config and decision.experience not in config.experiences:
            last = LEARNED_INTENT + ",".join(decision.categories)
    elif decision.intent == "discover" and decision.categories:
        last = f"discover:{decision.categories[0]}"
    else:
        last = state.last_intent
    switched = decision.experience is not None and decision.experience != state.entities.experience
    probes = 0 if (switched or decision.action == "fetch") else state.probes_asked
    if decision.action == "probe":
        probes += 1
    return state.model_copy(
        update={
            "entities": decision.entities,
            "turns": state.turns + 1,
            "probes_asked": probes,
            "last_intent": last,
            "updated_at": now,
        }
    )
