"""Ranking policy, sponsorship boost and cap, product mix (pct rounding, dedupe, fill), search."""

from __future__ import annotations

import datetime as dt

import pytest

from composite.discovery import (
    Candidate,
    apply_product_mix,
    build_index,
    discover_category,
    discover_composite,
    rank_candidates,
    slot_counts,
)
from models.catalog import Partner, Product, Sponsorship
from models.config import CompositeDiscoveryConfig, PlatformConfig, ProductMixSlice


def mix(*slices: tuple[str, int, float]) -> list[ProductMixSlice]:
    return [ProductMixSlice(sort=s, limit=lim, pct=p) for s, lim, p in slices]


SEED_MIX = mix(
    ("price_desc", 10, 50),
    ("price_asc", 10, 20),
    ("rating", 10, 10),
    ("popularity", 10, 10),
    ("sponsored", 10, 10),
)


def test_seed_example_slot_counts() -> None:
    counts = slot_counts(SEED_MIX, 5)
    assert counts == [3, 1, 1, 0, 0] and sum(counts) == 5
    # 5 slots at 50/20/10/10/10: 2-3, 1, 0-1, 0-1, 0-1 each
    assert 2 <= counts[0] <= 3 and counts[1] == 1 and all(c in (0, 1) for c in counts[2:])


@pytest.mark.parametrize("n", range(1, 11))
def test_slot_counts_sum_to_n_and_normalise(n: int) -> None:
    raw = [
        ProductMixSlice.model_construct(sort="price_asc", limit=10, pct=p) for p in (3, 1, 1)
    ]  # sums to 5
    counts = slot_counts(raw, n)
    assert sum(counts) == n
    assert counts[0] >= counts[1] >= counts[2]
    assert slot_counts(raw, 5) == [3, 1, 1]  # 60/20/20 after normalisation
    zero = [ProductMixSlice.model_construct(sort="price_asc", limit=10, pct=0) for _ in range(2)]
    assert sum(slot_counts(zero, n)) == n


def prod(pid: str, price: float, **kw) -> Product:
    return Product(product_id=pid, title=pid, category="flowers", price=price, **kw)


def cands(
    products: list[Product],
    sold: dict[str, int] | None = None,
    cfg: CompositeDiscoveryConfig | None = None,
) -> list[Candidate]:
    return rank_candidates(
        [Candidate(p, relevance=1.0) for p in products],
        sold or {},
        cfg or CompositeDiscoveryConfig(),
    )


def test_mix_dedupes_first_occurrence_wins() -> None:
    ps = [prod(f"p{i}", float(i)) for i in range(1, 9)]
    ranked = cands(ps)
    # price_desc then rating: the most expensive product is also best... any dup is taken once
    out = apply_product_mix(ranked, mix(("price_desc", 3, 50), ("price_desc", 3, 50)), 4)
    ids = [c.product.product_id for c in out]
    assert len(ids) == len(set(ids)) == 4
    assert ids[:3] == ["p8", "p7", "p6"]  # slice 1 (limit 3) took the top 3
    assert [c.slice for c in out][:2] == ["price_desc", "price_desc"]


def test_mix_fills_from_next_slice_when_a_slice_runs_out() -> None:
    ps = [prod(f"p{i}", float(i)) for i in range(1, 9)]
    ranked = cands(ps)  # no sponsorships: the sponsored slice is empty
    out = apply_product_mix(ranked, mix(("sponsored", 10, 60), ("price_asc", 10, 40)), 5)
    ids = [c.product.product_id for c in out]
    assert ids == ["p1", "p2", "p3", "p4", "p5"]
    assert all(c.slice == "price_asc" for c in out)


def test_mix_wraps_to_ranking_when_all_slices_exhausted() -> None:
    ps = [prod(f"p{i}", float(i)) for i in range(1, 9)]
    out = apply_product_mix(cands(ps), mix(("price_desc", 2, 100)), 5)
    assert len(out) == 5 and [c.slice for c in out][-1] == "ranking"


def test_mix_popularity_uses_live_sold_counts_and_recent_uses_created_at() -> None:
    base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    ps = [prod(f"p{i}", 10.0, created_at=base + dt.timedelta(days=i)) for i in range(6)]
    ranked = cands(ps, sold={"p2": 50, "p4": 7})
    assert [
        c.product.product_id for c in apply_product_mix(ranked, mix(("popularity", 10, 100)), 2)
    ] == ["p2", "p4"]
    assert [
        c.product.product_id for c in apply_product_mix(ranked, mix(("recent", 10, 100)), 2)
    ] == ["p5", "p4"]


def test_rating_slice_uses_trust_when_rating_missing() -> None:
    ps = [
        prod("rated", 10, rating=3.0),
        prod("trusted", 10, partner=Partner(partner_id="s", trust_score=0.9)),
        prod("plain", 10),
    ]
    out = apply_product_mix(cands(ps), mix(("rating", 10, 100)), 3)
    assert [c.product.product_id for c in out] == ["trusted", "rated", "plain"]  # 0.9 > 0.6 > 0.5


