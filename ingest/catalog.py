"""Catalog CSVs -> ``Product``s: the generic CSV and Shopify product exports (classic and current).

Generic catalog CSV (header names are case-insensitive; only the first three are required)::

    product_id, title, price [, category | type, tags, description, cost, inventory, created_at,
                              rating, partner_id, partner_name, status, subscription, currency,
                              image_url]

``tags`` are separated by commas, ``|`` or ``;``. Empty optional cells mean unknown.
Shopify exports: one row per variant, product-level fields on the handle's first row only,
and rows with nothing but an image attach to their handle (counted as ``attached_rows``).
A product's picture is its variant's image, else its row's Image Src, else the first image of its
handle so far; an address that is not absolute http(s) (or is too long) is dropped with an
``invalid_image_url`` warning, and the product is kept.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from models.catalog import Partner, Product, image_url_problem

from .cells import (
    FORMULA_START,
    CellError,
    parse_datetime,
    parse_float,
    parse_int,
    safe_text,
    slug,
    strip_html,
    truthy,
)
from .collector import collector_paused
from .errors import IngestError
from .limits import LimitExceeded, Limits
from .report import IngestReport
from .source import CsvTable, Source, detect, source_name

CATALOG_FORMATS = ("generic", "shopify_products")
SIGNATURES: dict[str, tuple[str, ...]] = {
    "shopify_products": ("Handle", "Title", "Variant Price"),
    "generic": ("product_id", "title", "price"),
}
_TAG_SPLIT = re.compile(r"[,|;]")

_GENERIC_REQUIRED = {"product_id": ("product_id",), "title": ("title",), "price": ("price",)}
_GENERIC_OPTIONAL = {
    "category": ("category", "type"),
    "tags": ("tags",),
    "description": ("description",),
    "cost": ("cost",),
    "inventory": ("inventory",),
    "created_at": ("created_at",),
    "rating": ("rating",),
    "partner_id": ("partner_id",),
    "partner_name": ("partner_name",),
    "status": ("status",),
    "subscription": ("subscription",),
    "currency": ("currency",),
    "image_url": ("image_url", "image"),
}
_SHOPIFY_REQUIRED = {"handle": ("Handle",), "title": ("Title",), "price": ("Variant Price",)}
_SHOPIFY_OPTIONAL = {
    "body": ("Body (HTML)", "Description"),
    "vendor": ("Vendor",),
    "type": ("Type",),
    "product_category": ("Product Category", "Standard Product Type", "Custom Product Type"),
    "tags": ("Tags",),
    "published": ("Published",),
    "status": ("Status",),
    "option1": ("Option1 Value",),
    "option2": ("Option2 Value",),
    "option3": ("Option3 Value",),
    "sku": ("Variant SKU",),
    "inventory": ("Variant Inventory Qty",),
    "inventory_tracker": ("Variant Inventory Tracker",),
    "inventory_policy": ("Variant Inventory Policy",),
    "cost": ("Cost per item",),
    "image": ("Image Src",),
    "variant_image": ("Variant Image",),
    "gift_card": ("Gift Card",),
}


@dataclass
class CatalogResult:
    products: list[Product]
    report: IngestReport
    images: dict[str, list[str]] = field(default_factory=dict)  # Shopify handle -> image URLs


@collector_paused()
def parse_catalog(
    source: Source,
    fmt: str | None = None,
    *,
    name: str | None = None,
    currency: str = "USD",
    limits: Limits | None = None,
) -> CatalogResult:
    """Parse a catalog CSV. Raises IngestError only when the file as a whole is unusable
    (``LimitExceeded`` past an expansion limit). Runs with the cyclic GC paused: the products
    it builds survive, and each collection they set off would walk all of them again."""
    report = IngestReport(file=source_name(source, name))
    started = time.perf_counter()
    with CsvTable(source, report, limits) as table:
        if fmt is None:
            fmt = detect(table.header, SIGNATURES, report.file, "catalog")
        report.format = fmt
        if fmt == "generic":
            cols = table.columns(_GENERIC_REQUIRED, _GENERIC_OPTIONAL, fmt)
            result = CatalogResult([], report)
            result.products = _bounded(_generic(table, cols, report, currency), table)
        elif fmt == "shopify_products":
            cols = table.columns(_SHOPIFY_REQUIRED, _SHOPIFY_OPTIONAL, fmt)
            result = CatalogResult([], report)
            result.products = _bounded(
                _shopify(table, cols, report, currency, result.images), table
            )
        else:
            raise IngestError(
                f"unknown catalog format {fmt!r} (one of {', '.join(CATALOG_FORMATS)})",
                file=report.file,
            )
    report.parse_ms = (time.perf_counter() - started) * 1000
    report.events = len(result.products)
    return result


def _image_url(value: str, line: int, report: IngestReport) -> str | None:
    """``value`` when it is an image address a page may load, else None with a warning."""
    if not value:
        return None
    problem = image_url_problem(value)
    if problem:
        report.warn(line, "invalid_image_url", f"image {value[:60]!r} {problem}")
        return None
    return value


def _bounded(products: Iterator[Product], table: CsvTable) -> list[Product]:
    """Collect products, refusing a catalog of more than ``max_catalog_products``."""
    limit = table.limits.max_catalog_products
    out: list[Product] = []
    append = out.append
    for product in products:
        append(product)
        if len(out) > limit:
            raise LimitExceeded(
                "max_catalog_products", limit, f"more than {limit} products", file=table.report.file
            )
    return out


class _Row:
    """Field access for one row with formula neutralisation and bad-cell errors."""

    __slots__ = ("cols", "line", "report", "row")

    def __init__(
        self, row: list[str], cols: dict[str, int], line: int, report: IngestReport
    ) -> None:
        self.row, self.cols, self.line, self.report = row, cols, line, report

    def raw(self, key: str) -> str:
        idx = self.cols.get(key)
        return self.row[idx].strip() if idx is not None else ""

    def text(self, key: str) -> str:
        value, was_formula = safe_text(self.raw(key))
        if was_formula:
            self.report.warn(
                self.line,
                "formula_neutralised",
                f"{key} {value[1:41]!r} starts like a spreadsheet formula",
            )
        return value

    def number(self, key: str, parse: Callable[[str, str], Any]) -> Any:
        value = self.raw(key)
        return parse(value, key) if value else None


def _product(r: _Row, data: dict[str, Any]) -> Product | None:
    return _validated(r.line, r.report, data)


def _validated(line: int, report: IngestReport, data: dict[str, Any]) -> Product | None:
    """Validate once; any remaining constraint (lengths, ranges) becomes a bad row with its line."""
    try:
        return Product.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        report.bad(line, "invalid_product", f"{'.'.join(map(str, err['loc']))}: {err['msg']}")
        return None


def _money(r: _Row, key: str, required: bool) -> float | None:
    return _money_cell(r.raw(key), key, required)


def _money_cell(value: str, key: str, required: bool) -> float | None:
    """``_money`` of an already stripped cell."""
    if not value:
        if required:
            raise CellError(f"missing_{key}", f"{key} is empty")
        return None
    number = parse_float(value, key)
    if number < 0:
        raise CellError(f"negative_{key}", f"{key} {number} is negative")
    return number


def _generic(
    table: CsvTable, cols: dict[str, int], report: IngestReport, currency: str
) -> Iterator[Product]:
    """Same checks, calls and order of warnings/bad rows as reading each cell through ``_Row``;
    the row's cells are stripped once and read by index (an absent column reads "")."""
    first_line: dict[str, int] = {}
    absent = table.width  # index of the "" appended to every row's stripped cells

    def at(key: str) -> int:
        idx = cols.get(key)
        return idx if idx is not None else absent

    i_id, i_title, i_cat, i_tags, i_desc = (
        at("product_id"),
        at("title"),
        at("category"),
        at("tags"),
        at("description"),
    )
    i_price, i_cost, i_inv, i_created, i_rating = (
        at("price"),
        at("cost"),
        at("inventory"),
        at("created_at"),
        at("rating"),
    )
    i_pid, i_pname, i_status, i_sub, i_cur, i_img = (
        at("partner_id"),
        at("partner_name"),
        at("status"),
        at("subscription"),
        at("currency"),
        at("image_url"),
    )
    warn, tag_split = report.warn, _TAG_SPLIT.split

    def text(value: str, key: str, line: int) -> str:  # _Row.text on a stripped cell
        if value and value[0] in FORMULA_START:
            value, was_formula = safe_text(value)
            if was_formula:
                warn(
                    line,
                    "formula_neutralised",
                    f"{key} {value[1:41]!r} starts like a spreadsheet formula",
                )
        return value

    # the per-row work below inlines the cheap cases of the helpers above: a cell that cannot
    # be a formula skips ``text``, an empty optional cell its parser, and the product goes
    # straight to the model's validator (what ``Product.model_validate`` calls)
    formula, strip = FORMULA_START, str.strip
    validate = Product.__pydantic_validator__.validate_python
    currencies = _Currencies()
    for line, row in table.rows():
        cells = [*map(strip, row), ""]
        product_id = cells[i_id]
        if product_id and product_id[0] in formula:
            product_id = text(product_id, "product_id", line)
        if not product_id:
            report.bad(line, "missing_product_id", "product_id is empty")
            continue
        if product_id in first_line:
            report.bad(
                line,
                "duplicate_product_id",
                f"{product_id!r} already defined on line {first_line[product_id]}",
            )
            continue
        try:
            price = _money_cell(cells[i_price], "price", True)
            value = cells[i_cost]
            cost = _money_cell(value, "cost", False) if value else None
            value = cells[i_inv]
            inventory = parse_int(value, "inventory") if value else None
            value = cells[i_rating]
            rating = parse_float(value, "rating") if value else None
            created = cells[i_created]
            created_at = parse_datetime(created) if created else None
        except CellError as exc:
            report.bad(line, exc.code, str(exc))
            continue
        partner_id, partner_name = cells[i_pid], cells[i_pname]
        if partner_id and partner_id[0] in formula:
            partner_id = text(partner_id, "partner_id", line)
        if partner_name and partner_name[0] in formula:
            partner_name = text(partner_name, "partner_name", line)
        tags = cells[i_tags]
        title = cells[i_title]
        if title and title[0] in formula:
            title = text(title, "title", line)
        category = cells[i_cat]
        if category and category[0] in formula:
            category = text(category, "category", line)
        desc = cells[i_desc]
        if desc and desc[0] in formula:
            desc = text(desc, "description", line)
        subscription, image = cells[i_sub], cells[i_img]
        title = title[:500]
        category = (category or "uncategorized")[:200]
        tag_list = (
            [t for t in (safe_text(x.strip())[0] for x in tag_split(tags)) if t][:100]
            if tags
            else []
        )
        description = strip_html(desc)[:20_000] if desc else ""
        row_currency = cells[i_cur].upper() or currency
        status = (cells[i_status].lower() or "active")[:32]
        is_subscription = truthy(subscription) if subscription else False
        image_url = _image_url(image, line, report) if image else None
        # every field in the model's order, as the validator stores them
        values: dict[str, Any] = {
            "product_id": product_id,
            "title": title,
            "category": category,
            "tags": tag_list,
            "description": description,
            "price": price,
            "cost": cost,
            "inventory": inventory,
            "created_at": created_at,
            "currency": row_currency,
            "rating": rating,
            "partner": None,
            "sponsorship": None,
            "status": status,
            "subscription": is_subscription,
            "image_url": image_url,
        }
        if (
            not (partner_id or partner_name)
            and image_url is None
            and created_at is None
            and len(product_id) <= MAX_ID
            and (rating is None or 0.0 <= rating <= 5.0)
            and currencies[row_currency]
        ):
            # every constraint of the model already holds (see ``_valid_as_is``)
            product = _valid_as_is(values)
        else:
            # a row sets neither field unless it names a partner (the fields set stay the same)
            del values["partner"], values["sponsorship"]
            if partner_id or partner_name:
                values["partner"] = {
                    "partner_id": partner_id or slug(partner_name) or partner_name,
                    "name": partner_name,
                }
            try:
                product = validate(values)
            except ValidationError as exc:
                err = exc.errors()[0]
                report.bad(
                    line, "invalid_product", f"{'.'.join(map(str, err['loc']))}: {err['msg']}"
                )
                continue
        first_line[product_id] = line
        report.used_rows += 1
        yield product


