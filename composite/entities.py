"""Deterministic entity extraction from a chat message: date, budget, dietary, party size, occasion.

Pure regex + tables, relative to a caller-given ``now`` so replays of old turns resolve
"Saturday" to the same date they meant when they were sent. The LLM planner may add to this,
but this alone must carry the probe-then-fetch flow without a key.
"""

from __future__ import annotations

import datetime as dt
import re
from datetime import datetime

from models.chat import Budget, Entities

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_WD_ABBR = {w[:3]: i for i, w in enumerate(WEEKDAYS)}
_WD_RE = r"(monday|tuesday|wednesday|thursday|friday|saturday|sunday)s?"  # full names: "sat"/"sun" are words
MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_MONTH_RE = r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"

NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
}

# (pattern, canonical) — the canonical names are what options/search see.
DIETARY_PATTERNS: list[tuple[str, str]] = [
    (r"\bvegan\b", "vegan"),
    (r"\bvegetarian\b|\bveggie\b|\bno meat\b|\bmeat[- ]free\b", "vegetarian"),
    (r"\bpescatarian\b|\bpescetarian\b", "pescatarian"),
    (r"\bgluten[- ]?free\b|\bno gluten\b|\bceliac\b|\bcoeliac\b", "gluten-free"),
    (r"\bhalal\b", "halal"),
    (r"\bkosher\b", "kosher"),
    (
        r"\bnut[- ]?free\b|\bno nuts?\b|\bnut allerg(y|ies|ic)\b|\bpeanut allerg(y|ies|ic)\b",
        "nut-free",
    ),
    (r"\bdairy[- ]?free\b|\blactose[- ]?(free|intolerant)\b|\bno dairy\b", "dairy-free"),
    (r"\bketo\b", "keto"),
]

OCCASION_PATTERNS: list[tuple[str, str]] = [
    (r"\banniversary\b", "anniversary"),
    (r"\bbirthday\b|\bb-?day\b", "birthday"),
    (r"\bvalentine'?s?\b", "valentine's day"),
    (r"\bmother'?s day\b", "mother's day"),
    (r"\bfather'?s day\b", "father's day"),
    (r"\bwedding\b", "wedding"),
    (r"\bgraduation\b", "graduation"),
    (r"\bproposal\b|\bpropose\b", "proposal"),
    (r"\bchristmas\b|\bxmas\b", "christmas"),
    (r"\bhousewarming\b", "housewarming"),
    (r"\bpromotion\b", "promotion"),
    (r"\bdate[- ]night\b|\bromantic\b", "date night"),
    (r"\bcelebrat(e|ion)\b", "celebration"),
]

# Currency markers. Order matters: "R$" and "US$" before the bare "$".
_CUR_PREFIX = [("R$", "BRL"), ("US$", "USD"), ("€", "EUR"), ("£", "GBP"), ("$", "USD")]
_CUR_WORDS = {
    "usd": "USD",
    "dollar": "USD",
    "dollars": "USD",
    "bucks": "USD",
    "buck": "USD",
    "eur": "EUR",
    "euro": "EUR",
    "euros": "EUR",
    "gbp": "GBP",
    "pound": "GBP",
    "pounds": "GBP",
    "quid": "GBP",
    "brl": "BRL",
    "real": "BRL",
    "reais": "BRL",
}
_AMOUNT = r"(\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+(?:\.\d{1,2})?)(\s*k\b)?"
_PREFIX_RE = re.compile(r"(R\$|US\$|€|£|\$)\s*" + _AMOUNT, re.IGNORECASE)
_SUFFIX_RE = re.compile(
    _AMOUNT + r"\s*(usd|dollars?|bucks?|eur|euros?|gbp|pounds?|quid|brl|reais|real)\b",
    re.IGNORECASE,
)
_BARE_BUDGET_RE = re.compile(
    r"\b(?:budget(?:\s+(?:is|of|around|about))?|under|below|max(?:imum)?|up to|less than|no more than|around|about|spend)\s*:?\s*"
    + _AMOUNT
    + r"(?!\s*(?:people|persons?|guests?|of us|pm|am|h\b|hours?|:|th\b|st\b|nd\b|rd\b))",
    re.IGNORECASE,
)


