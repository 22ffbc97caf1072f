"""Order-history (and catalog) loading for evaluation, through the project's ``ingest`` parsers.

Using the same parsers as uploads means evaluation sees exactly the baskets the engine sees in
production (same cancellation/return skips, same bad-row rules).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from models.catalog import Product
from models.orders import OrderEvent

FORMATS = ("auto", "online_retail", "olist", "shopify_orders", "generic")
CATALOG_FORMATS = ("auto", "generic", "shopify_products", "olist")


@dataclass
class LoadResult:
    orders: list[OrderEvent]
    catalog: list[Product] = field(default_factory=list)
    format: str = ""
    loader: str = "ingest"
    bad_rows: int = 0
    skipped_rows: int = 0
    parse_seconds: float = 0.0


def load_orders(
    path: str | Path,
    fmt: str = "auto",
    store_id: str = "eval",
    catalog: str | Path | None = None,
    catalog_format: str = "auto",
) -> LoadResult:
    """Parse an order history (and an optional catalog) into OrderEvents and Products."""
    from ingest import read_orders

    path = Path(path)
    started = time.perf_counter()
    orders, report = read_orders(path, None if fmt == "auto" else fmt, store_id=store_id)
    result = LoadResult(
        orders,
        format=report.format or fmt,
        bad_rows=report.bad_row_count,
        skipped_rows=report.skipped_rows,
    )
    if catalog is not None:
        result.catalog = load_catalog(Path(catalog), catalog_format, orders_path=path)
    result.parse_seconds = time.perf_counter() - started
    return result


def _is_olist_products(path: Path) -> bool:
    from ingest.source import open_text

    with open_text(path, path.name) as fh:
        header = fh.readline()
    return "product_category_name" in header and "product_id" in header


def load_catalog(
    path: Path, fmt: str = "auto", *, orders_path: Path | None = None
) -> list[Product]:
    """Generic / Shopify catalogs via ``parse_catalog``; the Olist products file via the Olist join.

    Olist products carry no price, so the join needs the order items (the orders file) and uses
    the sellers and category-translation files when they sit beside the products file.
    """
    from ingest import build_olist_catalog, parse_catalog

    if fmt == "olist" or (fmt == "auto" and _is_olist_products(path)):
        if orders_path is None:
            raise ValueError("the Olist catalog needs the order items file for prices")
        folder = path.parent
        sellers = folder / "olist_sellers_dataset.csv.gz"
        translation = folder / "product_category_name_translation.csv.gz"
        return build_olist_catalog(
            path,
            orders_path,
            sellers if sellers.exists() else None,
            translation if translation.exists() else None,
        ).products
    return parse_catalog(path, None if fmt == "auto" else fmt).products
