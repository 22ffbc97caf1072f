"""Entity extraction table: dates relative to a fixed Monday, budgets with currency, diets, party size."""

from __future__ import annotations

import datetime as dt

import pytest

from composite.entities import extract_entities, has_details, merge_entities
from models.chat import Budget, Entities
from tests.unit.composite.composite_testdata import NOW

D = dt.date


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Saturday", D(2025, 11, 29)),
        ("this saturday please", D(2025, 11, 29)),
        ("on Monday", D(2025, 11, 24)),  # today counts for a bare weekday
        ("next Monday", D(2025, 12, 1)),  # "next" never means today
        ("tomorrow", D(2025, 11, 25)),
        ("tonight", D(2025, 11, 24)),
        ("2025-12-24", D(2025, 12, 24)),
        ("Nov 28", D(2025, 11, 28)),
        ("November 28th", D(2025, 11, 28)),
        ("28 Nov", D(2025, 11, 28)),
        ("Jan 5", D(2026, 1, 5)),  # already passed this year -> next year
        ("this weekend", D(2025, 11, 29)),
        ("I sat in the sun", None),  # 'sat'/'sun' are words, not weekdays
        ("date night", None),
    ],
)
def test_dates(text: str, expected: dt.date | None) -> None:
    assert extract_entities(text, NOW).date == expected


@pytest.mark.parametrize(
    "text,amount,currency",
    [
        ("$100", 100, "USD"),
        ("budget $ 1,250.50", 1250.5, "USD"),
        ("100 dollars", 100, "USD"),
        ("under 80 EUR", 80, "EUR"),
        ("80 euros max", 80, "EUR"),
        ("R$ 150", 150, "BRL"),
        ("R$150 for two", 150, "BRL"),
        ("£50", 50, "GBP"),
        ("budget is 120", 120, "USD"),
        ("under 60", 60, "USD"),
        ("$2k", 2000, "USD"),
    ],
)
def test_budgets(text: str, amount: float, currency: str) -> None:
    assert extract_entities(text, NOW).budget == Budget(amount=amount, currency=currency)


@pytest.mark.parametrize("text", ["for 2", "party of 6", "Saturday at 8", "date night", "for four"])
def test_no_budget_from_counts_or_times(text: str) -> None:
    assert extract_entities(text, NOW).budget is None


@pytest.mark.parametrize(
    "text,expected",
    [
        ("vegetarian", ["vegetarian"]),
        ("we're vegan", ["vegan"]),
        ("vegan and vegetarian", ["vegan"]),
        ("gluten free please", ["gluten-free"]),
        ("halal", ["halal"]),
        ("kosher, nut-free", ["kosher", "nut-free"]),
        ("she has a nut allergy", ["nut-free"]),
        ("lactose intolerant", ["dairy-free"]),
        ("no preference", []),
    ],
)
def test_dietary(text: str, expected: list[str]) -> None:
    assert extract_entities(text, NOW).dietary == expected


@pytest.mark.parametrize(
    "text,expected",
    [
        ("for 2", 2),
        ("for four", 4),
        ("party of 6", 6),
        ("8 people", 8),
        ("table for two", 2),
        ("for $100", None),
        ("for 100 dollars", None),
        ("just the two of us", 2),
        ("for Saturday", None),
    ],
)
def test_party_size(text: str, expected: int | None) -> None:
    assert extract_entities(text, NOW).party_size == expected


@pytest.mark.parametrize(
    "text,expected",
    [
        ("our anniversary", "anniversary"),
        ("her birthday", "birthday"),
        ("plan a date night", "date night"),
        ("valentine's surprise", "valentine's day"),
        ("just browsing", None),
    ],
)
def test_occasion(text: str, expected: str | None) -> None:
    assert extract_entities(text, NOW).occasion == expected


def test_seed_detail_message() -> None:
    e = extract_entities("Saturday, $100, vegetarian", NOW)
    assert (e.date, e.budget, e.dietary) == (D(2025, 11, 29), Budget(amount=100), ["vegetarian"])
    assert has_details(e)


def test_merge_keeps_old_and_accumulates_dietary() -> None:
    old = Entities(
        date=D(2025, 11, 29), date_text="Saturday", dietary=["nut-free"], experience="date_night"
    )
    new = Entities(budget=Budget(amount=80, currency="EUR"), dietary=["vegan"])
    m = merge_entities(old, new)
    assert m.date == D(2025, 11, 29) and m.budget == Budget(amount=80, currency="EUR")
    assert m.dietary == ["nut-free", "vegan"] and m.experience == "date_night"
    assert merge_entities(m, Entities(budget=Budget(amount=50))).budget == Budget(amount=50)