def _amount(num: str, k: str | None) -> float:
    value = float(num.replace(",", ""))
    return value * 1000 if k else value


def extract_budget(text: str, default_currency: str = "USD") -> Budget | None:
    """First money amount in the text; an explicit marker wins over a bare 'budget 100'."""
    best: tuple[int, Budget] | None = None
    for m in _PREFIX_RE.finditer(text):
        marker = m.group(1).upper()
        cur = next(c for p, c in _CUR_PREFIX if p == marker)
        amt = _amount(m.group(2), m.group(3))
        if amt > 0 and (best is None or m.start() < best[0]):
            best = (m.start(), Budget(amount=amt, currency=cur))
    for m in _SUFFIX_RE.finditer(text):
        cur = _CUR_WORDS[m.group(3).lower()]
        amt = _amount(m.group(1), m.group(2))
        if amt > 0 and (best is None or m.start() < best[0]):
            best = (m.start(), Budget(amount=amt, currency=cur))
    if best is not None:
        return best[1]
    bare = _BARE_BUDGET_RE.search(text)
    if bare:
        amt = _amount(bare.group(1), bare.group(2))
        if amt > 0:
            return Budget(amount=amt, currency=default_currency)
    return None


def _next_weekday(today: dt.date, weekday: int, strictly_after: bool) -> dt.date:
    ahead = (weekday - today.weekday()) % 7
    if ahead == 0 and strictly_after:
        ahead = 7
    return today + dt.timedelta(days=ahead)


def _month_index(token: str) -> int:
    return MONTHS.index(token[:3].lower()) + 1


def _safe_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def extract_date(text: str, now: datetime) -> tuple[dt.date | None, str | None]:
    """Resolve the first date expression to a calendar date on or after ``now``'s day.

    A bare weekday means its next occurrence (today counts); "next Saturday" is never today.
    Month-day without a year that already passed this year means next year.
    """
    today = now.date()
    low = text.lower()
    found: list[tuple[int, dt.date, str]] = []

    m = re.search(r"\b(\d{4})-(\d{2})-(\d{2})\b", low)
    if m and (d := _safe_date(int(m.group(1)), int(m.group(2)), int(m.group(3)))):
        found.append((m.start(), d, m.group(0)))
    for m in re.finditer(r"\b(today|tonight|this evening)\b", low):
        found.append((m.start(), today, m.group(1)))
    for m in re.finditer(r"\b(day after tomorrow|tomorrow)\b", low):
        days = 2 if m.group(1).startswith("day after") else 1
        found.append((m.start(), today + dt.timedelta(days=days), m.group(1)))
    for m in re.finditer(r"\bthis weekend\b|\bweekend\b", low):
        found.append((m.start(), _next_weekday(today, 5, strictly_after=False), m.group(0)))
    for m in re.finditer(r"\b(next |this |on )?" + _WD_RE + r"\b", low):
        wd = _WD_ABBR[m.group(2)[:3]]
        strictly = (m.group(1) or "").strip() == "next"
        phrase = text[m.start() : m.end()].strip()
        found.append((m.start(), _next_weekday(today, wd, strictly), phrase))
    for m in re.finditer(
        r"\b" + _MONTH_RE + r"\.?\s+(\d{1,2})(?:st|nd|rd|th)?\b(?:,?\s*(\d{4}))?", low
    ):
        month, day = _month_index(m.group(1)), int(m.group(2))
        year = int(m.group(3)) if m.group(3) else today.year
        d = _safe_date(year, month, day)
        if d and not m.group(3) and d < today:
            d = _safe_date(year + 1, month, day)
        if d:
            found.append((m.start(), d, text[m.start() : m.end()].strip()))
    for m in re.finditer(
        r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH_RE + r"\b(?:,?\s*(\d{4}))?", low
    ):
        day, month = int(m.group(1)), _month_index(m.group(2))
        year = int(m.group(3)) if m.group(3) else today.year
        d = _safe_date(year, month, day)
        if d and not m.group(3) and d < today:
            d = _safe_date(year + 1, month, day)
        if d:
            found.append((m.start(), d, text[m.start() : m.end()].strip()))
    if not found:
        return None, None
    found.sort(key=lambda t: t[0])
    _, date, phrase = found[0]
    return date, phrase


