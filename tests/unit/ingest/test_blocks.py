"""The block window (``ingest.blocks``) against the row-by-row window: Online Retail through
``read_order_lines`` (blocks) and ``read_orders`` (one run at a time, ``OrderGrouper``) give the
same events and the same report, bad rows and their line numbers included, wherever the block
boundaries fall."""

from __future__ import annotations

import functools
import gzip
from itertools import islice

import pytest

import ingest.order_formats as order_formats
from ingest.batch import row_batches
from ingest.blocks import BlockWindow
from ingest.columnar import read_order_lines
from tests.unit.ingest.test_columnar_real import assert_same

OR = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"


def _row(
    invoice: str, sku: str, qty: int = 1, date: str = "12/1/2010 8:26", cust: str = "17850"
) -> str:
    return f"{invoice},{sku},Thing {sku},{qty},{date},1.5,{cust},United Kingdom\n"


def _window_file() -> str:
    """Orders that leave the window and come back, starts refused then retried, odd ids."""
    rows = [_row("500", "A"), _row("500", "B")]
    rows += [_row(str(600 + i), f"S{i % 9}") for i in range(70)]  # pushes 500 out
    rows += [_row("500", "C")]  # not contiguous: 500 was emitted
    rows += [_row("700", "A", date="not a date"), _row("700", "B", date="13/45/2010 8:26")]
    rows += [_row("700", "C"), _row("700", "D", date="not a date")]  # starts on its third row
    rows += [_row("701", "A", date=""), _row("702", "A"), _row("701", "B")]
    rows += [_row("=1+2", "A"), _row("=1+2", "B"), _row("703", "E", cust="@cmd")]
    rows += [_row("704", "=X"), _row("704", "Y", qty=2_000_000), _row("705", "Z", qty=0)]
    rows += [_row("800", f"P{i}") for i in range(1_150)]  # split in two parts
    rows += [_row("801", "A"), _row("800", "Q")]  # 800 still open: window not full
    rows += [_row(str(900 + i), "A") for i in range(66)] + [_row("800", "R")]
    return OR + "".join(rows)


@pytest.mark.parametrize("size", [1, 7, 64, 8192])
@pytest.mark.parametrize("currency", [None, "gbp"])
def test_window_rules_equal_row_path_at_any_block_size(monkeypatch, size, currency):
    monkeypatch.setattr(order_formats, "row_batches", functools.partial(row_batches, size=size))
    blocks = []
    add = BlockWindow.add
    monkeypatch.setattr(BlockWindow, "add", lambda self, *a: blocks.append(1) or add(self, *a))
    lines = assert_same(
        _window_file().encode(), "online_retail", name="t.csv", reader="csv", currency=currency
    )
    assert len(blocks) == -(-(_window_file().count("\n") - 1) // size)  # the columnar side
    if currency is None:
        r = lines.report
        assert r.bad_by_reason["order_not_contiguous"] == 2 and r.split_orders == 1
        assert (
            r.bad_by_reason["bad_created_at"] == 3 and "formula_neutralised" in r.warnings_by_reason
        )
        assert "700" in lines.order_ids.tolist() and "'=1+2" in lines.order_ids.tolist()


def test_max_lines_per_order_raises_the_same(monkeypatch):
    from ingest import read_orders
    from ingest.limits import LimitExceeded, Limits

    monkeypatch.setattr(order_formats, "row_batches", functools.partial(row_batches, size=5))
    limits = Limits(max_lines_per_order=100)
    data = _window_file().encode()
    with pytest.raises(LimitExceeded) as row:
        read_orders(data, "online_retail", limits=limits, reader="csv")
    with pytest.raises(LimitExceeded) as col:
        read_order_lines(data, "online_retail", limits=limits, reader="csv")
    assert str(col.value) == str(row.value)


def test_real_slice_in_small_blocks(monkeypatch, data_dir):
    """The first 20,000 Online Retail rows, in blocks of 997 rows (csv reader) and through
    pyarrow: the same as the row path."""
    with gzip.open(data_dir / "online_retail.csv.gz", "rb") as fh:
        data = b"".join(islice(fh, 20_001))
    assert_same(data, "online_retail", name="or.csv", store_id="uk")
    monkeypatch.setattr(order_formats, "row_batches", functools.partial(row_batches, size=997))
    lines = assert_same(data, "online_retail", name="or.csv", store_id="uk", reader="csv")
    assert lines.n_orders > 700 and lines.report.accounted


def test_an_order_refusing_many_starts_equals_row_path():
    """Every row of one invoice has a bad date but the last: each is an attempt of its own."""
    rows = [_row("900", f"P{i}", date="not a date") for i in range(3000)] + [_row("900", "Z")]
    rows += [_row("901", "A", date="")] * 5 + [_row("902", "A")]
    lines = assert_same((OR + "".join(rows)).encode(), "online_retail", name="t.csv")
    assert lines.report.bad_by_reason["bad_created_at"] == 3005 and lines.n_orders == 2
