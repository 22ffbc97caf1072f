"""Olist's split files joined into categories and a catalog.

Olist has no product names or catalog prices, so a product's price is the median of what it
sold for, its ``created_at`` the first shipping limit (first sale), and its partner the seller
that sold it most. Seller trust grows with order volume on a log scale, so the few very large
sellers do not squash everyone else to zero; it is a pure function of the data (deterministic).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime

from models.catalog import Partner, Product

from .cells import CellError, parse_datetime, parse_float, safe_text
from .report import IngestReport
from .source import CsvTable, Source, source_name

CURRENCY = "BRL"


def load_translation(source: Source) -> dict[str, str]:
    """Portuguese -> English category names (the file starts with a BOM; handled by the reader)."""
    report = IngestReport(file=source_name(source))
    with CsvTable(source, report) as table:
        cols = table.columns(
            {"pt": ("product_category_name",), "en": ("product_category_name_english",)},
            {},
            "olist",
        )
        return {
            row[cols["pt"]].strip(): row[cols["en"]].strip()
            for _, row in table.rows()
            if row[cols["en"]].strip()
        }


def load_categories(products: Source, translation: Source | None = None) -> dict[str, str]:
    """product_id -> category (English when translated; untranslated names kept as they are)."""
    english = load_translation(translation) if translation is not None else {}
    report = IngestReport(file=source_name(products))
    with CsvTable(products, report) as table:
        cols = table.columns(
            {"id": ("product_id",), "cat": ("product_category_name",)}, {}, "olist"
        )
        out: dict[str, str] = {}
        for _, row in table.rows():
            category = row[cols["cat"]].strip()
            if category:
                out[row[cols["id"]].strip()] = safe_text(english.get(category, category))[0]
        return out


def trust_score(orders: int, max_orders: int) -> float:
    """0.3 for a seller with one order, 1.0 for the busiest seller, log-scaled in between."""
    if max_orders <= 1:
        return 0.5
    return round(0.3 + 0.7 * math.log1p(max(orders, 1) - 1) / math.log1p(max_orders - 1), 4)


@dataclass
class OlistCatalog:
    products: list[Product]
    sold_counts: dict[str, int]  # product_id -> units sold (order item rows)
    report: IngestReport  # accounting of the products file
    items_report: IngestReport  # accounting of the order items file


def build_olist_catalog(
    products: Source,
    order_items: Source,
    sellers: Source | None = None,
    translation: Source | None = None,
) -> OlistCatalog:
    """Join products, order items, sellers and translation into Products plus sold counts."""
    items_report = IngestReport(file=source_name(order_items), format="olist")
    prices: dict[str, list[float]] = defaultdict(list)
    first_sale: dict[str, datetime] = {}
    product_sellers: dict[str, Counter] = defaultdict(Counter)
    seller_orders: dict[str, set[str]] = defaultdict(set)
    with CsvTable(order_items, items_report) as table:
        c = table.columns(
            {
                "order": ("order_id",),
                "product": ("product_id",),
                "seller": ("seller_id",),
                "price": ("price",),
                "date": ("shipping_limit_date",),
            },
            {},
            "olist",
        )
        for line, row in table.rows():
            product_id, seller_id = row[c["product"]].strip(), row[c["seller"]].strip()
            try:
                price = parse_float(row[c["price"]], "price")
                date = parse_datetime(row[c["date"]])
            except CellError as exc:
                items_report.bad(line, exc.code, str(exc))
                continue
            if not product_id or price < 0:
                items_report.bad(line, "bad_item", "empty product_id or negative price")
                continue
            prices[product_id].append(price)
            if product_id not in first_sale or date < first_sale[product_id]:
                first_sale[product_id] = date
            if seller_id:
                product_sellers[product_id][seller_id] += 1
                seller_orders[seller_id].add(row[c["order"]].strip())
            items_report.used_rows += 1
    busiest = max((len(v) for v in seller_orders.values()), default=1)
    places = _seller_places(sellers) if sellers is not None else {}
    english = load_translation(translation) if translation is not None else {}

    report = IngestReport(file=source_name(products), format="olist")
    out: list[Product] = []
    with CsvTable(products, report) as table:
        c = table.columns(
            {"id": ("product_id",), "cat": ("product_category_name",)},
            {
                "weight": ("product_weight_g",),
                "photos": ("product_photos_qty",),
                "length": ("product_length_cm",),
                "height": ("product_height_cm",),
                "width": ("product_width_cm",),
            },
            "olist",
        )
        for line, row in table.rows():
            product_id = row[c["id"]].strip()
            if not product_id:
                report.bad(line, "missing_product_id", "product_id is empty")
                continue
            if product_id not in prices:
                report.bad(line, "never_sold", "no order item gives this product a price")
                continue
            raw_category = row[c["cat"]].strip()
            category = safe_text(english.get(raw_category, raw_category))[0] or "uncategorized"
            top_seller: str | None = (
                min(product_sellers[product_id].items(), key=lambda kv: (-kv[1], kv[0]))[0]
                if product_sellers[product_id]
                else None
            )
            partner = None
            if top_seller:
                partner = Partner(
                    partner_id=top_seller,
                    name=places.get(top_seller, f"seller {top_seller[:8]}"),
                    trust_score=trust_score(len(seller_orders[top_seller]), busiest),
                )
            out.append(
                Product(
                    product_id=product_id,
                    title=f"{category.replace('_', ' ')} {product_id[:8]}",
                    category=category,
                    description=_describe(row, c),
                    price=round(statistics.median(prices[product_id]), 2),
                    created_at=first_sale[product_id],
                    currency=CURRENCY,
                    partner=partner,
                )
            )
            report.used_rows += 1
    report.events = len(out)
    sold = {pid: len(p) for pid, p in prices.items()}
    return OlistCatalog(out, sold, report, items_report)


def _seller_places(sellers: Source) -> dict[str, str]:
    report = IngestReport(file=source_name(sellers))
    with CsvTable(sellers, report) as table:
        c = table.columns(
            {"id": ("seller_id",)}, {"city": ("seller_city",), "state": ("seller_state",)}, "olist"
        )
        out = {}
        for _, row in table.rows():
            city = row[c["city"]].strip() if "city" in c else ""
            state = row[c["state"]].strip() if "state" in c else ""
            out[row[c["id"]].strip()] = safe_text(f"{city} ({state})" if state else city)[0]
        return out


def _describe(row: list[str], c: dict[str, int]) -> str:
    """Olist gives only physical facts; they still help text features tell products apart."""
    parts = []
    if row[c["weight"]].strip() if "weight" in c else "":
        parts.append(f"weight {row[c['weight']].strip()} g")
    dims = [
        row[c[k]].strip() for k in ("length", "height", "width") if k in c and row[c[k]].strip()
    ]
    if len(dims) == 3:
        parts.append("size " + " x ".join(dims) + " cm")
    if "photos" in c and row[c["photos"]].strip():
        parts.append(f"{row[c['photos']].strip()} photos")
    return ", ".join(parts)
