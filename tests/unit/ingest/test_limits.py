"""Expansion limits: enforced while streaming, in the one reader every parser uses."""

from __future__ import annotations

import gzip
import io
import time
import zipfile

import pytest

from core.settings import Settings
from ingest.catalog import parse_catalog
from ingest.columnar import read_order_lines
from ingest.errors import IngestError
from ingest.limits import LimitExceeded, Limits
from ingest.orders import read_orders
from ingest.source import decompressed_size

CATALOG_HEADER = b"product_id,title,price\n"
ORDERS_HEADER = b"order_id,product_id,quantity,price,created_at\n"


def _bomb_gzip(expanded: int) -> bytes:
    """Valid CSV rows repeated until ``expanded`` bytes, gzipped (compresses ~1000:1)."""
    row = b"p1,a title,1.00\n"
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9) as gz:
        gz.write(CATALOG_HEADER)
        block = row * (1 << 16)
        for _ in range(expanded // len(block) + 1):
            gz.write(block)
    return buf.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_defaults_match_settings() -> None:
    assert Limits.from_settings(Settings()) == Limits()


def test_stall_must_outlast_the_upload_deadline() -> None:
    with pytest.raises(ValueError, match="stall_after_s"):
        Settings(upload_deadline_s=30, stall_after_s=10)


def test_gzip_bomb_stops_at_the_decompressed_limit_quickly() -> None:
    bomb = _bomb_gzip(64 * 1024 * 1024)
    assert len(bomb) < 1024 * 1024
    limits = Limits(max_decompressed_bytes=8 * 1024 * 1024)
    started = time.perf_counter()
    with pytest.raises(LimitExceeded) as info:
        decompressed_size(bomb, "bomb.csv.gz", limits)
    assert time.perf_counter() - started < 5
    assert info.value.limit == "max_decompressed_bytes" and info.value.value == 8 * 1024 * 1024
    assert info.value.http_status == 413
    assert "max_decompressed_bytes=8388608" in str(info.value)
    with pytest.raises(LimitExceeded, match="max_decompressed_bytes"):
        parse_catalog(bomb, limits=limits)


def test_zip_bomb_is_bounded_too_and_a_zip_member_parses() -> None:
    body = CATALOG_HEADER + b"p1,a title,1.00\n" * 1_000_000
    bomb = _zip({"catalog.csv": body})
    with pytest.raises(LimitExceeded, match="max_decompressed_bytes"):
        parse_catalog(bomb, limits=Limits(max_decompressed_bytes=1024 * 1024))
    ok = _zip({"catalog.csv": CATALOG_HEADER + b"p1,a,1\np2,b,2\n"})
    assert [p.product_id for p in parse_catalog(ok).products] == ["p1", "p2"]


def test_zip_with_several_members_is_refused() -> None:
    two = _zip({"a.csv": CATALOG_HEADER, "b.csv": CATALOG_HEADER})
    with pytest.raises(IngestError, match="exactly one CSV"):
        parse_catalog(two)


def test_row_limit() -> None:
    data = ORDERS_HEADER + b"".join(b"o%d,p1,1,2,2024-01-01\n" % i for i in range(11))
    with pytest.raises(LimitExceeded) as info:
        read_orders(data, limits=Limits(max_rows=10))
    assert info.value.limit == "max_rows"
    events, _ = read_orders(data, limits=Limits(max_rows=11))
    assert len(events) == 11


def test_column_limit_on_the_header() -> None:
    header = (
        ",".join(["product_id", "title", "price"] + [f"c{i}" for i in range(100)]).encode() + b"\n"
    )
    with pytest.raises(LimitExceeded) as info:
        parse_catalog(header + b"p1,t,1" + b"," * 100 + b"\n", limits=Limits(max_columns=50))
    assert info.value.limit == "max_columns" and info.value.http_status == 422


def test_a_million_column_header_is_refused_quickly() -> None:
    header = b",".join(b"c%d" % i for i in range(1_000_000)) + b"\n"
    started = time.perf_counter()
    with pytest.raises(LimitExceeded, match="max_columns"):
        parse_catalog(header + b"1,2,3\n")
    assert time.perf_counter() - started < 5


def test_field_limit_header_is_an_error_data_is_a_bad_row() -> None:
    limits = Limits(max_field_bytes=2048)
    with pytest.raises(LimitExceeded, match="max_field_bytes"):
        parse_catalog(b"product_id,title,price," + b"h" * 5000 + b"\n", limits=limits)
    result = parse_catalog(CATALOG_HEADER + b"p1," + b"t" * 5000 + b",1\np2,ok,2\n", limits=limits)
    assert [p.product_id for p in result.products] == ["p2"]
    assert [(b.line, b.reason.split(":")[0]) for b in result.report.bad_rows] == [
        (2, "field_too_large")
    ]


def test_lines_per_order_limit_in_both_order_readers() -> None:
    data = ORDERS_HEADER + b"".join(b"o1,p%d,1,2,2024-01-01\n" % i for i in range(6))
    limits = Limits(max_lines_per_order=5)
    for reader in (read_orders, read_order_lines):
        with pytest.raises(LimitExceeded) as info:
            reader(data, limits=limits)
        assert info.value.limit == "max_lines_per_order"
    assert read_order_lines(data, limits=Limits(max_lines_per_order=6)).n_lines == 6


def test_online_retail_lines_per_order_limit(data_dir) -> None:
    retail = (data_dir / "online_retail.csv.gz").read_bytes()
    with pytest.raises(LimitExceeded, match="max_lines_per_order"):
        read_order_lines(retail, limits=Limits(max_lines_per_order=500))


def test_catalog_product_limit() -> None:
    data = CATALOG_HEADER + b"".join(b"p%d,t,1\n" % i for i in range(4))
    with pytest.raises(LimitExceeded) as info:
        parse_catalog(data, limits=Limits(max_catalog_products=3))
    assert info.value.limit == "max_catalog_products" and info.value.http_status == 413
    assert len(parse_catalog(data, limits=Limits(max_catalog_products=4)).products) == 4


def test_real_files_fit_the_default_limits(data_dir) -> None:
    limits = Limits()
    for path in [
        data_dir / "online_retail.csv.gz",
        *sorted((data_dir / "olist").glob("*.csv.gz")),
        *sorted((data_dir / "shopify").glob("*.csv")),
    ]:
        assert decompressed_size(path, path.name, limits) < limits.max_decompressed_bytes


# --- hostile content: counted bad rows, never an exception or a NaN -----------------------------


def test_absurd_and_non_finite_prices_are_bad_rows_everywhere() -> None:
    result = parse_catalog(
        CATALOG_HEADER + b"p1,t,NaN\np2,t,inf\np3,t,1e308\np4,t,0\np5,t,-1e308\n"
    )
    assert [p.product_id for p in result.products] == ["p4"]
    assert [(b.line, b.reason.split(":")[0]) for b in result.report.bad_rows] == [
        (2, "bad_price"),
        (3, "bad_price"),
        (4, "bad_price"),
        (6, "bad_price"),
    ]
    orders = (
        ORDERS_HEADER
        + b"o1,p1,1,1e308,2024-01-01\no2,p1,1,nan,2024-01-01\no3,p1,2,1.5,2024-01-01\n"
    )
    events, report = read_orders(orders)
    assert [line.price for e in events for line in e.lines] == [1.5]
    assert report.bad_by_reason["bad_price"] == 2
    lines = read_order_lines(orders)
    assert lines.price.tolist() == [1.5] and lines.report.bad_by_reason["bad_price"] == 2
    retail = (
        b"InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        b"1,A,x,1,12/1/2010 8:26,1e308,1,UK\n2,A,x,1,12/1/2010 8:26,NaN,1,UK\n3,A,x,1,12/1/2010 8:26,2.5,1,UK\n"
    )
    for reader in (read_orders, read_order_lines):
        out = reader(retail)
        report = out[1] if isinstance(out, tuple) else out.report
        assert report.bad_by_reason["bad_price"] == 2 and report.accounted


def test_zero_and_negative_quantities_are_counted_skips() -> None:
    events, report = read_orders(
        ORDERS_HEADER + b"o1,p1,0,1,2024-01-01\no2,p1,-3,1,2024-01-01\no3,p1,1,1,2024-01-01\n"
    )
    assert [e.order_id for e in events] == ["o3"]
    assert report.skipped["non_positive_quantity"] == 2 and report.accounted


def test_nul_bytes_past_the_sniffed_prefix_are_bad_rows_with_their_line() -> None:
    pad = b"".join(b"q%d,t,1\n" % i for i in range(2000))  # beyond the 8 KiB binary sniff
    result = parse_catalog(CATALOG_HEADER + pad + b"p1,t\x00x,1\np2,t,2\n")
    assert [(b.line, b.reason.split(":")[0]) for b in result.report.bad_rows] == [
        (2002, "nul_byte")
    ]
    assert result.products[-1].product_id == "p2" and result.report.accounted
    with pytest.raises(IngestError, match="binary content"):
        parse_catalog(CATALOG_HEADER + b"p1,t\x00x,1\n")


def test_an_unbalanced_quote_is_one_bad_row_naming_where_it_runs() -> None:
    result = parse_catalog(CATALOG_HEADER + b'p0,ok,1\np1,"never closed,1\np2,t,2\np3,t,3\n')
    assert [p.product_id for p in result.products] == ["p0"]
    [bad] = result.report.bad_rows
    assert bad.line == 3 and bad.reason.startswith("unbalanced_quote") and "line 5" in bad.reason
    assert result.report.accounted


def test_invalid_utf8_is_replaced_and_flagged() -> None:
    result = parse_catalog(CATALOG_HEADER + b"p1,caf\xe9 \xff,1\n")
    assert result.products[0].title == "caf\ufffd \ufffd"
    assert result.report.warnings_by_reason["undecodable_bytes"] == 1


def test_formula_cells_stay_inert_text() -> None:
    result = parse_catalog(CATALOG_HEADER + b'p1,"=HYPERLINK(""http://evil"",""x"")",1\n')
    assert result.products[0].title == '\'=HYPERLINK("http://evil","x")'
    assert result.report.warnings_by_reason["formula_neutralised"] == 1


def test_duplicate_product_ids_are_bad_rows() -> None:
    result = parse_catalog(CATALOG_HEADER + b"p1,a,1\np1,b,2\n")
    assert [p.title for p in result.products] == ["a"]
    assert [(b.line, b.reason.split(":")[0]) for b in result.report.bad_rows] == [
        (3, "duplicate_product_id")
    ]
