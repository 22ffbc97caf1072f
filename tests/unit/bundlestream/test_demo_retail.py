"""The demo's gift shop without a broker: catalog derivation, the slice and its split, the
training export, and bundles / performance as a merchant reads them."""

from __future__ import annotations

import csv
import gzip
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bundlestream.demo_retail import (
    category_of,
    derive_catalog,
    format_bundle,
    format_bundle_set,
    format_performance,
    is_merchandise,
    money,
    pick_slice,
    split_slice,
    write_catalog,
    write_training_export,
)
from models.bundles import BundleSet
from models.orders import OrderEvent
from models.performance import StorePerformance
from tests.factories import order

NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"


def _sale(inv: str, code: str, desc: str, qty: int, price: float) -> OrderEvent:
    return OrderEvent.model_validate(
        {
            "order_id": inv,
            "store_id": "s",
            "lines": [{"product_id": code, "title": desc, "quantity": qty, "price": price}],
        }
    )


def test_merchandise_codes_are_numeric_and_postage_fees_and_vouchers_are_not():
    assert is_merchandise("85123A") and is_merchandise("22423")
    for code in ("POST", "DOT", "M", "C2", "BANK CHARGES", "AMAZONFEE", "gift_0001_20", ""):
        assert not is_merchandise(code)


def test_category_is_the_last_word_of_the_description():
    assert category_of("WHITE HANGING HEART T-LIGHT HOLDER") == "holder"
    assert category_of("SET 3 RETROSPOT TEA,COFFEE,SUGAR") == "sugar"
    assert category_of("12 PENCILS 3") == "pencils"  # numbers are not words
    assert category_of("3 4 5") == "misc"


def test_derive_catalog_takes_the_most_frequent_description_and_price():
    orders = [
        _sale("536365", "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", 6, 2.55),
        _sale("536366", "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", 6, 2.55),
        _sale("536367", "85123A", "CREAM HANGING HEART T-LIGHT HOLDER", 6, 2.95),
        _sale("536370", "POST", "POSTAGE", 1, 18.0),  # not merchandise
        _sale("536371", "71053", "WHITE METAL LANTERN", 6, 3.39),
        _sale("536372", "22000", "", 1, 1.0),  # no description
        _sale("536373", "22001", "FREE SAMPLE", 1, 0.0),  # no price
    ]
    catalog = derive_catalog(orders)
    assert [(p.product_id, p.title, p.category, p.price) for p in catalog] == [
        ("85123A", "White Hanging Heart T-Light Holder", "holder", 2.55),
        ("71053", "White Metal Lantern", "lantern", 3.39),
    ]


def test_write_catalog_is_a_generic_upload_csv_in_pounds(tmp_path: Path):
    path = write_catalog(
        derive_catalog([_sale("1", "71053", "WHITE METAL LANTERN", 6, 3.39)]), tmp_path / "c.csv"
    )
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows == [
        {
            "product_id": "71053",
            "title": "White Metal Lantern",
            "category": "lantern",
            "description": "WHITE METAL LANTERN",
            "price": "3.39",
            "currency": "GBP",
        }
    ]


def test_pick_slice_takes_the_newest_orders_in_time_order():
    orders = [order(f"o{i}", at=1_300_000_000 + 60 * ((i * 7) % 10)) for i in range(10)]
    newest = pick_slice(orders, 3)
    times = [o.created_at for o in newest]
    assert times == sorted(times) and len(newest) == 3
    assert min(times) >= max(o.created_at for o in orders if o not in newest)
    assert len(pick_slice(orders, None)) == 10 and len(pick_slice(orders, 50)) == 10
    with pytest.raises(ValueError):
        pick_slice(orders, 0)


def test_split_slice_holds_out_the_newest_fifth_as_the_evaluation_does():
    orders = [order(f"o{i:02d}", at=1_300_000_000 + 60 * i) for i in range(10)]
    part = split_slice(orders)
    assert [o.order_id for o in part.holdout] == ["o08", "o09"]
    assert [o.order_id for o in part.train] == [f"o{i:02d}" for i in range(8)]
    assert part.split.cutoff == orders[8].created_at


def test_training_export_keeps_only_the_chosen_invoices_in_the_original_format(tmp_path: Path):
    source = tmp_path / "or.csv.gz"
    lines = [
        HEADER,
        "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850,United Kingdom",
        '536365,71053,"LANTERN, WHITE METAL",6,2010-12-01 08:26:00,3.39,17850,United Kingdom',
        "536366,22633,HAND WARMER UNION JACK,6,2010-12-01 08:28:00,1.85,17850,United Kingdom",
        "C536379,D,Discount,-1,2010-12-01 09:41:00,27.5,14527,United Kingdom",
    ]
    with gzip.open(source, "wt", newline="") as fh:
        fh.write("\n".join(lines) + "\n")
    target = tmp_path / "train.csv.gz"
    assert write_training_export(source, {"536365"}, target) == 2
    with gzip.open(target, "rt") as fh:
        assert fh.read().splitlines() == lines[:3]