# The longest product id the model takes (``models.common.Id``).
MAX_ID = 200
_CURRENCY = re.compile(r"[A-Z]{3}")
# The fields a generic row sets: all but two, left at their defaults.
_ROW_FIELDS = frozenset(Product.model_fields) - {"partner", "sponsorship"}
# ``_valid_as_is`` builds instances the way ``BaseModel.model_construct`` does; that holds while
# the model runs no code after validation and keeps no private or extra attributes.
assert not Product.__private_attributes__ and Product.__pydantic_post_init__ is None
assert Product.model_config.get("extra") == "ignore"


class _Currencies(dict[str, bool]):
    """Currency code -> whether the model's pattern (three capital ASCII letters) takes it."""

    def __missing__(self, code: str) -> bool:
        ok = self[code] = _CURRENCY.fullmatch(code) is not None
        return ok


def _valid_as_is(values: dict[str, Any]) -> Product:
    """The ``Product`` that validating a generic row gives, built without running the validator
    (~0.7 us of a row's ~7 instead of ~2), from every field's value in the model's order.

    Only for values every constraint of the model already holds for, which ``_generic``
    checks or guarantees: a non-empty id of at most ``MAX_ID`` characters, stripped by
    ``str.strip`` (which removes every character the validator's strip would); title,
    category, description, tags and status cut to their maximum lengths; price and cost
    finite, >= 0 and <= 1e9 (``_money_cell``); an ``int`` inventory; a rating in [0, 5]; a
    currency matching the pattern; text decoded from UTF-8 (no lone surrogate); no creation
    time (the validator may re-create a datetime), partner or image. Built as
    ``BaseModel.model_construct`` builds, with the fields a row sets as the fields set: the
    validator's instance, field for field (``tests/unit/ingest/test_catalog_valid_as_is.py``)."""
    product = _new(Product)
    _set(product, "__dict__", values)
    _set(product, "__pydantic_fields_set__", set(_ROW_FIELDS))
    _set(product, "__pydantic_extra__", None)
    _set(product, "__pydantic_private__", None)
    return product


