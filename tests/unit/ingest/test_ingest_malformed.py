"""Hostile and broken inputs: bad rows with physical line numbers, or one clear IngestError."""

from __future__ import annotations

import gzip

import pytest

from ingest import IngestError, parse_catalog, read_orders
from ingest.cells import is_formula

GENERIC_HEADER = "order_id,product_id,quantity,price,created_at,category,title,customer_id\n"


def orders(text: str, fmt: str | None = "generic"):
    return read_orders(text.encode("utf-8"), fmt, name="t.csv", store_id="s")


def test_generic_orders_happy_path_and_grouping():
    events, report = orders(
        GENERIC_HEADER
        + "o1,p1,2,3.5,2024-01-02T03:04:05Z,toys,Ball,c1\n"
        + "o1,p2,1,10,2024-01-02T03:04:05Z,,,c1\n"
        + "o2,p1,1,3.5,2024-01-03,toys,Ball,\n",
        None,
    )
    assert report.format == "generic" and report.accounted
    assert [(e.order_id, len(e.lines)) for e in events] == [("o1", 2), ("o2", 1)]
    assert events[0].lines[0].category == "toys" and events[0].lines[1].category is None
    assert events[0].customer_id == "c1" and events[1].customer_id is None
    assert events[0].currency == "USD"


def test_missing_columns_raise_one_error_naming_them():
    with pytest.raises(IngestError) as err:
        orders("order_id,product_id,created_at\no1,p1,2024-01-01\n")
    assert err.value.missing == ("quantity", "price")
    assert "quantity" in str(err.value) and "price" in str(err.value)
    with pytest.raises(IngestError) as err:
        parse_catalog(b"title,category\nA,b\n", "generic", name="c.csv")
    assert set(err.value.missing) == {"product_id", "price"}


def test_unrecognised_header_autodetect():
    with pytest.raises(IngestError, match="no known header"):
        orders("foo,bar\n1,2\n", None)
    with pytest.raises(IngestError, match="missing column"):
        orders("order_id,product_id,quantity\no,p,1\n", None)


@pytest.mark.parametrize("payload", [b"", b"\n\n", "\ufeff".encode("utf-8")])
def test_empty_file(payload):
    with pytest.raises(IngestError, match="empty file"):
        read_orders(payload, name="empty.csv")


def test_binary_junk():
    with pytest.raises(IngestError, match="binary"):
        read_orders(bytes(range(256)) * 40, name="junk.bin")
    with pytest.raises(IngestError, match="binary"):
        parse_catalog(gzip.compress(b"\x00\x01\x02" * 1000), name="junk.gz")


def test_wrong_types_and_negative_values_are_bad_rows_with_lines():
    events, report = orders(
        GENERIC_HEADER
        + "o1,p1,two,3.5,2024-01-01,,,\n"  # line 2
        + "o2,p1,1,abc,2024-01-01,,,\n"  # line 3
        + "o3,p1,1,-4,2024-01-01,,,\n"  # line 4
        + "o4,p1,1,4,not a date,,,\n"  # line 5
        + "o5,p1,1.5,4,2024-01-01,,,\n"  # line 6
        + "o6,,1,4,2024-01-01,,,\n"  # line 7
        + "o7,p1,0,4,2024-01-01,,,\n"  # line 8: skip, not an error
        + "o8,p1,1,4,2024-01-01,,,\n"
    )  # line 9: fine
    assert [e.order_id for e in events] == ["o8"]
    assert [(b.line, b.reason.split(":")[0]) for b in report.bad_rows] == [
        (2, "bad_quantity"),
        (3, "bad_price"),
        (4, "negative_price"),
        (5, "bad_created_at"),
        (6, "bad_quantity"),
        (7, "missing_product_id"),
    ]
    assert report.skipped == {"non_positive_quantity": 1}
    assert report.rows == 8 and report.accounted
    assert all(b.file == "t.csv" for b in report.bad_rows)


