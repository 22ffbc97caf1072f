"""Order histories from ../shared/data parsed with exact, explained counts."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from ingest import read_orders


@pytest.fixture
def online_retail(online_retail_orders):
    """The session's parse of the whole file (tests/unit/conftest.py): parsed once per process."""
    parsed = online_retail_orders
    return parsed.events, parsed.report, parsed.seconds


def test_online_retail_every_row_accounted(online_retail):
    events, report, _ = online_retail
    assert report.format == "online_retail"
    assert report.rows == 541_909
    assert report.skipped == {
        "cancellation": 9_288,
        "adjustment": 3,
        "non_positive_quantity": 1_336,
        "non_positive_price": 1_179,
    }
    assert report.bad_row_count == 0
    assert report.used_rows == 530_103
    assert report.accounted
    assert sum(len(e.lines) for e in events) == 530_103


def test_online_retail_invoice_counts(online_retail):
    """25,900 invoices - 3,836 cancelled - 3 adjustments - 2,102 with no positive line = 19,959;
    invoice 573585 has 1,114 lines (> OrderEvent's 1,000) and becomes two events: 19,960."""
    events, report, _ = online_retail
    assert report.skipped_orders == {"cancelled": 3_836, "adjustment": 3, "no_valid_lines": 2_102}
    assert 25_900 - 3_836 - 3 - 2_102 == 19_959
    assert report.split_orders == 1
    assert len(events) == report.events == 19_960
    ids = Counter(e.order_id for e in events)
    assert max(ids.values()) == 1
    parts = [e for e in events if e.order_id.startswith("573585#")]
    assert [len(p.lines) for p in parts] == [1000, 114]
    # invoice 542806 is interrupted by another invoice in the file and still comes out whole
    assert sum(1 for e in events if e.order_id == "542806") == 1


def test_online_retail_fields(online_retail):
    events, _, _ = online_retail
    first = events[0]
    assert first.order_id == "536365" and first.store_id == "uk-gifts" and first.source == "replay"
    assert first.currency == "GBP" and first.customer_id == "17850"
    assert first.created_at == datetime(2010, 12, 1, 8, 26, tzinfo=UTC)
    assert (first.lines[0].product_id, first.lines[0].quantity, first.lines[0].price) == (
        "85123A",
        6,
        2.55,
    )
    assert first.lines[0].title == "WHITE HANGING HEART T-LIGHT HOLDER"
    assert all(line.quantity > 0 and line.price > 0 for e in events for line in e.lines)
    assert not any(e.order_id.startswith(("C", "A")) for e in events)


def test_online_retail_parse_time(online_retail):
    """Measured, not a benchmark: generous bound because CI machines are shared."""
    _, report, seconds = online_retail
    print(f"online_retail: {report.rows} rows -> {report.events} events in {seconds:.2f} s")
    assert seconds < 60


def test_olist_order_items_grouped_with_categories(olist_orders):
    categories, events, report = olist_orders.categories, olist_orders.events, olist_orders.report
    assert categories is not None
    assert len(categories) == 32_951 - 610  # 610 products have no category
    assert categories["1e9e8ef04dbcff4541ed26657ea517e5"] == "perfumery"
    assert categories.get("pc_gamer") is None
    assert report.format == "olist"
    assert report.rows == report.used_rows == 112_650 and report.accounted
    assert len(events) == 98_666
    assert sum(line.quantity for e in events for line in e.lines) == 112_650
    assert (
        round(sum(line.quantity * line.price for e in events for line in e.lines), 2)
        == 13_591_643.70
    )
    assert all(e.currency == "BRL" for e in events)
    first = events[0]
    assert first.order_id == "00010242fe8c5a6d1ba2dd792cb16214"
    assert first.created_at == datetime(2017, 9, 19, 9, 45, 35, tzinfo=UTC)
    assert first.lines[0].category == "cool_stuff"
    assert any(
        line.category == "pc_gamer" for e in events for line in e.lines
    )  # no translation: kept as is


def test_shopify_orders_export_grouped_by_name(data_dir):
    events, report = read_orders(data_dir / "shopify" / "orders_export.csv", store_id="snow")
    assert report.format == "shopify_orders"
    assert report.rows == report.used_rows == 40 and report.accounted
    assert [e.order_id for e in events] == [f"#{n}" for n in range(1001, 1020)]
    assert sum(len(e.lines) for e in events) == 40
    assert {e.currency for e in events} == {"EUR"}
    first = events[0]
    assert [line.product_id for line in first.lines] == [
        "Gift Card - $10",
        "Selling Plans Ski Wax - Selling Plans Ski Wax",
        "The Collection Snowboard: Hydrogen",
        "The Collection Snowboard: Oxygen",
    ]
    assert first.created_at.utcoffset().total_seconds() == -4 * 3600
    by_id = {e.order_id: e for e in events}
    assert (
        by_id["#1006"].lines[1].product_id == "sku-untracked-1"
    )  # Lineitem sku wins over the name
    assert by_id["#1004"].customer_id == "ayumu.hirano@example.com"
    assert by_id["#1001"].customer_id is None