def extract_dietary(text: str) -> list[str]:
    low = text.lower()
    out = [name for pat, name in DIETARY_PATTERNS if re.search(pat, low)]
    if "vegan" in out and "vegetarian" in out:
        out.remove("vegetarian")  # vegan implies it; keep the stricter one
    return out


def extract_party_size(text: str) -> int | None:
    """'for 2', 'for four', 'party of 6', '8 people', 'just the two of us'; never a money amount."""
    low = text.lower()
    words = "|".join(NUMBER_WORDS)
    patterns = [
        rf"\bparty of\s+(\d{{1,4}}|{words})\b",
        rf"\bfor\s+(\d{{1,4}}|{words})\b(?!\s*(?:\$|€|£|usd|dollars?|bucks?|eur|euros?|gbp|pounds?|brl|reais|k\b|%|am|pm|:|\.\d|,\d|hours?|days?|weeks?|minutes?))",
        rf"\b(\d{{1,4}}|{words})\s+(?:people|persons|guests|adults|kids|friends|of us)\b",
        rf"\b(?:table|reservation) for\s+(\d{{1,4}}|{words})\b",
    ]
    for pat in patterns:
        m = re.search(pat, low)
        if m:
            # "for $100" and "for 100 dollars" are excluded above; a preceding currency too:
            before = low[max(0, m.start(1) - 2) : m.start(1)]
            if "$" in before or "€" in before or "£" in before:
                continue
            tok = m.group(1)
            n = int(tok) if tok.isdigit() else NUMBER_WORDS[tok]
            if 1 <= n <= 1000:
                return n
    if re.search(
        r"\b(the two of us|for us two|a couple|couple's|for my (partner|wife|husband|girlfriend|boyfriend))\b",
        low,
    ):
        return 2
    return None


def extract_occasion(text: str) -> str | None:
    low = text.lower()
    for pat, name in OCCASION_PATTERNS:
        if re.search(pat, low):
            return name
    return None


def extract_entities(text: str, now: datetime, default_currency: str = "USD") -> Entities:
    """Everything this one message says. Missing facts stay None so merging never erases them."""
    date, date_text = extract_date(text, now)
    return Entities(
        date=date,
        date_text=date_text,
        budget=extract_budget(text, default_currency),
        dietary=extract_dietary(text),
        party_size=extract_party_size(text),
        occasion=extract_occasion(text),
    )


def merge_entities(old: Entities, new: Entities) -> Entities:
    """Newer facts replace older ones; dietary needs accumulate (a later 'vegan' doesn't drop 'nut-free')."""
    dietary = list(old.dietary)
    for d in new.dietary:
        if d not in dietary:
            dietary.append(d)
    if "vegan" in dietary and "vegetarian" in dietary:
        dietary.remove("vegetarian")
    date, date_text = (
        (new.date, new.date_text) if new.date is not None else (old.date, old.date_text)
    )
    return Entities(
        date=date,
        date_text=date_text,
        budget=new.budget or old.budget,
        dietary=dietary,
        party_size=new.party_size or old.party_size,
        occasion=new.occasion or old.occasion,
        experience=new.experience or old.experience,
    )


def has_details(e: Entities) -> bool:
    """A message 'with details': anything that narrows the fetch beyond the experience itself."""
    return bool(e.date or e.budget or e.dietary or e.party_size)