_new, _set = object.__new__, object.__setattr__


def _shopify(
    table: CsvTable,
    cols: dict[str, int],
    report: IngestReport,
    currency: str,
    images: dict[str, list[str]],
) -> Iterator[Product]:
    parents: dict[str, dict[str, Any]] = {}  # handle -> product-level fields from its first row
    ids: dict[str, int] = {}
    for line, row in table.rows():
        r = _Row(row, cols, line, report)
        handle = r.text("handle")
        if not handle:
            report.bad(line, "missing_handle", "Handle is empty")
            continue
        image = r.raw("image")
        parent = parents.get(handle)
        if parent is None:
            if not r.raw("title"):
                report.bad(line, "orphan_variant", f"first row of handle {handle!r} has no Title")
                continue
            parent = parents[handle] = _shopify_parent(r)
        options = [v for v in (r.raw("option1"), r.raw("option2"), r.raw("option3")) if v]
        if not options and not r.raw("price") and not r.raw("sku"):
            if image:  # image continuation row: belongs to the handle, is not a product
                images.setdefault(handle, []).append(image)
                report.attached_rows += 1
            else:
                report.bad(
                    line,
                    "empty_variant",
                    f"row of handle {handle!r} has neither a variant nor an image",
                )
            continue
        if image:
            images.setdefault(handle, []).append(image)
        picture = r.raw("variant_image") or image or next(iter(images.get(handle, ())), "")
        try:
            price = _money(r, "price", True)
            cost = _money(r, "cost", False)
            inventory = r.number("inventory", parse_int)
        except CellError as exc:
            report.bad(line, exc.code, str(exc))
            continue
        if not _stock_limits_sales(r):
            inventory = None
        real_options = [o for o in options if o != "Default Title"]
        sku = r.text("sku")
        product_id = sku or "/".join([handle, *(slug(o) or o for o in real_options)])
        if product_id in ids:
            report.bad(
                line,
                "duplicate_product_id",
                f"{product_id!r} already defined on line {ids[product_id]}",
            )
            continue
        title = parent["title"] + (
            " - " + " / ".join(safe_text(o)[0] for o in real_options) if real_options else ""
        )
        data = {
            **parent,
            "product_id": product_id,
            "title": title[:500],
            "price": price,
            "cost": cost,
            "inventory": inventory,
            "currency": currency,
            "image_url": _image_url(picture, line, report),
        }
        product = _product(r, data)
        if product is not None:
            ids[product_id] = line
            report.used_rows += 1
            yield product


