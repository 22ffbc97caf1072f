"""Time split, hidden-item protocol and bundle hit rate on small hand-made histories."""

from __future__ import annotations

from datetime import datetime, timedelta

from evaluation.split import (
    Basket,
    baskets_from_orders,
    bundle_hit_rate,
    completion_cases,
    time_split,
)
from models import OrderEvent, OrderLine

T0 = datetime(2024, 1, 1)


def _b(oid: str, day: int, *items: str) -> Basket:
    return Basket(oid, T0 + timedelta(days=day), tuple(sorted(items)))


def test_time_split_holds_out_latest_20_percent_whatever_the_input_order():
    baskets = [_b(f"o{i}", 9 - i, "x") for i in range(10)]
    split = time_split(baskets)
    assert [b.order_id for b in split.test] == ["o1", "o0"]  # days 8 and 9
    assert len(split.train) == 8 and split.cutoff == T0 + timedelta(days=8)
    assert max(b.created_at for b in split.train) < min(b.created_at for b in split.test)


def test_ties_broken_by_order_id():
    baskets = [_b("b", 0, "x"), _b("a", 0, "x"), _b("c", 0, "x"), _b("d", 0, "x"), _b("e", 0, "x")]
    assert [b.order_id for b in time_split(baskets).test] == ["e"]


def test_completion_cases_hide_one_item_deterministically_and_skip_singletons():
    test = [_b("o1", 0, "a", "b", "c"), _b("o2", 0, "z"), _b("o3", 0, "p", "q")]
    cases = completion_cases(test, seed=7)
    assert cases.order_ids == ["o1", "o3"]
    for given, hidden, basket in zip(cases.given, cases.hidden, [test[0], test[2]]):
        assert hidden in basket.items and hidden not in given
        assert sorted((*given, hidden)) == list(basket.items)
    again = completion_cases(list(reversed(test)), seed=7)
    assert dict(zip(again.order_ids, again.hidden)) == dict(zip(cases.order_ids, cases.hidden))


def test_seed_changes_choices():
    test = [_b(f"o{i}", 0, "a", "b", "c", "d") for i in range(40)]
    assert completion_cases(test, seed=1).hidden != completion_cases(test, seed=2).hidden


def test_bundle_hit_rate_counts_baskets_with_two_products_of_one_bundle():
    test = [_b("1", 0, "a", "b", "x"), _b("2", 0, "a", "c"), _b("3", 0, "a"), _b("4", 0, "c", "d")]
    out = bundle_hit_rate(test, [("a", "b"), ("c", "d", "e"), ("solo",)])
    # basket 1 hits (a,b); basket 2 has a and c from different bundles: no; 3 single; 4 hits
    assert out["bundle_hits"] == 2 and out["bundles"] == 2
    assert out["bundle_hit_rate"] == 2 / 4 and out["bundle_hit_rate_multi"] == 2 / 3


def test_baskets_from_orders_merges_split_orders_and_dedups():
    line = lambda p: OrderLine(product_id=p, quantity=1, price=1.0)
    orders = [
        OrderEvent(
            order_id="A",
            store_id="s",
            created_at=T0 + timedelta(hours=1),
            lines=[line("x"), line("y"), line("x")],
        ),
        OrderEvent(order_id="A", store_id="s", created_at=T0, lines=[line("z")]),
        OrderEvent(order_id="B", store_id="s", created_at=T0, lines=[line("y")]),
    ]
    baskets = {b.order_id: b for b in baskets_from_orders(orders)}
    assert baskets["A"].items == ("x", "y", "z") and baskets["A"].created_at == T0
    assert baskets["B"].items == ("y",)
