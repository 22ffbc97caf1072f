"""Offline bundle hit rate per bundle and per set, the endpoint's answer in the same shape, and the
replay of held-out orders as live ones."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from evaluation.live_hit_rate import (
    OrderProducts,
    as_live_orders,
    comparison_rows,
    live_hit_rates,
    markdown_table,
    offline_hit_rates,
    order_products,
)
from evaluation.split import Basket, bundle_hit_rate
from models.performance import StorePerformance
from tests.factories import order

NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def _o(oid: str, **revenue: float) -> OrderProducts:
    return OrderProducts(oid, revenue)


BUNDLES = [("b1", ("a", "b", "c")), ("b2", ("c", "d")), ("v", ("a",))]


def test_whole_and_partial_hits_and_revenue_per_bundle():
    orders = [
        _o("o1", a=1.0, b=2.0, c=3.0),  # b1 whole; b2 has only c
        _o("o2", a=1.0, b=2.0, x=9.0),  # b1 partial (2 of 3)
        _o("o3", c=3.0, d=4.0),  # b2 whole
        _o("o4", a=5.0),  # only the one-product volume bundle
        _o("o5", x=1.0, y=1.0),  # nothing
    ]
    rates = offline_hit_rates(orders, BUNDLES)
    b1, b2, v = rates.bundles
    assert (b1.orders_whole, b1.orders_partial) == (1, 2)
    assert (b1.revenue_whole, b1.revenue_partial) == (6.0, 9.0)  # x is not the bundle's
    assert (b2.orders_whole, b2.orders_partial, b2.revenue_whole) == (1, 1, 7.0)
    # a one-product bundle counts when its product is bought, but stays outside the rates
    assert (v.orders_whole, v.orders_partial, v.scored) == (3, 3, False)
    assert rates.orders == 5
    assert (rates.any_partial, rates.any_whole) == (3, 2)
    assert rates.partial_hits == 3 and rates.whole_hits == 2
    assert rates.partial_per_order == pytest.approx(0.6)
    assert rates.any_partial_rate == pytest.approx(0.6)
    assert rates.any_whole_rate == pytest.approx(0.4)


def test_an_order_holding_two_bundles_counts_once_in_the_union_twice_in_the_sum():
    rates = offline_hit_rates([_o("o1", a=1, b=1, c=1, d=1)], BUNDLES[:2])
    assert rates.any_partial == 1 and rates.partial_hits == 2
    assert rates.any_whole == 1 and rates.whole_hits == 2


def test_the_union_matches_the_evaluation_bundle_hit_rate():
    orders = [
        _o("o1", a=1, b=1),
        _o("o2", c=1, d=1, e=1),
        _o("o3", a=1),
        _o("o4", b=1, d=1),
        _o("o5", a=1, c=1, z=1),
    ]
    baskets = [Basket(o.order_id, NOW, tuple(sorted(o.revenue))) for o in orders]
    expected = bundle_hit_rate(baskets, [p for _, p in BUNDLES])
    rates = offline_hit_rates(orders, BUNDLES)
    assert rates.any_partial == expected["bundle_hits"]
    assert rates.any_partial_rate == pytest.approx(expected["bundle_hit_rate"])


def test_no_orders_gives_zero_rates_not_an_error():
    rates = offline_hit_rates([], BUNDLES)
    assert rates.orders == 0 and rates.partial_per_order == 0.0 and rates.any_partial_rate == 0.0


def test_order_products_sums_lines_and_merges_split_events():
    first = order("o1", lines=[("a", 2), ("b", 1)], price=1.5)
    second = order("o1", lines=[("a", 1)], price=2.0)  # the rest of a split order
    other = order("o2", lines=[("c", 1)], price=4.0)
    merged = order_products([first, other, second])
    assert [m.order_id for m in merged] == ["o1", "o2"]
    assert dict(merged[0].revenue) == {"a": 5.0, "b": 1.5}


def _performance() -> StorePerformance:
    return StorePerformance.model_validate(
        {
            "store_id": "s",
            "upload_id": "u",
            "published_at": NOW.isoformat(),
            "orders_since_published": 5,
            "as_of": NOW.isoformat(),
            "bundles": [
                {
                    "bundle_id": "b1",
                    "product_ids": ["a", "b", "c"],
                    "published_at": NOW.isoformat(),
                    "orders_whole": 1,
                    "orders_partial": 2,
                    "revenue_whole": 6.0,
                    "revenue_partial": 9.0,
                },
                {
                    "bundle_id": "b2",
                    "product_ids": ["c", "d"],
                    "published_at": NOW.isoformat(),
                    "orders_whole": 1,
                    "orders_partial": 1,
                },
            ],
        }
    )


def test_live_rates_read_the_endpoint_and_have_no_union():
    live = live_hit_rates(_performance())
    assert live.orders == 5 and live.any_partial is None and live.any_partial_rate is None
    assert live.partial_hits == 3 and live.whole_hits == 2
    assert live.whole_per_order == pytest.approx(0.4)


def test_comparison_rows_put_offline_and_live_side_by_side():
    orders = [
        _o("o1", a=1.0, b=2.0, c=3.0),
        _o("o2", a=1.0, b=2.0),
        _o("o3", c=3.0, d=4.0),
        _o("o4", a=5.0),
        _o("o5", x=1.0),
    ]
    offline = offline_hit_rates(orders, [*BUNDLES[:2], ("gone", ("x", "y"))])
    rows = comparison_rows(offline, live_hit_rates(_performance()))
    assert rows[0][1:] == ["5", "5"]
    assert rows[3] == [
        "bundle hits, 2+ products, summed over bundles (per order)",
        "3 (60.00%)",
        "3 (60.00%)",
    ]
    assert rows[5] == ["revenue of the bundles' products in those orders", "16.00", "9.00"]
    assert rows[6][1:] == ["2 / 1", "2 / 1"]
    assert rows[6][0] == "bundle 1 (3 products): 2+ / whole"
    assert rows[-1][2] == "missing"  # a bundle the endpoint does not report
    named = comparison_rows(offline, live_hit_rates(_performance()), {"b2": "Cup + Bowl"})
    assert named[7][0] == "bundle 2 (Cup + Bowl): 2+ / whole"
    table = markdown_table(rows, ["measure", "offline", "live"])
    assert table.splitlines()[1] == "|---|---:|---:|"
    assert len(table.splitlines()) == len(rows) + 2


def test_as_live_orders_moves_store_time_and_ids_but_keeps_lines():
    held_out = [
        order("536365", "eval", [("a", 2)], at=1_300_000_000),
        order("536366", "eval", [("b", 1)], at=1_300_000_060),
    ]
    live = as_live_orders(held_out, "shop", NOW, suffix="-r1")
    assert [o.order_id for o in live] == ["536365-r1", "536366-r1"]
    assert {o.store_id for o in live} == {"shop"}
    assert [o.created_at for o in live] == sorted(o.created_at for o in live)
    assert live[0].created_at == NOW and all(o.created_at >= NOW for o in live)
    assert [o.lines for o in live] == [o.lines for o in held_out]
    assert all(o.source == "replay" for o in live)
