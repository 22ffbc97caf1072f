"""Options invariants: validator and deterministic builder (property-tested with hypothesis)."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from composite.options import build_options, validate_options
from models.chat import Budget, CategoryListing, DiscoveredProduct
from tests.examples import examples


def listing(cat: str, prices: list[float], **kw) -> CategoryListing:
    return CategoryListing(
        category=cat,
        products=[
            DiscoveredProduct(
                product_id=f"{cat}-{i}",
                name=f"{cat} {i}",
                category=cat,
                price=p,
                score=1 - i / 10,
                **kw,
            )
            for i, p in enumerate(prices)
        ],
    )


LISTINGS = [
    listing("flowers", [35, 22, 18, 55]),
    listing("dinner", [30, 45, 25]),
    listing("movie", [15, 9, 20]),
]


def check(options, listings, budget) -> None:
    """Every invariant of a reply's options."""
    usable = [lst for lst in listings if lst.products]
    price = {p.product_id: p.price for lst in usable for p in lst.products}
    cat_of = {p.product_id: i for i, lst in enumerate(usable) for p in lst.products}
    assert len(options) == 0 or 2 <= len(options) <= 4
    sets = set()
    for o in options:
        assert all(pid in price for pid in o.product_ids)
        assert sorted(cat_of[pid] for pid in o.product_ids) == list(range(len(usable)))
        assert abs(o.total_price - round(sum(price[pid] for pid in o.product_ids), 2)) < 1e-9
        if budget is not None:
            assert o.total_price <= budget.amount + 1e-6
        sets.add(frozenset(o.product_ids))
    assert len(sets) == len(options)
    assert len({o.label for o in options}) == len(options)


def test_builder_gives_distinct_options_within_budget() -> None:
    b = Budget(amount=100)
    opts = build_options(LISTINGS, b)
    check(opts, LISTINGS, b)
    assert 2 <= len(opts) <= 4
    assert {"Top Pick", "Budget-Friendly"} <= {o.label for o in opts}


def test_builder_infeasible_budget_gives_none() -> None:
    assert build_options(LISTINGS, Budget(amount=10)) == []


def test_builder_single_combination_gives_none() -> None:
    one = [listing("a", [5]), listing("b", [6])]
    assert build_options(one, None) == []


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prices=st.lists(
        st.lists(
            st.floats(min_value=0, max_value=500, allow_nan=False).map(lambda x: round(x, 2)),
            min_size=0,
            max_size=6,
        ),
        min_size=1,
        max_size=4,
    ),
    budget=st.one_of(st.none(), st.floats(min_value=1, max_value=1200).map(lambda x: round(x, 2))),
    ratings=st.booleans(),
)
def test_builder_property(prices, budget, ratings) -> None:
    listings = [
        listing(f"c{i}", ps, rating=4.0 if ratings else None) for i, ps in enumerate(prices)
    ]
    b = Budget(amount=budget) if budget else None
    opts = build_options(listings, b)
    check(opts, listings, b)
    usable = [lst for lst in listings if lst.products]
    if usable:
        combos = [
            c
            for c in itertools.product(*[lst.products for lst in usable])
            if b is None or round(sum(p.price for p in c), 2) <= b.amount + 1e-6
        ]
        distinct = {frozenset(p.product_id for p in c) for c in combos}
        if len(distinct) >= 2:
            assert len(opts) >= 2, "feasible: the builder must find 2 options"
        else:
            assert opts == []


def test_validator_rejects_unknown_ids_and_recomputes_totals() -> None:
    raw = {
        "options": [
            {
                "label": "A",
                "description": "x",
                "product_ids": ["flowers-0", "dinner-0", "movie-0"],
                "total_price": 1,
            },
            {
                "label": "B",
                "description": "y",
                "product_ids": ["flowers-1", "dinner-2", "movie-1"],
                "total_price": 999,
            },
            {"label": "C", "product_ids": ["flowers-1", "evil-1", "movie-1"], "total_price": 3},
        ]
    }
    valid, errors = validate_options(raw, LISTINGS, Budget(amount=100))
    assert [o.total_price for o in valid] == [80.0, 56.0]
    assert any("evil-1" in e for e in errors)


def test_validator_one_per_category_budget_and_duplicates() -> None:
    raw = {
        "options": [
            {
                "label": "two flowers",
                "product_ids": ["flowers-0", "flowers-1", "movie-0"],
                "total_price": 0,
            },
            {"label": "missing", "product_ids": ["flowers-0", "movie-0"], "total_price": 0},
            {
                "label": "pricey",
                "product_ids": ["flowers-3", "dinner-1", "movie-2"],
                "total_price": 0,
            },
            {"label": "ok", "product_ids": ["movie-1", "flowers-2", "dinner-2"], "total_price": 0},
            {"label": "dup", "product_ids": ["flowers-2", "dinner-2", "movie-1"], "total_price": 0},
        ]
    }
    valid, errors = validate_options(raw, LISTINGS, Budget(amount=100))
    assert [o.label for o in valid] == ["ok"]
    assert valid[0].product_ids == ["flowers-2", "dinner-2", "movie-1"]  # category order
    assert len(errors) == 5  # four rejected options + "need 2-4"


def test_validator_cleans_labels() -> None:
    raw = {
        "options": [
            {
                "label": "<b>Click</b> https://evil.example now",
                "description": "[link](http://x.y)",
                "product_ids": ["flowers-0", "dinner-0", "movie-0"],
                "total_price": 0,
            },
            {
                "label": "Fine",
                "product_ids": ["flowers-1", "dinner-1", "movie-1"],
                "total_price": 0,
            },
        ]
    }
    valid, _ = validate_options(raw, LISTINGS, None)
    assert (
        "http" not in valid[0].label
        and "<" not in valid[0].label
        and "http" not in valid[0].description
    )


def test_validator_schema_garbage() -> None:
    assert validate_options({"nope": 1}, LISTINGS, None)[0] == []
    assert validate_options({"options": "x"}, LISTINGS, None)[0] == []