def test_no_mix_falls_back_to_plain_ranking() -> None:
    ps = [prod(f"p{i}", float(i)) for i in range(1, 6)]
    ranked = cands(ps)
    out = apply_product_mix(ranked, [], 3)
    assert [c.product.product_id for c in out] == [c.product.product_id for c in ranked[:3]]


def test_ranking_policy_prefers_cheaper_rated_trusted() -> None:
    ps = [
        prod("cheap_good", 10, rating=5, partner=Partner(partner_id="a", trust_score=1.0)),
        prod("pricey_bad", 50, rating=1, partner=Partner(partner_id="b", trust_score=0.1)),
        prod("unrated", 30),
    ]
    ranked = cands(ps)
    assert (
        ranked[0].product.product_id == "cheap_good"
        and ranked[-1].product.product_id == "pricey_bad"
    )


def sponsored_set() -> list[Product]:
    sp = Sponsorship(active=True)
    return [
        prod("s1", 40, sponsorship=sp),
        prod("s2", 45, sponsorship=sp),
        prod("s3", 50, sponsorship=sp),
        prod("organic1", 10, rating=5),
        prod("organic2", 12, rating=5),
        prod("inactive", 41, sponsorship=Sponsorship(active=False)),
    ]


def test_sponsorship_boost_enabled_with_cap() -> None:
    cfg = CompositeDiscoveryConfig(sponsorship_enabled=True, max_sponsored_per_query=2)
    ranked = cands(sponsored_set(), cfg=cfg)
    boosted = [c.product.product_id for c in ranked if c.sponsored]
    assert boosted == ["s1", "s2"]  # the two best-scoring sponsored, never more than the cap
    assert [c.product.product_id for c in ranked[:2]] == ["s1", "s2"]
    unboosted = {
        c.product.product_id: c.score
        for c in cands(sponsored_set(), cfg=CompositeDiscoveryConfig(sponsorship_enabled=False))
    }
    for c in ranked:
        delta = c.score - unboosted[c.product.product_id]
        assert delta == pytest.approx(0.5 if c.sponsored else 0.0)


def test_sponsorship_disabled_no_boost_and_empty_sponsored_slice() -> None:
    cfg = CompositeDiscoveryConfig(sponsorship_enabled=False)
    ranked = cands(sponsored_set(), cfg=cfg)
    assert not any(c.sponsored for c in ranked)
    assert ranked[0].product.product_id in ("organic1", "organic2")
    out = apply_product_mix(ranked, mix(("sponsored", 10, 100)), 2)  # filled from the ranking
    assert all(c.slice != "sponsored" for c in out)


def test_cap_zero_means_no_boost() -> None:
    ranked = cands(sponsored_set(), cfg=CompositeDiscoveryConfig(max_sponsored_per_query=0))
    assert not any(c.sponsored for c in ranked)


def test_discover_category_uses_aliases_and_products_per_category(index) -> None:
    cfg = PlatformConfig(
        composite_discovery_config=CompositeDiscoveryConfig(products_per_category=3)
    )
    lst = discover_category(index, "dinner", {}, cfg)
    assert len(lst.products) == 3
    assert {p.category for p in lst.products} <= {"food", "food_drink", "la_cuisine"}
    assert len(discover_category(index, "flowers", {}, PlatformConfig()).products) == 5


def test_discover_respects_budget_and_configured_aliases(index) -> None:
    from models.chat import Budget

    lst = discover_category(index, "flowers", {}, PlatformConfig(), budget=Budget(amount=20))
    assert lst.products and all(p.price <= 20 for p in lst.products)
    cfg = PlatformConfig(category_aliases={"movie": ["housewares"]})
    got = discover_category(index, "movie", {}, cfg).products
    assert "Candle Set" in {p.name for p in got}  # the configured alias replaced the Olist default
    assert {p.category for p in got} <= {
        "housewares",
        "dvds_blu_ray",
    }  # plus keyword hits ('Blu-ray', 'Film')


def test_text_search_finds_keyword_products_without_category() -> None:
    ps = [
        Product(product_id="x1", title="Dozen red roses", category="misc", price=30),
        Product(product_id="x2", title="Hammer", category="tools", price=10),
    ]
    lst = discover_category(build_index(ps), "flowers", {}, PlatformConfig())
    assert [p.product_id for p in lst.products] == ["x1"]


def test_composite_listings_never_share_a_product(index) -> None:
    cfg = PlatformConfig(category_aliases={"cake": ["food"], "dinner": ["food"]})
    lists = discover_composite(index, ["dinner", "cake"], {}, cfg)
    ids = [p.product_id for lst in lists for p in lst.products]
    assert len(ids) == len(set(ids))


def test_out_of_stock_excluded() -> None:
    ps = [
        Product(product_id="a", title="Roses", category="flowers", price=5, inventory=0),
        Product(product_id="b", title="Tulips", category="flowers", price=5),
    ]
    assert [
        p.product_id for p in discover_category(ps, "flowers", {}, PlatformConfig()).products
    ] == ["b"]
