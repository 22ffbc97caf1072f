"""The pyarrow reader (``ingest.arrow_csv``) against the csv-module reader: the same parse output
and the same bad-row reports (line numbers included), the same errors past the expansion limits,
and a fall back to the csv module wherever pyarrow could not number lines as it does.

The real files (Online Retail, Olist, the Shopify orders export) are compared in
test_columnar_real.py, which also checks that they take the pyarrow path."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

import ingest.arrow_csv as arrow_csv
from ingest.arrow_csv import BLOCK_BYTES, NotPlain
from ingest.columnar import OrderLines, read_order_lines
from ingest.limits import LimitExceeded, Limits
from tests.unit.ingest.test_columnar_malformed import CASES as MALFORMED
from tests.unit.ingest.test_columnar_real import assert_same, report_fields

OR = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
ROWS = (
    "536365,85123A,WHITE HANGING HEART,6,12/1/2010 8:26,2.55,17850,United Kingdom\n"
    '536365,71053,"LANTERN, WHITE",6,12/1/2010 8:26,3.39,17850.0,United Kingdom\n'
    '536366,22633,"HAND ""WARMER"" UNION",6,12/1/2010 8:28,1.85,17850,United Kingdom\n'
    "C536379,D,Discount,-1,12/1/2010 9:41,27.5,14527,United Kingdom\n"
    "C536383,35004C,SET OF 3 CANS,-1,12/1/2010 9:49,4.65,15311,United Kingdom\n"
    "536367,84879,BIRD ORNAMENT,-3,12/1/2010 8:34,1.69,13047,United Kingdom\n"
    "536367,22745,POPPY'S PLAYHOUSE,x,12/1/2010 8:34,2.1,13047,United Kingdom\n"
    "536367,22748,PLAYHOUSE KITCHEN,6,12/1/2010 8:34,abc,13047,United Kingdom\n"
    "536367,22749,FELTCRAFT DOLL,8,12/1/2010 8:34,nan,13047,United Kingdom\n"
    "536367,22310,IVORY KNITTED MUG,6,12/1/2010 8:34,0,13047,United Kingdom\n"
    "536368,=cmd(),@title,1,12/1/2010 8:34,1,13047,United Kingdom\n"
    'A563185,B,Adjust bad debt,1,8/12/2011 14:50,"11,062.06",,United Kingdom\n'
    '536369,"21756"x,BATH BUILDING BLOCK,3,12/1/2010 8:35,5.95,13047,United Kingdom\n'
    "536370,22728,ALARM CLOCK,24,not a date,3.75,12583,France\n"
    "536365,21730,GLASS STAR,6,12/1/2010 8:26,4.25,17850,United Kingdom\n"
)

# name -> (file bytes, the reader that must have split its rows)
CASES: dict[str, tuple[bytes, str]] = {
    "plain": ((OR + ROWS).encode(), "pyarrow"),
    "bom_crlf": (b"\xef\xbb\xbf" + (OR + ROWS).replace("\n", "\r\n").encode(), "pyarrow"),
    "cr_only": ((OR + ROWS).replace("\n", "\r").encode(), "pyarrow"),
    "no_final_newline": ((OR + ROWS).rstrip("\n").encode(), "pyarrow"),
    "gzip": (gzip.compress((OR + ROWS).encode(), mtime=0), "pyarrow"),
    "quoted_newline": (
        (
            OR + ROWS + '536371,22086,"PAPER CHAIN\nKIT",12,12/1/2010 9:00,2.55,,UK\n' + ROWS
        ).encode(),
        "csv",
    ),
    "quoted_crlf": (
        (OR + '536371,22086,"PAPER\r\nCHAIN",12,12/1/2010 9:00,2.55,,UK\r\n' + ROWS).encode(),
        "csv",
    ),
    "blank_line": ((OR + ROWS + "\n" + ROWS).encode(), "csv"),
    "trailing_blank_line": ((OR + ROWS + "\n").encode(), "csv"),
    "whitespace_line": ((OR + ROWS + "   \n" + ROWS).encode(), "csv"),
    "too_many_fields": ((OR + ROWS + "536372,1,T,1,12/1/2010 9:00,1,,UK,extra\n").encode(), "csv"),
    "short_row": ((OR + ROWS + "536372,1,T\n" + ROWS).encode(), "csv"),
    "unbalanced_quote": (
        (OR + ROWS + '536372,1,"T,1,12/1/2010 9:00,1,,UK\n' + ROWS).encode(),
        "csv",
    ),
    # past the 8 KiB sniffed for binary content
    "nul_byte": ((OR + ROWS * 12 + "536372,1,T\x00,1,12/1/2010 9:00,1,,UK\n").encode(), "csv"),
    "invalid_utf8": ((OR + ROWS).encode() + b"536372,1,T\xff,1,12/1/2010 9:00,1,,UK\n", "csv"),
    "huge_field": (
        (OR + ROWS + f"536372,1,{'T' * 200_000},1,12/1/2010 9:00,1,,UK\n").encode(),
        "csv",
    ),
}


def same_arrays(a: OrderLines, b: OrderLines) -> None:
    for name in ("order_ids", "product_ids", "line_product", "quantity", "price", "line_offsets"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.titles.tolist() == b.titles.tolist()
    assert a.product_titles.tolist() == b.product_titles.tolist()


def both(data, fmt: str | None = None, **kw) -> tuple[OrderLines, OrderLines | None]:
    """(the default read, a forced pyarrow read or None when pyarrow refused the file), each
    checked equal to a csv-module read and to the row parser ``read_orders``."""
    kw = {"name": "t.csv", "store_id": "s", **kw}
    lines = assert_same(data, fmt, **kw)
    by_csv = read_order_lines(data, fmt, reader="csv", **kw)
    try:
        by_arrow = read_order_lines(data, fmt, reader="pyarrow", **kw)
    except NotPlain:
        by_arrow = None
    for other in (lines, by_arrow):
        if other is not None:
            assert report_fields(other.report) == report_fields(by_csv.report)
            assert other.to_order_events() == by_csv.to_order_events()
            same_arrays(other, by_csv)
    return lines, by_arrow


@pytest.mark.parametrize("case", sorted(CASES))
def test_pyarrow_and_csv_module_agree_on_edge_cases(case):
    data, reader = CASES[case]
    lines, by_arrow = both(data)
    assert lines.reader == reader and (by_arrow is not None) == (reader == "pyarrow")
    r = lines.report
    assert r.accounted and r.bad_row_count >= 4  # three bad numbers and a bad date
    assert r.skipped["cancellation"] >= 2 and r.skipped_orders["cancelled"] == 2
    assert r.skipped["non_positive_quantity"] >= 1 and r.skipped["non_positive_price"] >= 1


def test_plain_file_bad_rows_keep_their_csv_line_numbers():
    lines, _ = both(CASES["plain"][0])
    got = {(b.line, b.reason.split(":")[0]) for b in lines.report.bad_rows}
    assert got == {(8, "bad_quantity"), (9, "bad_price"), (10, "bad_price"), (15, "bad_created_at")}
    assert lines.report.warnings_by_reason["formula_neutralised"] == 2
    # past 64 later orders, 536365 is closed: the same rows again are bad, each on its line
    far = OR + ROWS + "".join(f"6{i:05},1,T,1,12/1/2010 9:00,1,,UK\n" for i in range(70)) + ROWS
    lines, _ = both(far.encode())
    assert lines.reader == "pyarrow"
    first_again = 1 + len(ROWS.splitlines()) + 70 + 1
    assert (first_again, "order_not_contiguous") in {
        (b.line, b.reason.split(":")[0]) for b in lines.report.bad_rows
    }


@pytest.mark.parametrize("case", sorted(k for k, v in CASES.items() if v[1] == "csv"))
def test_a_forced_pyarrow_read_refuses_what_it_cannot_number(case):
    with pytest.raises(NotPlain):
        read_order_lines(CASES[case][0], name="t.csv", reader="pyarrow")


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_earlier_malformed_cases_agree(case):
    text, fmt = MALFORMED[case]
    _, by_arrow = both(text.encode(), fmt)
    plain = "quoted_newlines" not in case and "huge_field" not in case
    assert (by_arrow is not None) == plain


@pytest.mark.parametrize(
    "path", ["shopify/orders_export.csv", "olist/olist_order_items_dataset.csv.gz"]
)
def test_real_row_at_a_time_formats_agree_under_pyarrow(data_dir, path):
    """Shopify and Olist read with the csv module by default (their rules go row by row);
    forced through pyarrow they give the same output and report."""
    data = (data_dir / path).read_bytes()
    if path.endswith(".gz"):  # the first 8,000 rows: several times the open-order window
        data = b"".join(gzip.decompress(data).splitlines(keepends=True)[:8_001])
    lines, by_arrow = both(data)
    assert lines.reader == "csv" and by_arrow is not None and by_arrow.n_orders > 0


def test_a_history_over_many_blocks_agrees(monkeypatch):
    # small blocks, so a short history spans many batches and runs cross their boundaries
    monkeypatch.setattr(arrow_csv, "BLOCK_BYTES", 64 << 10)
    rows = 20_000
    body = "".join(
        f"{500_000 + i // 7},P{i % 613},ITEM {i % 613},{1 + i % 5},12/{1 + i % 28}/2010 9:00,"
        f"{0 if i % 997 == 0 else 1.25},{17000 + i % 50},UK\n"
        for i in range(rows)
    )
    data = (OR + body).encode()
    assert len(data) > 10 * arrow_csv.BLOCK_BYTES
    lines, _ = both(data)
    assert lines.reader == "pyarrow" and lines.n_orders == -(-rows // 7)


def limit_error(data: bytes, limits: Limits, reader: str | None) -> str:
    with pytest.raises(LimitExceeded) as err:
        read_order_lines(data, name="t.csv", limits=limits, reader=reader)
    return str(err.value)


@pytest.mark.parametrize(
    "limits",
    [
        Limits(max_rows=10),
        Limits(max_rows=14),
        Limits(max_lines_per_order=2),
        Limits(max_decompressed_bytes=1500),
    ],
)
def test_limits_stop_both_readers_with_the_same_error(limits):
    data = (OR + ROWS * 3).encode()
    assert limit_error(data, limits, "pyarrow") == limit_error(data, limits, "csv")


def test_rows_up_to_the_row_limit_still_parse():
    data = (OR + ROWS).encode()
    n = len(ROWS.splitlines())
    lines = read_order_lines(data, limits=Limits(max_rows=n), reader="pyarrow")
    assert lines.report.rows == n


def test_pyarrow_reads_no_further_than_the_decompressed_limit(monkeypatch):
    """A gzip bomb of valid rows: pyarrow pulls bytes through the bounded stream, which stops
    one read past the limit; nothing like the 60 MB inside is inflated."""
    bomb = gzip.compress((OR + ROWS * 40_000).encode(), mtime=0)
    streams = []
    real_open = arrow_csv.open_binary

    def spy(*args, **kwargs):
        streams.append(real_open(*args, **kwargs))
        return streams[-1]

    monkeypatch.setattr(arrow_csv, "open_binary", spy)
    limit = 2 * 1024 * 1024
    with pytest.raises(LimitExceeded, match="max_decompressed_bytes"):
        read_order_lines(bomb, limits=Limits(max_decompressed_bytes=limit), reader="pyarrow")
    assert streams and streams[0].raw.count <= limit + BLOCK_BYTES
