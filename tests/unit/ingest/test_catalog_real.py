"""Shopify product exports (classic and current columns) and the joined Olist catalog."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingest import build_olist_catalog, parse_catalog, trust_score


@pytest.mark.parametrize(
    ("name", "rows", "products", "attached", "handles"),
    [
        ("apparel.csv", 22, 22, 0, 20),
        ("jewelery.csv", 41, 23, 18, 20),
        ("home-and-garden.csv", 21, 21, 0, 20),
        ("products_export.csv", 21, 21, 0, 20),
        ("product_template.csv", 17, 16, 1, 3),
    ],
)
def test_shopify_files_every_row_accounted(data_dir, name, rows, products, attached, handles):
    result = parse_catalog(data_dir / "shopify" / name)
    report = result.report
    assert report.format == "shopify_products"
    assert (report.rows, len(result.products), report.attached_rows, report.bad_row_count) == (
        rows,
        products,
        attached,
        0,
    )
    assert report.accounted
    assert len(result.images) == handles
    assert len({p.product_id for p in result.products}) == products


def test_shopify_current_template_variants_costs_status(data_dir):
    result = parse_catalog(data_dir / "shopify" / "product_template.csv")
    by_id = {p.product_id: p for p in result.products}
    shirts = [p for p in result.products if p.product_id.startswith("SRT_COT_")]
    assert len(shirts) == 12
    green_s = by_id["SRT_COT_111"]
    assert green_s.title == "Example T-Shirt - Green / S"
    assert green_s.category == "Shirts"  # Type wins over the long taxonomy path
    assert green_s.tags == ["Made to Order", "Shirt Tag"]
    assert (
        green_s.description.startswith("This t-shirt is as simple as it gets.")
        and "<p>" not in green_s.description
    )
    assert green_s.partner is not None and green_s.partner.name == "Acme"
    # quantity 0 with no inventory tracker: Shopify does not count its stock, so it is not a limit
    assert (green_s.price, green_s.cost, green_s.inventory, green_s.status) == (
        25.0,
        None,
        None,
        "active",
    )
    jeans = by_id["PNT_DEN_285"]
    assert (jeans.price, jeans.cost, jeans.inventory, jeans.status) == (95.0, 50.0, 20, "draft")
    assert jeans.margin == pytest.approx((95 - 50) / 95)
    hat = by_id["HAT_GRY_275"]
    assert (hat.title, hat.cost, hat.status) == ("Example Beanie", 8.5, "archived")
    assert (
        len(result.images["example-pants"]) == 4
    )  # 3 variant images + the image-only continuation row


def test_shopify_classic_variants_without_sku(data_dir):
    result = parse_catalog(data_dir / "shopify" / "jewelery.csv")
    by_id = {p.product_id: p for p in result.products}
    # the sample's quantities (1 and 0) have no inventory tracker: Shopify does not count them
    assert by_id["chain-bracelet/blue"].inventory is None
    assert (
        by_id["chain-bracelet/black"].inventory is None and by_id["chain-bracelet/black"].in_stock
    )
    assert by_id["leather-anchor/silver"].price == 55.0
    assert by_id["boho-earrings"].title == "Boho Earrings"  # "Default Title" is not a variant name
    assert len(result.images["origami-crane-necklace"]) == 4
    garden = parse_catalog(data_dir / "shopify" / "products_export.csv")
    gloves = {
        p.product_id: p for p in garden.products if p.product_id.startswith("gardening-gloves")
    }
    assert {k: v.price for k, v in gloves.items()} == {
        "gardening-gloves/green": 9.99,
        "gardening-gloves/yellow": 15.99,
    }
    assert all(
        p.category == "Outdoor" and p.title.startswith("Gardening Gloves - ")
        for p in gloves.values()
    )


def test_olist_catalog_joined(data_dir):
    olist = data_dir / "olist"
    catalog = build_olist_catalog(
        olist / "olist_products_dataset.csv.gz",
        olist / "olist_order_items_dataset.csv.gz",
        olist / "olist_sellers_dataset.csv.gz",
        olist / "product_category_name_translation.csv.gz",
    )
    assert (
        len(catalog.products) == 32_951
        and catalog.report.accounted
        and catalog.items_report.accounted
    )
    assert sum(catalog.sold_counts.values()) == 112_650
    assert len(catalog.sold_counts) == 32_951
    categories = {p.category for p in catalog.products}
    assert "perfumery" in categories and "pc_gamer" in categories and "uncategorized" in categories
    assert sum(p.category == "uncategorized" for p in catalog.products) == 610
    first = {p.product_id: p for p in catalog.products}["1e9e8ef04dbcff4541ed26657ea517e5"]
    assert first.currency == "BRL" and first.category == "perfumery" and first.price == 10.91
    assert first.created_at == datetime(2018, 4, 30, 17, 33, 54, tzinfo=UTC)
    assert first.partner is not None and first.partner.name == "sao paulo (SP)"
    scores = [p.partner.trust_score for p in catalog.products if p.partner]
    assert min(scores) >= 0.3 and max(scores) == 1.0


def test_trust_score_is_monotonic_and_bounded():
    assert trust_score(1, 1000) == 0.3 and trust_score(1000, 1000) == 1.0
    assert trust_score(10, 1000) < trust_score(100, 1000)
    assert trust_score(5, 1) == 0.5


def test_shopify_stock_is_a_limit_only_when_tracked_and_sales_stop_at_zero() -> None:
    header = (
        "Handle,Title,Variant Price,Variant Inventory Tracker,Variant Inventory Policy,"
        "Variant Inventory Qty\n"
    )
    rows = "a,A,1.00,shopify,deny,3\nb,B,1.00,shopify,continue,0\nc,C,1.00,,deny,0\n"
    by_id = {p.product_id: p for p in parse_catalog((header + rows).encode()).products}
    assert (by_id["a"].inventory, by_id["b"].inventory, by_id["c"].inventory) == (3, None, None)
    legacy = "Handle,Title,Variant Price,Variant Inventory Qty\nd,D,1.00,0\n"
    assert [p.inventory for p in parse_catalog(legacy.encode()).products] == [0]
