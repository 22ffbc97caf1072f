"""Fuzzing every CSV format parser: random bytes and structure-aware mutations of the real files.

Nothing may escape a parser except ``IngestError`` (its documented "the whole file is unusable",
``LimitExceeded`` included); when it returns, every row is accounted for and no price is NaN or
infinite. Time per megabyte is bounded generously (speed is the benches' business, not this).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import math
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.catalog import parse_catalog
from ingest.columnar import read_order_lines
from ingest.errors import IngestError
from ingest.limits import Limits
from ingest.olist import build_olist_catalog, load_categories
from ingest.orders import read_orders
from ingest.uploads import check_upload_file, decompressed_prefix
from tests.shared_data import shared_data

DATA = shared_data()

PREFIX_BYTES = 16 * 1024
# Small limits so mutations reach them too; the real files' prefixes fit comfortably.
LIMITS = Limits(
    max_decompressed_bytes=4 * 1024 * 1024,
    max_rows=5_000,
    max_columns=200,
    max_field_bytes=64 * 1024,
    max_lines_per_order=500,
    max_catalog_products=5_000,
)
SECONDS_PER_MB = 30.0  # generous: a parse runs at several MB/s; this only catches blow-ups
FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)

SEEDS: dict[str, Path] = {
    "online_retail": DATA / "online_retail.csv.gz",
    "olist_items": DATA / "olist" / "olist_order_items_dataset.csv.gz",
    "olist_products": DATA / "olist" / "olist_products_dataset.csv.gz",
    "olist_sellers": DATA / "olist" / "olist_sellers_dataset.csv.gz",
    "olist_translation": DATA / "olist" / "product_category_name_translation.csv.gz",
    "shopify_orders": DATA / "shopify" / "orders_export.csv",
    "shopify_products": DATA / "shopify" / "products_export.csv",
    "shopify_apparel": DATA / "shopify" / "apparel.csv",
    "shopify_template": DATA / "shopify" / "product_template.csv",
    "groceries": DATA / "groceries.csv",
}
_prefixes: dict[str, bytes] = {}


def seed(name: str) -> bytes:
    """A bounded prefix of a real file (decompressed, cut after a full line)."""
    if name not in _prefixes:
        _prefixes[name] = decompressed_prefix(SEEDS[name], name, PREFIX_BYTES)
    return _prefixes[name]


def _catalog(data: bytes, fmt: str | None) -> None:
    result = parse_catalog(data, fmt, limits=LIMITS)
    assert result.report.accounted
    assert all(
        math.isfinite(p.price) and (p.cost is None or math.isfinite(p.cost))
        for p in result.products
    )


def _orders(data: bytes, fmt: str | None) -> None:
    events, report = read_orders(data, fmt, limits=LIMITS)
    assert report.accounted
    assert all(math.isfinite(line.price) for e in events for line in e.lines)


def _columnar(data: bytes, fmt: str | None) -> None:
    lines = read_order_lines(data, fmt, limits=LIMITS)
    assert lines.report.accounted
    assert bool(((lines.price >= 0) & (lines.price < math.inf)).all())


def _olist_catalog(data: bytes, _fmt: str | None) -> None:
    items = seed("olist_items")
    catalog = build_olist_catalog(data, items, None)
    assert all(math.isfinite(p.price) for p in catalog.products)
    build_olist_catalog(seed("olist_products"), data, data)
    load_categories(data, data)


def _upload_check(data: bytes, fmt: str | None) -> None:
    for kind in ("catalog", "orders"):
        with contextlib.suppress(IngestError):
            check_upload_file(data, kind, fmt, name="fuzz.csv", prefix_bytes=4096, limits=LIMITS)


PARSERS: dict[str, tuple[Callable[[bytes, str | None], None], tuple[str | None, ...]]] = {
    "catalog": (_catalog, (None, "generic", "shopify_products")),
    "orders": (_orders, (None, "online_retail", "olist", "shopify_orders", "generic")),
    "columnar": (_columnar, (None, "online_retail", "olist", "shopify_orders", "generic")),
    "olist_catalog": (_olist_catalog, (None,)),
    "upload_check": (_upload_check, (None,)),
}


def run_parser(name: str, data: bytes, fmt: str | None) -> None:
    parse, _ = PARSERS[name]
    started = time.perf_counter()
    with contextlib.suppress(IngestError):  # the answer for a file unusable as a whole
        parse(data, fmt)
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0 + SECONDS_PER_MB * len(data) / 1e6, (name, fmt, len(data), elapsed)


def _compress(data: bytes, how: str) -> bytes:
    if how == "gzip":
        return gzip.compress(data, 1)
    if how == "zip":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("f.csv", data)
        return buf.getvalue()
    return data


HOSTILE_CELLS = [
    b"NaN",
    b"inf",
    b"-inf",
    b"1e308",
    b"-1",
    b"0",
    b"",
    b'"',
    b'"unclosed',
    b"\x00",
    b"\xff\xfe",
    b'=HYPERLINK("http://x","y")',
    b"@SUM(1)",
    b"+1+1",
    b"\r",
    b"x" * 70_000,
    b",,,,,,",
    b"2024-13-45",
    b"99999999999999999999",
    b"\xef\xbb\xbf",
    b"1,000.5",
    b"-0",
]


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    """A real file's prefix with a few structure-aware edits: cells, lines, quotes, bytes."""
    name = draw(st.sampled_from(sorted(SEEDS)))
    lines = seed(name).split(b"\n")
    for _ in range(draw(st.integers(1, 6))):
        op = draw(
            st.sampled_from(
                ["cell", "cell", "dup_line", "drop_line", "swap", "bytes", "cut", "header"]
            )
        )
        i = draw(st.integers(0, max(0, len(lines) - 1)))
        if op == "cell" and lines:
            cells = lines[i].split(b",")
            j = draw(st.integers(0, len(cells) - 1))
            cells[j] = draw(st.sampled_from(HOSTILE_CELLS))
            lines[i] = b",".join(cells)
        elif op == "dup_line" and lines:
            lines[i:i] = [lines[i]] * draw(st.integers(1, 600))  # long orders, duplicate ids
        elif op == "drop_line" and lines:
            del lines[i]
        elif op == "swap" and len(lines) > 1:
            k = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[k] = lines[k], lines[i]
        elif op == "bytes" and lines:
            pos = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:pos] + draw(st.binary(min_size=1, max_size=16)) + lines[i][pos:]
        elif op == "cut":
            lines = lines[: i + 1]
        elif op == "header" and lines:
            extra = draw(st.integers(1, 400))
            lines[0] = lines[0] + b"," + b",".join(b"c%d" % k for k in range(extra))
    data = b"\n".join(lines)
    return name, _compress(data, draw(st.sampled_from(["plain", "plain", "gzip", "zip"])))


@pytest.mark.parametrize("parser", sorted(PARSERS))
@FUZZ
@given(data=st.binary(max_size=4096), fmt_index=st.integers(0, 4))
def test_random_bytes_never_escape(parser: str, data: bytes, fmt_index: int) -> None:
    formats = PARSERS[parser][1]
    run_parser(parser, data, formats[fmt_index % len(formats)])


@pytest.mark.parametrize("parser", sorted(PARSERS))
@FUZZ
@given(sample=mutated(), fmt_index=st.integers(0, 4))
def test_mutated_real_files_never_escape(
    parser: str, sample: tuple[str, bytes], fmt_index: int
) -> None:
    formats = PARSERS[parser][1]
    run_parser(parser, sample[1], formats[fmt_index % len(formats)])


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_unmutated_prefixes_parse(name: str) -> None:
    """The seeds themselves: every parser copes (the right one parses, the others refuse cleanly)."""
    for parser, (_, formats) in PARSERS.items():
        for fmt in formats:
            run_parser(parser, seed(name), fmt)
