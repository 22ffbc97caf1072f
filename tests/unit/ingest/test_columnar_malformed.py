"""``read_order_lines`` on hostile and edge-case inputs: identical outcome to ``read_orders``
(events, bad rows with line numbers and reasons, warnings, skips), and the same errors."""

from __future__ import annotations

import pytest

from bundling.mining import BasketMatrix
from ingest import IngestError, read_orders
from ingest.columnar import read_order_lines
from tests.unit.ingest.test_columnar_real import assert_same

G = "order_id,product_id,quantity,price,created_at,category,title,customer_id\n"
OR = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
SH = "Name,Financial Status,Currency,Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku,Cancelled at\n"

CASES = {
    "generic_basic": (
        G + "o1,p1,2,3.5,2024-01-02T03:04:05Z,toys,Ball,c1\no1,p2,1,10,2024-01-02T03:04:05Z,,,c1\n"
        "o2,p1,1,3.5,2024-01-03,toys,Ball,\n",
        "generic",
    ),
    "generic_bad_types": (
        G + "o1,p1,x,1,2024-01-01,,,\no2,p1,1,y,2024-01-01,,,\no3,p1,1,-1,2024-01-01,,,\n"
        "o4,p1,1,1,nope,,,\no5,p1,1.5,1,2024-01-01,,,\no6,,1,1,2024-01-01,,,\n"
        "o7,p1,0,1,2024-01-01,,,\n,p1,1,1,2024-01-01,,,\n",
        "generic",
    ),
    "generic_quoted_newlines_crlf": (
        G.replace("\n", "\r\n") + 'o1,p1,1,2,2024-01-01,,"two\r\nline",\r\n\r\n'
        "o2,p1,x,2,2024-01-01,,,\r\no3,p1,1,2,2024-01-01,,,,extra\r\n",
        "generic",
    ),
    "generic_huge_field": (
        G + "o1,p1,1,2,2024-01-01,,{},\no2,p1,1,2,2024-01-01,,,\n".format("x" * 200_000),
        "generic",
    ),
    "generic_non_contiguous": (
        G
        + "\n".join(
            ["a,p1,1,2,2024-01-01,,,"]
            + [f"o{i},p1,1,2,2024-01-01,,," for i in range(100)]
            + ["a,p2,1,2,2024-01-01,,,", "b,p1,1,2,2024-01-01,,,", "a,p1,1,2,2024-01-01,,,"]
        )
        + "\n",
        "generic",
    ),
    "generic_split_1500_lines": (
        G
        + "".join(
            f"big,p{i % 1200},1,{1 + i % 7},2024-01-01,c{i % 3},t{i},\n" for i in range(2500)
        ),
        "generic",
    ),
    "generic_formulas_and_long": (
        G
        + "=o1,=cmd(),1,2,2024-01-01,@cat,-t,+c\n"
        + "{},p,1,1,2024-01-01,,,\n".format("+" + "x" * 199)
        + "{},p,1,1,2024-01-01,,,\n".format("p" * 201)
        + "o3,{},1,1,2024-01-01,,,\n".format("-" + "q" * 199)
        + "o4,p,2000000,1,2024-01-01,,{},\n".format("t" * 900)
        + "o5,p,1,1,2024-01-01,,{},\n".format("t" * 900),
        "generic",
    ),
    "online_retail_rules": (
        OR
        + "1,A1,Thing,2,2011-01-01 10:00:00,1.5,123.0,UK\nC2,A1,Thing,-2,2011-01-01 11:00:00,1.5,123,UK\n"
        "A3,B,Adjust bad debt,1,2011-01-01 12:00:00,-11062.06,,UK\n4,A1,,-5,2011-01-01 13:00:00,0,,UK\n"
        "5,A1,,1,2011-01-01 13:00:00,0,,UK\n6,A1,,1,2011-13-45 13:00:00,1,,UK\n"
        "7, A1 , Thing ,1,2011-01-01 10:00:00,nan,,UK\n8,=A1,@x,1,2011-01-01 10:00:00,1,,UK\n"
        "8,A1,Thing,1,2011-01-01 10:00:00,inf,,UK\n8,A1,Thing,x,2011-01-01 10:00:00,1,,UK\n"
        '8,-5,Thing,1e0,2011-01-01 10:00:00,"1,234.5",,UK\n8,,Thing,1,2011-01-01 10:00:00,1,,UK\n'
        "9,A1,{},1,2011-01-01 10:00:00,1,,UK\n9,A1,Thing,2000000,2011-01-01 10:00:00,1,,UK\n"
        "1,A1,Thing,2,2011-01-01 10:00:00,1.5,123.0,UK\n".format("T" * 600)
        + "".join(f"{100 + i},A{i % 5}, x{i % 3},1,2011-01-02 10:00:00,2,,UK\n" for i in range(80))
        + "1,A1,Thing,2,2011-01-01 10:00:00,1.5,123.0,UK\n",
        "online_retail",
    ),
    "online_retail_autodetect_split": (
        OR + "".join(f"500,S{i},D{i % 4},1,12/1/2010 8:26,1,,UK\n" for i in range(2100)),
        None,
    ),
    "shopify_cancelled": (
        SH + "#1,paid,EUR,2025-05-11 09:55:16 -0400,1,Board,10.00,,\n"
        "#2,paid,EUR,2025-05-11 09:56:16 -0400,1,Board,10.00,,2025-05-12 10:00:00 -0400\n"
        "#2,,,2025-05-11 09:56:16 -0400,2,Wax,5.00,,\n#3,refunded,EUR,2025-05-11 09:57:16 -0400,1,B,1,,\n"
        "#4,paid,eu,2025-05-11 09:57:16 -0400,1,B,1,,\n#5,paid,ÉUR,2025-05-11 09:57:16 +0200,1,B,1,sku,\n"
        "#6,paid,,2025-05-11T09:57:16.250000+05:30,1,B,-1,,\n#6,,,2025-05-11 09:57:16 -0400,1,B,1,,\n",
        None,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_columnar_equals_row_parser(case):
    text, fmt = CASES[case]
    assert_same(text.encode("utf-8"), fmt, name="t.csv", store_id="s")


@pytest.mark.parametrize("store_id", ["", " x ", "y" * 201])
def test_store_id_handling_equals_row_parser(store_id):
    text, fmt = CASES["generic_basic"]
    lines = assert_same(text.encode(), fmt, name="t.csv", store_id=store_id)
    assert lines.n_orders == (2 if 0 < len(store_id.strip()) <= 200 else 0)


def test_caller_currency_not_iso_is_invalid_order_as_in_row_parser():
    text, fmt = CASES["online_retail_rules"]
    lines = assert_same(text.encode(), fmt, name="t.csv", currency="gbp")
    assert lines.n_orders == 0 and lines.report.bad_by_reason["invalid_order"] > 0


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\n\n",
        b"foo,bar\n1,2\n",
        b"order_id,product_id,quantity\no,p,1\n",
        bytes(range(256)) * 40,
    ],
)
def test_unusable_files_raise_the_same_error(payload):
    with pytest.raises(IngestError) as row:
        read_orders(payload, name="x.csv")
    with pytest.raises(IngestError) as col:
        read_order_lines(payload, name="x.csv")
    assert str(col.value) == str(row.value)


def test_empty_history_gives_empty_arrays():
    lines = assert_same((G + "o1,p1,0,1,2024-01-01,,,\n").encode(), "generic", name="t.csv")
    assert lines.n_orders == lines.n_lines == lines.n_products == 0
    assert lines.baskets().shape == (0, 0) and BasketMatrix.from_order_lines(lines).n_baskets == 0
