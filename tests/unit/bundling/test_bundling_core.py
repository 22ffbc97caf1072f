"""Formulas against hand-computed values, mining vs brute force, cold start, bundle invariants."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bundling import budget as B
from bundling.diversity import jaccard, select_diverse
from bundling.engine import generate_bundle_set
from bundling.mining import BasketMatrix, association_rules, mine_itemsets
from bundling.scoring import alpha_beta_gamma, sigmoid_alpha
from bundling.stats import wilson_ci_width
from models.bundles import BundleType, Objective
from models.catalog import Product
from models.orders import OrderEvent, OrderLine

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_wilson_width_hand_computed():
    # k=5, n=10, z=1.96: half = 1.96*sqrt(.025 + .9604/400)/1.38416 = 0.26341 -> width 0.52682
    assert wilson_ci_width(5, 10) == pytest.approx(
        2 * 1.96 * math.sqrt(0.025 + 3.8416 / 400) / 1.38416, abs=1e-9
    )
    assert wilson_ci_width(5, 10) == pytest.approx(0.52682, abs=1e-4)
    assert wilson_ci_width(0, 0) == 1.0


def test_sigmoid_alpha():
    assert sigmoid_alpha(300) == pytest.approx(0.3)
    assert sigmoid_alpha(0) == pytest.approx(0.6 / (1 + math.exp(-3)), abs=1e-12)  # 0.5716
    assert sigmoid_alpha(1000) == pytest.approx(0.6 / (1 + math.exp(7)), abs=1e-12)  # 0.000547
    a, b, g = alpha_beta_gamma(0)
    assert a + b == pytest.approx(0.8) and g == 0.2


def test_ema_rolling_mean_clamp():
    assert B.ema(None, 100) == 100
    assert B.ema(100, 200) == pytest.approx(120.0)
    s = B.RollingCosts()
    for i in range(60):
        s = B.update(s, (Objective.MARGIN_GUARD, BundleType.FBT), float(i))
    assert B.cost_per_combo(s) == pytest.approx(sum(range(10, 60)) / 50)
    assert B.RollingCosts.from_json(s.to_json()) == s
    assert B.cost_per_combo(B.RollingCosts()) == 3000
    assert B.max_objectives(3000) == 2  # floor(12000/4500)=2
    assert B.max_objectives(1500) == 5  # floor(12000/2250)=5: a young store's fast combos
    assert B.max_objectives(100) == 6 and B.max_objectives(20000) == 2


def test_mmr_worked_example():
    c = [("A", 0.9, {"x", "y"}), ("B", 0.85, {"x", "y"}), ("C", 0.6, {"z"})]
    # after A: B = .7*.85 - .3*1 = 0.295 ; C = .7*.6 - 0 = 0.42 -> C then B
    out = select_diverse(c, lambda t: t[1], lambda t: t[2], k=3)
    assert [t[0] for t in out] == ["A", "C", "B"]
    assert jaccard({"a", "b"}, {"b", "c"}) == pytest.approx(1 / 3)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from("abcdefg"), max_size=6), min_size=1, max_size=25),
    st.sampled_from([0.05, 0.1, 0.2, 0.5]),
)
def test_mining_equals_brute_force(baskets, ms):
    its = mine_itemsets(BasketMatrix.from_baskets(baskets), ms, max_len=3)
    sets = [set(b) for b in baskets]
    n = len(sets)
    bf = {}
    for k in (1, 2, 3):
        for c in itertools.combinations("abcdefg", k):
            s = sum(1 for b in sets if set(c) <= b) / n
            if s >= ms and s > 0:
                bf[frozenset(c)] = s
    assert its.supports() == bf
    for r in association_rules(its).to_records():
        assert 0 < r["confidence"] <= 1


def _catalog(n_per_cat: int = 6) -> list[Product]:
    cats = {
        "kitchen": [
            "wine glass",
            "cheese board",
            "coffee mug",
            "tea pot",
            "salad bowl",
            "knife set",
            "wine cooler",
        ],
        "garden": [
            "watering can",
            "garden hose",
            "plant pot",
            "pruning shears",
            "garden gloves",
            "seed tray",
            "rake",
        ],
        "jewelry": [
            "silver necklace",
            "gold bracelet",
            "pearl earrings",
            "silver ring",
            "charm bracelet",
            "gold necklace",
            "anklet",
        ],
    }
    out = []
    for c, names in cats.items():
        for i, nm in enumerate(names[:n_per_cat]):
            price = 10.0 + 7 * i
            out.append(
                Product(
                    product_id=f"{c}-{i}",
                    title=nm.title(),
                    category=c,
                    tags=[c, nm.split()[0]],
                    description=f"A lovely {nm} for your {c}.",
                    price=price,
                    cost=price * (0.4 if i % 2 else 0.7),
                    inventory=5,
                    created_at=T0 - timedelta(days=10 * i),
                )
            )
    return out


def _orders(catalog: list[Product], n: int) -> list[OrderEvent]:
    out = []
    for k in range(n):
        a, b = catalog[k % len(catalog)], catalog[(k * 3 + 1) % len(catalog)]
        lines = [OrderLine(product_id=a.product_id, quantity=1, price=a.price)]
        if b.product_id != a.product_id:
            lines.append(OrderLine(product_id=b.product_id, quantity=1, price=b.price))
        out.append(
            OrderEvent(
                order_id=f"o{k}", store_id="s", lines=lines, created_at=T0 - timedelta(days=k)
            )
        )
    return out


def _check_invariants(bs, catalog):
    prods = {p.product_id: p for p in catalog}
    assert len(bs.bundles) <= 10
    for b in bs.bundles:
        ids = [p.product_id for p in b.products]
        assert len(ids) == len(set(ids))
        assert all(i in prods and prods[i].in_stock for i in ids)
        lp = round(sum(prods[p.product_id].price * p.quantity for p in b.products), 2)
        assert b.pricing.list_price == pytest.approx(lp, abs=0.011)
        assert b.pricing.bundle_price <= b.pricing.list_price
        assert b.pricing.margin_pct is not None and b.pricing.margin_pct >= 15 - 1e-6


@pytest.mark.parametrize("n_orders", [0, 5])
def test_cold_start_yields_bundles(n_orders):
    cat = _catalog()
    bs, _runs = generate_bundle_set("u", "s", cat, _orders(cat, n_orders))
    assert bs.metrics.cold_start and 1 <= len(bs.bundles) <= 4
    assert all(b.cold_start for b in bs.bundles)
    _check_invariants(bs, cat)


def test_warm_path_invariants_and_metrics():
    cat = _catalog()
    bs, runs = generate_bundle_set("u", "s", cat, _orders(cat, 200))
    assert not bs.metrics.cold_start and runs and bs.bundles
    assert bs.metrics.policy_gates.total_candidates >= bs.metrics.policy_gates.passed
    _check_invariants(bs, cat)


@settings(max_examples=25, deadline=None)
@given(
    st.integers(0, 120), st.integers(3, 7), st.lists(st.integers(0, 3), min_size=21, max_size=21)
)
def test_property_every_emitted_bundle(n_orders, per_cat, inv):
    cat = [
        p.model_copy(update={"inventory": inv[i % len(inv)]})
        for i, p in enumerate(_catalog(per_cat))
    ]
    bs, _ = generate_bundle_set("u", "s", cat, _orders(cat, n_orders))
    _check_invariants(bs, cat)