def test_catalog_bad_rows():
    result = parse_catalog(
        b"product_id,title,price,cost,inventory,rating,tags\n"
        b"a,Alpha,10,4,5,4.5,x|y\n"
        b"b,Beta,-1,,,,\n"  # line 3 negative price
        b"c,Gamma,abc,,,,\n"  # line 4 wrong type
        b"d,Delta,5,,many,,\n"  # line 5 inventory not a number
        b"a,Dup,5,,,,\n"  # line 6 duplicate
        b"e,Eps,5,,,9,\n"  # line 7 rating out of range (model constraint)
        b"f,Phi,,,,,\n",  # line 8 missing price
        None,
        name="cat.csv",
    )
    assert [p.product_id for p in result.products] == ["a"]
    assert result.products[0].tags == ["x", "y"] and result.products[0].margin == pytest.approx(0.6)
    assert [(b.line, b.reason.split(":")[0]) for b in result.report.bad_rows] == [
        (3, "negative_price"),
        (4, "bad_price"),
        (5, "bad_inventory"),
        (6, "duplicate_product_id"),
        (7, "invalid_product"),
        (8, "missing_price"),
    ]
    assert result.report.accounted


def test_formula_injection_neutralised_and_flagged():
    assert is_formula("=SUM(A1:A3)") and is_formula("@cmd") and is_formula("+cmd|' /C calc'!A0")
    assert not is_formula("-5") and not is_formula("+3.5") and not is_formula("plain")
    events, report = orders(
        GENERIC_HEADER
        + 'o1,=HYPERLINK("http://evil"),1,2,2024-01-01,@evil,"=1+1",-c\n'
        + "o1,p2,1,2,2024-01-01,-5,ok,-c\n"
    )
    line = events[0].lines[0]
    assert line.product_id == '\'=HYPERLINK("http://evil")'
    assert line.category == "'@evil" and line.title == "'=1+1"
    assert events[0].lines[1].category == "-5"  # a negative number is data, not a formula
    assert events[0].customer_id == "'-c"
    assert report.warnings_by_reason["formula_neutralised"] == 4
    assert {w.line for w in report.warnings} == {2}
    catalog = parse_catalog(
        b"product_id,title,price,description\np,=cmd|' /C calc'!A0,1,+x\n", None
    )
    assert catalog.products[0].title.startswith("'=") and catalog.products[0].description == "'+x"


def test_huge_field_is_one_bad_row_and_the_rest_survives():
    huge = "x" * 200_000  # beyond the csv module's 128 KiB field limit
    events, report = orders(
        GENERIC_HEADER + f"o1,p1,1,2,2024-01-01,,{huge},\n" + "o2,p1,1,2,2024-01-01,,,\n"
    )
    assert [e.order_id for e in events] == ["o2"]
    assert [(b.line, b.reason.split(":")[0]) for b in report.bad_rows] == [(2, "field_too_large")]
    assert report.accounted


def test_long_title_is_truncated_not_rejected():
    events, _ = orders(GENERIC_HEADER + f"o1,p1,1,2,2024-01-01,,{'t' * 900},\n")
    assert len(events[0].lines[0].title) == 500


def test_physical_line_numbers_with_quoted_newlines_blank_lines_and_crlf():
    text = (
        GENERIC_HEADER.replace("\n", "\r\n")
        + 'o1,p1,1,2,2024-01-01,,"two\r\nline title",\r\n'  # lines 2-3
        + "\r\n"  # line 4 blank
        + "o2,p1,x,2,2024-01-01,,,\r\n"  # line 5 bad
        + "o3,p1,1,2,2024-01-01,,,,extra\r\n"
    )  # line 6 too many fields
    events, report = orders(text)
    assert [e.order_id for e in events] == ["o1"]
    assert [(b.line, b.reason.split(":")[0]) for b in report.bad_rows] == [
        (5, "bad_quantity"),
        (6, "too_many_fields"),
    ]
    assert report.blank_lines == 1 and report.rows == 3 and report.accounted


def test_short_rows_padded_trailing_empty_fields_ignored():
    events, report = orders(
        "order_id,product_id,quantity,price,created_at,title\n"
        "o1,p1,1,2,2024-01-01\n"
        "o2,p1,1,2,2024-01-01,t,,\n",
        None,
    )
    assert [e.order_id for e in events] == ["o1", "o2"] and report.accounted


