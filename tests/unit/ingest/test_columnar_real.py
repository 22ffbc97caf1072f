"""``read_order_lines`` on the real files in ../shared/data: the same events and the same row
accounting as the row parser ``read_orders``, plus the basket matrix the engine mines."""

from __future__ import annotations

import csv
import gzip
import io

import numpy as np
import pytest

from bundling.mining import BasketMatrix
from ingest import load_categories, read_orders
from ingest.columnar import OrderLines, read_order_lines


def report_fields(r) -> dict:
    """Everything an IngestReport records except timing."""
    return {
        "file": r.file,
        "format": r.format,
        "rows": r.rows,
        "used_rows": r.used_rows,
        "attached_rows": r.attached_rows,
        "blank_lines": r.blank_lines,
        "skipped": dict(r.skipped),
        "skipped_orders": dict(r.skipped_orders),
        "bad_rows": [(b.file, b.line, b.reason) for b in r.bad_rows],
        "bad_by_reason": dict(r.bad_by_reason),
        "warnings": [(w.file, w.line, w.reason) for w in r.warnings],
        "warnings_by_reason": dict(r.warnings_by_reason),
        "events": r.events,
        "split_orders": r.split_orders,
        "accounted": r.accounted,
    }


def assert_same(source, fmt=None, **kw) -> OrderLines:
    """Columnar == row parser: events field by field (ids, lines, quantities, prices, titles,
    categories, created_at with its offset, currency, customer) and the full report."""
    events, report = read_orders(source, fmt, **kw)
    lines = read_order_lines(source, fmt, **kw)
    assert report_fields(lines.report) == report_fields(report)
    rebuilt = lines.to_order_events()
    assert len(rebuilt) == len(events) == lines.n_orders == report.events
    for a, b in zip(rebuilt, events):
        assert a == b, (a.order_id, b.order_id)
        assert a.created_at.utcoffset() == b.created_at.utcoffset()
    check_arrays(lines, events)
    return lines


def check_arrays(lines: OrderLines, events) -> None:
    n = lines.n_lines
    assert n == sum(len(e.lines) for e in events)
    assert lines.line_order.dtype == np.int32 and lines.line_product.dtype == np.int32
    assert lines.quantity.dtype == np.int32 and lines.price.dtype == np.float64
    assert lines.order_created_at.dtype == np.dtype("datetime64[s]")
    assert (
        lines.line_order.shape
        == lines.line_product.shape
        == lines.quantity.shape
        == lines.price.shape
        == (n,)
    )
    assert np.all(np.diff(lines.line_order) >= 0)
    assert list(lines.order_ids) == [e.order_id for e in events]
    expect_ts = np.array([int(e.created_at.timestamp()) for e in events], dtype="datetime64[s]")
    assert np.array_equal(lines.order_created_at, expect_ts)
    assert list(lines.product_ids[lines.line_product]) == [
        ln.product_id for e in events for ln in e.lines
    ]
    assert lines.quantity.tolist() == [ln.quantity for e in events for ln in e.lines]
    assert lines.price.tolist() == [ln.price for e in events for ln in e.lines]
    assert len(set(lines.product_ids.tolist())) == lines.n_products  # unique
    before, offsets = lines.line_product.copy(), lines.line_offsets.copy()
    # basket matrix: one row per order, row sums = distinct products of the order
    X = lines.baskets()
    assert X.shape == (lines.n_orders, lines.n_products) and X.dtype == bool
    assert np.asarray(X.sum(axis=1)).ravel().tolist() == [
        len({ln.product_id for ln in e.lines}) for e in events
    ]
    bm = BasketMatrix.from_order_lines(lines)
    assert (
        bm.X.dtype == np.int32
        and bm.n_baskets == lines.n_orders
        and list(bm.items) == list(lines.product_ids)
    )
    assert (X.astype(np.int32) != bm.X).nnz == 0 and bm.X.nnz == X.nnz
    assert np.array_equal(lines.line_product, before) and np.array_equal(
        lines.line_offsets, offsets
    )  # untouched


@pytest.fixture(scope="module")
def online_retail(data_dir):
    return assert_same(data_dir / "online_retail.csv.gz", store_id="uk-gifts")


@pytest.mark.slow
def test_online_retail_equals_row_parser(online_retail):
    lines = online_retail
    assert lines.reader == "pyarrow"  # the file is plain: no fallback to the csv module
    assert lines.report.rows == 541_909 and lines.report.used_rows == lines.n_lines == 530_103
    assert lines.n_orders == 19_960 and lines.report.split_orders == 1
    assert lines.currency == "GBP" and lines.store_id == "uk-gifts"
    parts = [i for i, o in enumerate(lines.order_ids) if o.startswith("573585#")]
    assert np.diff(lines.line_offsets)[parts].tolist() == [1000, 114]