def _stock_limits_sales(r: _Row) -> bool:
    """Whether the quantity is a real limit: Shopify counts stock only for a variant with an
    inventory tracker, and keeps selling past zero when the policy is "continue". Exports
    without the tracker column keep their quantity."""
    if "inventory_tracker" in r.cols and not r.raw("inventory_tracker"):
        return False
    return r.raw("inventory_policy").lower() != "continue"


def _shopify_parent(r: _Row) -> dict[str, Any]:
    """Product-level fields; ``Type`` is the merchant's own short category, else the taxonomy leaf."""
    category = (
        r.text("type") or r.text("product_category").split(">")[-1].strip() or "uncategorized"
    )
    status = r.raw("status").lower()
    if not status:
        published = r.raw("published").lower()
        status = "draft" if published in {"false", "no", "0"} else "active"
    vendor = r.text("vendor")
    parent: dict[str, Any] = {
        "title": r.text("title"),
        "category": category[:200],
        "tags": [t for t in (safe_text(x.strip())[0] for x in r.raw("tags").split(",")) if t][:100],
        "description": strip_html(r.text("body"))[:20_000],
        "status": status[:32],
    }
    if vendor:
        parent["partner"] = Partner(partner_id=slug(vendor) or vendor, name=vendor)
    return parent
