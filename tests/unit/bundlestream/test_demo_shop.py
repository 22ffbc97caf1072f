"""The demo's gift shop files from an Online Retail export (a small one here), and their reuse."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

import evaluation.loaders
from bundlestream.demo import prepare_shop

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"


def _export(path: Path, invoices: int) -> Path:
    lines = [HEADER]
    for i in range(invoices):
        day = f"2011-11-{1 + i // 4:02d} {8 + i % 4:02d}:00:00"
        lines.append(f"{580000 + i},22697,GREEN REGENCY TEACUP AND SAUCER,2,{day},2.95,1,UK")
        lines.append(f"{580000 + i},22699,ROSES REGENCY TEACUP AND SAUCER,1,{day},2.95,1,UK")
        if i % 3 == 0:
            lines.append(f"{580000 + i},POST,POSTAGE,1,{day},18.0,1,UK")
    lines.append("C581000,22697,GREEN REGENCY TEACUP AND SAUCER,-2,2011-11-20 10:00:00,2.95,1,UK")
    with gzip.open(path, "wt", newline="") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def test_prepare_shop_splits_the_slice_and_writes_the_upload_files(tmp_path: Path) -> None:
    source = _export(tmp_path / "or.csv.gz", 40)
    shop = prepare_shop(tmp_path / "shop", 20, source)
    assert shop.products == 2  # postage is not a product
    assert shop.train_orders == 16 and len(shop.holdout) == 4
    assert [o.order_id for o in shop.holdout] == [str(580036 + i) for i in range(4)]
    assert shop.first_day.day == 6 and shop.cutoff == shop.holdout[0].created_at
    with gzip.open(shop.train_export, "rt") as fh:
        invoices = {line.split(",", 1)[0] for line in fh.read().splitlines()[1:]}
    assert invoices == {str(580020 + i) for i in range(16)}
    assert (
        shop.catalog_csv.read_text()
        .splitlines()[1]
        .startswith("22697,Green Regency Teacup And Saucer,saucer,")
    )


def test_a_second_run_reuses_the_files_and_a_new_slice_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _export(tmp_path / "or.csv.gz", 40)
    first = prepare_shop(tmp_path / "shop", 20, source)

    def no_parse(*_a: object, **_k: object) -> None:
        raise AssertionError("parsed again")

    with monkeypatch.context() as m:
        m.setattr(evaluation.loaders, "load_orders", no_parse)
        again = prepare_shop(tmp_path / "shop", 20, source)
    assert again == first
    other = prepare_shop(tmp_path / "shop", 10, source)
    assert other.train_orders == 8 and len(other.holdout) == 2
