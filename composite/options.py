"""2-4 composite bundle options: LLM curation, a validator, a deterministic builder.

Invariants of every option that leaves this module, whoever produced it:
  * every product id comes from the listings (no unknown id, ever);
  * exactly one product per listed category that has products;
  * ``total_price`` is recomputed from the listing prices (the model's number is ignored);
  * total <= budget amount when a budget is known;
  * 2-4 options with distinct product sets, or none at all (products only).

The validator is the final guard against prompt injection in product names or chat text:
whatever the model was talked into, only options that pass it are shown.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from models.chat import Budget, CategoryListing, CompositeOption, DiscoveredProduct, Entities
from models.config import DEFAULT_PROMPTS, InteractionType, PlatformConfig, Prompt, PromptSet

from .llm import UNTRUSTED_NOTICE, Deadline, LLMClient, LLMError, untrusted, wrap_untrusted

GeneratedBy = Literal["llm", "deterministic"]
MIN_OPTIONS, MAX_OPTIONS = 2, 4
OPTIONS_TOOL = "propose_bundle_options"
_EPS = 1e-6


class LLMOption(BaseModel):
    model_config = ConfigDict(extra="ignore")

    label: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=2000)
    product_ids: list[str] = Field(min_length=1, max_length=20)
    total_price: float | None = None


class LLMOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    options: list[LLMOption] = Field(min_length=1, max_length=10)


OPTIONS_SCHEMA: dict = {
    "type": "object",
    "properties": {
        "options": {
            "type": "array",
            "minItems": MIN_OPTIONS,
            "maxItems": MAX_OPTIONS,
            "items": {
                "type": "object",
                "properties": {
                    "label": {
                        "type": "string",
                        "description": "Short theme name, e.g. 'Romantic Classic'",
                    },
                    "description": {
                        "type": "string",
                        "description": "One sentence naming the products",
                    },
                    "product_ids": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "Exactly one product id per category, only ids from the list",
                    },
                    "total_price": {"type": "number"},
                },
                "required": ["label", "description", "product_ids", "total_price"],
            },
        }
    },
    "required": ["options"],
}

_URL = re.compile(r"(https?://|www\.)\S+", re.IGNORECASE)
_MARKUP = re.compile(r"[<>\[\]{}`\x00-\x1f\x7f]")


def clean_text(text: str, max_chars: int) -> str:
    """Shown to shoppers: no links, no markup, one line, bounded length."""
    text = _MARKUP.sub(" ", _URL.sub("", text))
    return re.sub(r"\s+", " ", text).strip()[:max_chars].strip()


def _usable(listings: Sequence[CategoryListing]) -> list[CategoryListing]:
    return [lst for lst in listings if lst.products]


def _total(products: Sequence[DiscoveredProduct]) -> float:
    return round(sum(p.price for p in products), 2)


def _fits(total: float, budget: Budget | None) -> bool:
    return budget is None or total <= budget.amount + _EPS


def validate_options(
    raw: dict, listings: Sequence[CategoryListing], budget: Budget | None
) -> tuple[list[CompositeOption], list[str]]:
    """Keep the options that satisfy every invariant; describe each violation for the retry."""
    try:
        parsed = LLMOptions.model_validate(raw)
    except ValidationError as exc:
        return [], [f"output does not match the schema: {exc.errors()[0].get('msg', 'invalid')}"]
    usable = _usable(listings)
    where: dict[str, tuple[int, DiscoveredProduct]] = {}
    for i, lst in enumerate(usable):
        for p in lst.products:
            where.setdefault(p.product_id, (i, p))
    errors: list[str] = []
    valid: list[CompositeOption] = []
    seen_sets: set[frozenset[str]] = set()
    labels: set[str] = set()
    for n, opt in enumerate(parsed.options, 1):
        ids = list(dict.fromkeys(pid.strip() for pid in opt.product_ids))
        unknown = [pid for pid in ids if pid not in where]
        if unknown:
            errors.append(f"option {n}: product ids not in the list: {unknown[:5]}")
            continue
        per_cat: dict[int, list[DiscoveredProduct]] = {}
        for pid in ids:
            i, p = where[pid]
            per_cat.setdefault(i, []).append(p)
        missing = [usable[i].category for i in range(len(usable)) if i not in per_cat]
        doubled = [usable[i].category for i, ps in per_cat.items() if len(ps) > 1]
        if missing or doubled:
            errors.append(
                f"option {n}: needs exactly one product per category; missing {missing}, more than one in {doubled}"
            )
            continue
        products = [per_cat[i][0] for i in range(len(usable))]
        total = _total(products)
        if budget is not None and not _fits(total, budget):  # no budget always fits
            errors.append(f"option {n}: total {total:.2f} is over the budget {budget.amount:.2f}")
            continue
        key = frozenset(p.product_id for p in products)
        if key in seen_sets:
            errors.append(f"option {n}: same products as an earlier option")
            continue
        label = clean_text(opt.label, 120) or f"Option {len(valid) + 1}"
        while label.lower() in labels:
            label = f"{label[:110]} ({len(valid) + 1})"
        seen_sets.add(key)
        labels.add(label.lower())
        desc = clean_text(opt.description, 600) or " + ".join(p.name for p in products)
        valid.append(
            CompositeOption(
                label=label,
                description=desc[:600],
                product_ids=[p.product_id for p in products],
                total_price=total,
                currency=products[0].currency,
            )
        )
        if len(valid) == MAX_OPTIONS:
            break
    if len(valid) < MIN_OPTIONS:
        errors.append(f"need {MIN_OPTIONS}-{MAX_OPTIONS} valid options, got {len(valid)}")
    return valid, errors


# --- deterministic builder ---------------------------------------------------------------------

Pref = Callable[[DiscoveredProduct], tuple]


def _themes(usable: Sequence[CategoryListing]) -> list[tuple[str, str, Pref]]:
    """Themes in the order tried; themes with no signal in the data (no ratings, no sales) are skipped."""
    prods = [p for lst in usable for p in lst.products]
    themes: list[tuple[str, str, Pref]] = [
        ("Top Pick", "Our best-ranked pick in each category", lambda p: (-p.score, p.price)),
        ("Budget-Friendly", "The best value in each category", lambda p: (p.price, -p.score)),
    ]
    if any(p.rating is not None for p in prods):
        themes.append(
            (
                "Best Rated",
                "The highest-rated choices",
                lambda p: (-(p.rating if p.rating is not None else -1.0), -p.score),
            )
        )
    themes.append(("Premium", "A treat-yourself selection", lambda p: (-p.price, -p.score)))
    if any(p.sold_count > 0 for p in prods):
        themes.append(
            ("Crowd Favorite", "What other shoppers buy most", lambda p: (-p.sold_count, -p.score))
        )
    return themes


def _fit_budget(
    pref_lists: list[list[DiscoveredProduct]], budget: Budget | None
) -> list[int] | None:
    """Indexes into each preference list: start at the favourites, trade down until it fits.

    Each step moves one category to its next cheaper product, choosing the move that saves the most
    money per preference rank given up. Prices strictly fall, so it ends; if even the cheapest
    combination is over budget it returns None.
    """
    idx = [0] * len(pref_lists)
    total = sum(pl[0].price for pl in pref_lists)
    while not _fits(round(total, 2), budget):
        best: tuple[float, int, int] | None = None
        for c, pl in enumerate(pref_lists):
            cur = pl[idx[c]].price
            for j in range(idx[c] + 1, len(pl)):
                if pl[j].price < cur - _EPS:
                    ratio = (cur - pl[j].price) / (j - idx[c])
                    if best is None or ratio > best[0]:
                        best = (ratio, c, j)
                    break
        if best is None:
            return None
        _, c, j = best
        total += pref_lists[c][j].price - pref_lists[c][idx[c]].price
        idx[c] = j
    return idx


def _option(label: str, blurb: str, products: list[DiscoveredProduct]) -> CompositeOption:
    names = " + ".join(p.name for p in products)
    return CompositeOption(
        label=label,
        description=clean_text(f"{blurb}: {names}.", 600),
        product_ids=[p.product_id for p in products],
        total_price=_total(products),
        currency=products[0].currency,
    )


def build_options(
    listings: Sequence[CategoryListing], budget: Budget | None, max_options: int = MAX_OPTIONS
) -> list[CompositeOption]:
    """Deterministic 2-4 distinct options within budget (or [] when fewer than 2 exist).

    Themes (top pick, budget-friendly, best rated, premium, crowd favourite) each choose their
    favourite per category and trade down to the budget; a theme landing on an already-offered
    set is skipped. If that gives fewer than 2, single swaps around the cheapest combination
    are tried: when 2 distinct within-budget combinations exist, one of them is such a swap.
    """
    usable = _usable(listings)
    if not usable:
        return []
    out: list[CompositeOption] = []
    seen: set[frozenset[str]] = set()
    for label, blurb, pref in _themes(usable):
        if len(out) >= max_options:
            break
        pref_lists = [sorted(lst.products, key=pref) for lst in usable]
        idx = _fit_budget(pref_lists, budget)
        if idx is None:
            return []  # nothing fits: the cheapest combination is over budget
        chosen = [pl[i] for pl, i in zip(pref_lists, idx)]
        key = frozenset(p.product_id for p in chosen)
        if key not in seen:
            seen.add(key)
            out.append(_option(label, blurb, chosen))
    if len(out) < MIN_OPTIONS:
        cheapest = [min(lst.products, key=lambda p: (p.price, -p.score)) for lst in usable]
        for c, lst in enumerate(usable):
            for alt in sorted(lst.products, key=lambda p: -p.score):
                chosen = list(cheapest)
                chosen[c] = alt
                key = frozenset(p.product_id for p in chosen)
                if key in seen or not _fits(_total(chosen), budget):
                    continue
                seen.add(key)
                out.append(
                    _option(
                        "Alternative" if len(out) else "Budget-Friendly",
                        "A different mix" if len(out) else "The best value in each category",
                        chosen,
                    )
                )
                if len(out) >= MIN_OPTIONS:
                    break
            if len(out) >= MIN_OPTIONS:
                break
    labels: set[str] = set()
    for i, o in enumerate(out):  # labels unique for the card ("Option A: ...")
        if o.label in labels:
            out[i] = o.model_copy(update={"label": f"{o.label} {i + 1}"})
        labels.add(out[i].label)
    return out if len(out) >= MIN_OPTIONS else []


# --- LLM curation ----------------------------------------------------------------------------


def _payload(
    listings: Sequence[CategoryListing], entities: Entities, experience: str | None
) -> str:
    budget = entities.budget.model_dump() if entities.budget else None
    data = {
        "experience": experience or entities.experience,
        "budget": budget,
        "dietary": [untrusted(d, 40) for d in entities.dietary],
        "date": entities.date.isoformat() if entities.date else None,
        "party_size": entities.party_size,
        "categories": [
            {
                "category": untrusted(lst.category, 60),
                "products": [
                    {
                        "id": untrusted(p.product_id, 200),
                        "name": untrusted(p.name, 160),
                        "price": p.price,
                        "currency": p.currency,
                        "rating": p.rating,
                        "sold": p.sold_count,
                    }
                    for p in lst.products
                ],
            }
            for lst in listings
        ],
    }
    return (
        f"Suggest {MIN_OPTIONS}-{MAX_OPTIONS} bundle options. Each option takes exactly one product from every "
        "category below, uses only the listed ids, and its total must not exceed the budget (if any).\n"
        + wrap_untrusted(data)
    )


def _prompt(prompts: PromptSet, key: InteractionType) -> Prompt:
    return prompts.prompts.get(key) or Prompt(**DEFAULT_PROMPTS[key])


async def suggest_composite_bundle_options(
    listings: Sequence[CategoryListing],
    entities: Entities,
    config: PlatformConfig,
    prompts: PromptSet,
    llm: LLMClient | None,
    *,
    experience: str | None = None,
    deadline: Deadline | None = None,
) -> tuple[list[CompositeOption], GeneratedBy, str | None]:
    """2-4 options: the model's if they validate (one retry with the errors fed back), else ours."""
    if not config.enable_composite_bundle_suggestion:
        return [], "deterministic", "composite bundle suggestion disabled"
    usable = _usable(listings)
    if not usable:
        return [], "deterministic", "no products found"
    budget = entities.budget
    reason: str | None = None
    prompt = _prompt(prompts, "suggest_composite_bundle")
    if llm is None:
        reason = "no_api_key"
    elif not prompt.enabled:
        reason = "prompt_disabled"
    else:
        messages: list[dict] = [{"role": "user", "content": _payload(usable, entities, experience)}]
        for attempt in range(2):
            try:
                call = await llm.tool_call(
                    system=prompt.system_prompt + UNTRUSTED_NOTICE,
                    messages=messages,
                    tool_name=OPTIONS_TOOL,
                    tool_description="Return the bundle options.",
                    input_schema=OPTIONS_SCHEMA,
                    max_tokens=prompt.max_tokens,
                    deadline=deadline,
                )
            except LLMError as exc:
                reason = f"curation: {exc.reason}" + (" (retry)" if attempt else "")
                break
            valid, errors = validate_options(call.input, usable, budget)
            if len(valid) >= MIN_OPTIONS:
                return valid, "llm", None
            reason = f"curation: invalid_output ({errors[-1]})" + (
                " after retry" if attempt else ""
            )
            messages = [
                *messages,
                {"role": "assistant", "content": call.assistant_content},
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": call.tool_use_id,
                            "is_error": True,
                            "content": "Your options were rejected:\n- "
                            + "\n- ".join(errors[:10])
                            + "\nCall the tool again with corrected options.",
                        }
                    ],
                },
            ]
    options = build_options(usable, budget)
    if not options:
        reason = (reason + "; " if reason else "") + "no 2 distinct combinations fit the budget"
    return options, "deterministic", reason