def test_online_retail_product_text_and_basket_matrix_vs_from_pairs(online_retail, data_dir):
    lines = online_retail
    # last non-empty description per StockCode among used rows, in file order
    last = {}
    with gzip.open(data_dir / "online_retail.csv.gz", "rt", encoding="utf-8-sig", newline="") as f:
        for r in csv.DictReader(f):
            if (
                r["InvoiceNo"][:1] not in "CcAa"
                and int(r["Quantity"]) > 0
                and float(r["UnitPrice"]) > 0
                and r["Description"].strip()
            ):
                last[r["StockCode"].strip()] = r["Description"].strip()
    got = dict(zip(lines.product_ids.tolist(), lines.product_titles.tolist()))
    assert {k: v for k, v in got.items() if v is not None} == last
    assert all(c is None for c in lines.product_categories)

    ref = BasketMatrix.from_pairs(
        lines.order_ids[lines.line_order], lines.product_ids[lines.line_product]
    )
    ours = BasketMatrix.from_order_lines(lines)
    # same matrix up to row/column order
    col = {p: j for j, p in enumerate(ours.items.tolist())}
    perm = np.array([col[p] for p in ref.items.tolist()])
    rows = np.argsort(lines.order_ids.astype(str), kind="stable")
    assert (ours.X[rows][:, perm] != ref.X).nnz == 0


@pytest.mark.slow
def test_olist_equals_row_parser_with_categories(data_dir):
    olist = data_dir / "olist"
    cats = load_categories(
        olist / "olist_products_dataset.csv.gz", olist / "product_category_name_translation.csv.gz"
    )
    lines = assert_same(olist / "olist_order_items_dataset.csv.gz", categories=cats)
    assert (
        lines.n_orders == 98_666
        and int(lines.quantity.sum()) == 112_650
        and lines.currency == "BRL"
    )
    got = dict(zip(lines.product_ids.tolist(), lines.product_categories.tolist()))
    assert all(got[p] == cats.get(p) for p in got)
    assert got["1e9e8ef04dbcff4541ed26657ea517e5"] == "perfumery"


def test_shopify_orders_equals_row_parser(data_dir):
    lines = assert_same(data_dir / "shopify" / "orders_export.csv", store_id="snow")
    assert lines.n_orders == 19 and lines.n_lines == 40 and lines.currency == "EUR"
    assert lines.order_customer.tolist().count(None) >= 1


def _generic_from_online_retail(data_dir, n_rows: int = 6000) -> str:
    """A generic orders CSV made of real Online Retail rows, with bad rows mixed in."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(
        [
            "order_id",
            "product_id",
            "quantity",
            "price",
            "created_at",
            "category",
            "title",
            "customer_id",
            "currency",
        ]
    )
    with gzip.open(data_dir / "online_retail.csv.gz", "rt", encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        for i, r in enumerate(reader):
            if i >= n_rows:
                break
            row = [
                r["InvoiceNo"],
                r["StockCode"],
                r["Quantity"],
                r["UnitPrice"],
                r["InvoiceDate"],
                r["Country"],
                r["Description"],
                r["CustomerID"],
                "gbp" if i % 7 else "GBP",
            ]
            w.writerow(row)
            k = i % 500
            if k == 11:
                w.writerow(
                    [
                        r["InvoiceNo"],
                        r["StockCode"],
                        "two",
                        r["UnitPrice"],
                        r["InvoiceDate"],
                        "",
                        "",
                        "",
                        "",
                    ]
                )
            elif k == 12:
                w.writerow(
                    [r["InvoiceNo"], r["StockCode"], "1", "-3", r["InvoiceDate"], "", "", "", ""]
                )
            elif k == 13:
                w.writerow([f"X{i}", r["StockCode"], "1", "1", "not a date", "", "", "", ""])
            elif k == 14:
                w.writerow([r["InvoiceNo"], "", "1", "1", r["InvoiceDate"], "", "", "", ""])
            elif k == 15:
                w.writerow(
                    [
                        r["InvoiceNo"],
                        '=HYPERLINK("x")',
                        "1",
                        "1",
                        r["InvoiceDate"],
                        "@cat",
                        "+title",
                        "",
                        "",
                    ]
                )
            elif k == 16:
                w.writerow(
                    ["536365", "85123A", "1", "1", r["InvoiceDate"], "", "", "", ""]
                )  # not contiguous
            elif k == 17:
                w.writerow(
                    [f"Y{i}", "P", "1", "1", r["InvoiceDate"], "", "", "", "ÉUR"]
                )  # invalid_order
            elif k == 18:
                w.writerow(
                    [
                        r["InvoiceNo"],
                        r["StockCode"],
                        "1",
                        "1",
                        r["InvoiceDate"],
                        "",
                        "",
                        "",
                        "",
                        "extra",
                    ]
                )
            elif k == 19:
                w.writerow([])
            elif k == 20:
                w.writerow(
                    [f"Z{i}", "=" + "p" * 199, "1", "1", r["InvoiceDate"], "", "", "", ""]
                )  # 201 chars
            elif k == 21:
                w.writerow(
                    [
                        r["InvoiceNo"],
                        r["StockCode"],
                        "2000000",
                        "1",
                        r["InvoiceDate"],
                        "",
                        "",
                        "",
                        "",
                    ]
                )
    return out.getvalue()


def test_generic_csv_with_bad_rows_equals_row_parser(data_dir):
    text = _generic_from_online_retail(data_dir)
    lines = assert_same(text.encode(), "generic", name="g.csv", store_id="s")
    r = lines.report
    assert r.bad_row_count > 40 and r.accounted and r.warnings
    assert {
        "bad_quantity",
        "negative_price",
        "bad_created_at",
        "missing_product_id",
        "order_not_contiguous",
        "invalid_order",
        "too_many_fields",
    } <= set(r.bad_by_reason)
    assert set(lines.order_currency.tolist()) == {"GBP"}
    assert any(c is not None for c in lines.product_categories)