def _bundle_set() -> BundleSet:
    def product(pid: str, title: str, price: float, **extra: object) -> dict[str, object]:
        return {"product_id": pid, "title": title, "category": "x", "unit_price": price, **extra}

    components = {
        "semantic": 0.1,
        "data": 0.8,
        "business": 0.3,
        "alpha": 0.2,
        "beta": 0.6,
        "gamma": 0.2,
    }
    return BundleSet.model_validate(
        {
            "upload_id": "u1",
            "store_id": "shop",
            "metrics": {
                "csv_upload_id": "u1",
                "store_id": "shop",
                "transactions": 15968,
                "catalog_size": 3665,
                "selected_objectives": ["increase_aov", "gift_box"],
                "time_budget": {
                    "target_ms": 12000,
                    "rolling_cost_per_combo_ms": 5,
                    "max_objectives": 4,
                    "actual_duration_ms": 412.4,
                },
            },
            "bundles": [
                {
                    "bundle_id": "b1",
                    "bundle_type": "FBT",
                    "objective": "increase_aov",
                    "products": [
                        product("22697", "Green Regency Teacup And Saucer", 2.95, role="anchor"),
                        product("22699", "Roses Regency Teacup And Saucer", 2.95),
                    ],
                    "pricing": {
                        "currency": "GBP",
                        "list_price": 5.9,
                        "bundle_price": 5.31,
                        "discount_pct": 10,
                    },
                    "score": 0.8123,
                    "score_components": components,
                    "generation_method": "association_rules",
                    "lift": 21.44,
                    "confidence": 0.71,
                    "rationale": "Bought together in 412 orders (lift 21.4).",
                },
                {
                    "bundle_id": "b2",
                    "bundle_type": "VOLUME",
                    "objective": "clear_slow_movers",
                    "products": [
                        product("84879", "Assorted Colour Bird Ornament", 1.69, quantity=3)
                    ],
                    "pricing": {
                        "currency": "GBP",
                        "list_price": 5.07,
                        "bundle_price": 5.07,
                        "discount_pct": 0,
                        "volume_tiers": [{"min_quantity": 3, "discount_pct": 15}],
                    },
                    "score": 0.5,
                    "score_components": components,
                    "generation_method": "volume",
                },
            ],
        }
    )


def test_a_bundle_prints_with_names_prices_discount_and_why():
    text = "\n".join(format_bundle(1, _bundle_set().bundles[0]))
    assert "FBT bundle for increase_aov" in text and "lift 21.4" in text
    assert "Green Regency Teacup And Saucer" in text and "£2.95" in text
    assert "list £5.90  ->  bundle £5.31  (-10%)" in text
    assert "why: Bought together in 412 orders" in text


def test_a_volume_bundle_shows_its_quantity_and_tiers_and_no_discount():
    text = "\n".join(format_bundle(2, _bundle_set().bundles[1]))
    assert "3 x Assorted Colour Bird Ornament" in text
    assert "(no discount)" in text and "buy 3+: -15%" in text
    assert "why:" not in text  # no rationale given: nothing invented


def test_the_set_header_names_its_size_sources_and_objectives():
    lines = format_bundle_set(_bundle_set())
    assert lines[0] == "2 bundles from 15,968 orders and 3,665 products, engine 412 ms"
    assert lines[1] == "objectives chosen: increase_aov, gift_box"


def test_performance_prints_each_bundle_by_name_with_its_counts():
    performance = StorePerformance.model_validate(
        {
            "store_id": "shop",
            "upload_id": "u1",
            "published_at": NOW.isoformat(),
            "orders_since_published": 200,
            "as_of": NOW.isoformat(),
            "bundles": [
                {
                    "bundle_id": "b1",
                    "product_ids": ["22697", "22699"],
                    "published_at": NOW.isoformat(),
                    "orders_whole": 9,
                    "orders_partial": 9,
                    "revenue_whole": 120.5,
                    "revenue_partial": 120.5,
                },
                {"bundle_id": "zz", "product_ids": ["1", "2"], "published_at": NOW.isoformat()},
                {
                    "bundle_id": "b2",
                    "product_ids": ["84879"],
                    "published_at": NOW.isoformat(),
                    "orders_whole": 20,
                    "orders_partial": 20,
                },
            ],
        }
    )
    lines = format_performance(performance, _bundle_set())
    assert lines[0].startswith("200 orders since the bundles were published (2026-12-03 08:00:00")
    assert "Green Regency Teacup And Saucer + Roses Regen…" in lines[2]
    assert "£120.50" in lines[2] and "(4.5% of orders)" in lines[2]
    assert "1 + 2" in lines[3]  # a bundle not in the set is named by its product ids
    assert "Assorted Colour Bird Ornament" in lines[4]
    assert "(10.0% of orders; one product: orders holding it)" in lines[4]
    assert "one product" not in lines[2]


def test_money_uses_the_symbol_when_known():
    assert money(1234.5, "GBP") == "£1,234.50"
    assert money(3, "SEK") == "3.00 SEK"