def test_non_contiguous_order_rows_are_bad_not_a_second_event():
    rows = (
        ["a,p1,1,2,2024-01-01,,,"]
        + [f"o{i},p1,1,2,2024-01-01,,," for i in range(100)]
        + ["a,p2,1,2,2024-01-01,,,"]
    )
    events, report = orders(GENERIC_HEADER + "\n".join(rows) + "\n")
    assert [e.order_id for e in events].count("a") == 1
    assert [(b.line, b.reason.split(":")[0]) for b in report.bad_rows] == [
        (103, "order_not_contiguous")
    ]
    assert report.accounted
    # within the open-order window an interleaved order is merged
    events, _ = orders(
        GENERIC_HEADER + "a,p1,1,2,2024-01-01,,,\nb,p1,1,2,2024-01-01,,,\na,p2,1,2,2024-01-01,,,\n"
    )
    assert [(e.order_id, len(e.lines)) for e in events] == [("a", 2), ("b", 1)]


def test_online_retail_rules_on_a_small_sample():
    events, report = read_orders(
        b"InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        b"1,A1,Thing,2,2011-01-01 10:00:00,1.5,123.0,UK\n"
        b"C2,A1,Thing,-2,2011-01-01 11:00:00,1.5,123,UK\n"
        b"A3,B,Adjust bad debt,1,2011-01-01 12:00:00,-11062.06,,UK\n"
        b"4,A1,,-5,2011-01-01 13:00:00,0,,UK\n"
        b"5,A1,,1,2011-01-01 13:00:00,0,,UK\n"
        b"6,A1,,1,2011-13-45 13:00:00,1,,UK\n",
        name="or.csv",
    )
    assert [e.order_id for e in events] == ["1"] and events[0].customer_id == "123"
    assert report.skipped == {
        "cancellation": 1,
        "adjustment": 1,
        "non_positive_quantity": 1,
        "non_positive_price": 1,
    }
    assert report.skipped_orders == {"cancelled": 1, "adjustment": 1, "no_valid_lines": 3}
    assert [(b.line, b.reason.split(":")[0]) for b in report.bad_rows] == [(7, "bad_created_at")]
    assert report.accounted


def test_shopify_cancelled_order_skipped_with_reason():
    header = "Name,Financial Status,Currency,Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku,Cancelled at\n"
    events, report = read_orders(
        (
            header
            + "#1,paid,EUR,2025-05-11 09:55:16 -0400,1,Board,10.00,,\n"
            + "#2,paid,EUR,2025-05-11 09:56:16 -0400,1,Board,10.00,,2025-05-12 10:00:00 -0400\n"
            + "#2,,,2025-05-11 09:56:16 -0400,2,Wax,5.00,,\n"
        ).encode(),
        name="o.csv",
    )
    assert [e.order_id for e in events] == ["#1"]
    assert report.skipped == {"cancelled_order": 2} and report.skipped_orders == {"cancelled": 1}
    assert report.accounted


def test_gzip_bytes_bom_and_invalid_utf8_are_read():
    payload = gzip.compress(
        "\ufeff".encode() + GENERIC_HEADER.encode() + b"o1,p1,1,2,2024-01-01,,caf\xe9,\n"
    )
    events, report = read_orders(payload, name="x.csv.gz")
    assert events[0].lines[0].title == "caf\ufffd"
    assert [(w.line, w.reason.split(":")[0]) for w in report.warnings] == [(2, "undecodable_bytes")]


def test_truncated_gzip_raises_ingest_error():
    payload = gzip.compress((GENERIC_HEADER + "o1,p1,1,2,2024-01-01,,,\n" * 20000).encode())
    with pytest.raises(IngestError):
        read_orders(payload[: len(payload) // 2], name="cut.csv.gz")


def test_unknown_format_name():
    with pytest.raises(IngestError, match="unknown orders format"):
        orders(GENERIC_HEADER, "excel")
