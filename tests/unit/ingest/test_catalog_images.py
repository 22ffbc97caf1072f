"""Product pictures: Shopify's Image Src (and the generic image_url column) -> Product.image_url
-> BundleProduct.image_url, with unsafe or oversized addresses dropped with a warning."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bundling.engine import generate_bundle_set
from ingest import parse_catalog, read_orders
from models.bundles import BundleProduct
from models.catalog import MAX_IMAGE_URL, Product, image_url_problem

GOOD = "https://cdn.shopify.com/s/files/1/0559/products/lamp.jpg?v=1623104890"


@pytest.mark.parametrize(
    "url",
    [GOOD, "http://example.com/a.png", "HTTPS://Example.com:8443/a%20b.png"],
)
def test_http_and_https_addresses_are_image_urls(url):
    assert image_url_problem(url) is None
    assert Product(product_id="p", price=1, image_url=url).image_url == url


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("javascript:alert(1)", "http"),
        ("data:image/png;base64,AAAA", "http"),
        ("//cdn.example/a.png", "http"),
        ("https:///a.png", "no host"),
        ("https://user:pw@example.com/a.png", "user name"),
        ('https://example.com/a.png" onerror="x', "quote"),
        ("https://example.com/<b>", "angle"),
        ("https://example.com/a b.png", "space"),
        ("https://example.com/a\x00.png", "control"),
        ("https://example.com:99999999/a.png", "not a URL"),
        ("https://example.com/" + "a" * MAX_IMAGE_URL, "at most"),
    ],
)
def test_unsafe_or_oversized_addresses_are_refused(url, problem):
    assert problem in (image_url_problem(url) or ""), image_url_problem(url)
    with pytest.raises(ValidationError):
        Product(product_id="p", price=1, image_url=url)
    with pytest.raises(ValidationError):
        BundleProduct(product_id="p", unit_price=1, image_url=url)


def test_shopify_image_src_becomes_the_product_picture(data_dir):
    result = parse_catalog(data_dir / "shopify" / "products_export.csv")
    by_id = {p.product_id: p for p in result.products}
    lamp = by_id["floor-lamp"]
    assert lamp.image_url is not None and lamp.image_url.startswith("https://cdn.shopify.com/")
    assert lamp.image_url == result.images["floor-lamp"][0]
    assert all(p.image_url for p in result.products)
    # variants without their own image take their handle's first one
    gloves = [p for p in result.products if p.product_id.startswith("gardening-gloves/")]
    assert len(gloves) == 2 and all(g.image_url for g in gloves)
    assert result.report.bad_row_count == 0


def test_variant_image_wins_and_bad_addresses_are_dropped_with_a_warning():
    csv_text = (
        "Handle,Title,Variant Price,Option1 Value,Image Src,Variant Image\n"
        f"tee,Tee,10,S,{GOOD},https://cdn.example/tee-s.png\n"
        "tee,,12,M,,\n"
        "cap,Cap,5,Default Title,javascript:alert(1),\n"
        'mug,Mug,7,Default Title,"https://x.example/a.png"" onerror=""alert(1)",\n'
    )
    result = parse_catalog(csv_text.encode(), "shopify_products", name="t.csv")
    by_id = {p.product_id: p for p in result.products}
    assert by_id["tee/s"].image_url == "https://cdn.example/tee-s.png"
    assert by_id["tee/m"].image_url == GOOD
    assert by_id["cap"].image_url is None and by_id["mug"].image_url is None
    assert result.report.warnings_by_reason["invalid_image_url"] == 2
    assert result.report.bad_row_count == 0 and len(result.products) == 4


def test_generic_image_url_column():
    csv_text = (
        f"product_id,title,price,image_url\na,A,1,{GOOD}\nb,B,2,\nc,C,3,ftp://example.com/c.png\n"
    )
    result = parse_catalog(csv_text.encode(), "generic", name="g.csv")
    assert [p.image_url for p in result.products] == [GOOD, None, None]
    assert result.report.warnings_by_reason["invalid_image_url"] == 1


def test_the_engine_carries_the_picture_into_each_bundle_product(data_dir):
    catalog = parse_catalog(data_dir / "shopify" / "products_export.csv").products
    orders, _ = read_orders(data_dir / "shopify" / "orders_export.csv", "shopify_orders")
    bs, _ = generate_bundle_set("u", "s", catalog, orders)
    pictures = {p.product_id: p.image_url for p in catalog}
    products = [p for b in bs.bundles for p in b.products]
    assert products
    assert all(p.image_url == pictures[p.product_id] for p in products)
    assert any(p.image_url for p in products)
