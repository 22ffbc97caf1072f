"""The hostile-input suite's bombs are real: valid archives whose content is valid CSV rows.

A bomb that failed its CRC or held garbage would be refused for the wrong reason and the suite
would pass without ever testing the expansion limits.
"""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
from pathlib import Path

from tests.integration.hostile_files import (
    BLOCK_BYTES,
    CATALOG_HEADER,
    ORDERS_HEADER,
    gzip_bomb,
    long_line_gzip,
    wide_header,
    zip_bomb,
)

# Two rows blocks (BLOCK_BYTES each): enough to exercise the repeated-block path of the writers,
# the integration suite's bombs only repeat it more often.
TWO_BLOCKS = 2 * BLOCK_BYTES


def test_gzip_bomb_is_valid_gzip_of_valid_catalog_rows(tmp_path: Path) -> None:
    bomb = gzip_bomb(tmp_path / "c.csv.gz", TWO_BLOCKS)
    data = gzip.decompress(bomb.read_bytes())  # checks the CRC and the length trailer
    assert TWO_BLOCKS - BLOCK_BYTES < len(data) <= TWO_BLOCKS
    assert bomb.stat().st_size * 200 < len(data), (
        "a bomb compresses by two orders of magnitude or more"
    )
    rows = list(csv.reader(io.StringIO(data.decode())))
    assert rows[0] == CATALOG_HEADER.decode().strip().split(",")
    assert all(len(r) == 4 and float(r[3]) > 0 for r in rows[1:])


def test_zip_bomb_is_a_valid_zip_of_valid_order_lines(tmp_path: Path) -> None:
    bomb = zip_bomb(tmp_path / "o.zip", TWO_BLOCKS)
    with zipfile.ZipFile(bomb) as zf:
        assert zf.testzip() is None and zf.namelist() == ["orders.csv"]
        data = zf.read("orders.csv")
    assert data.startswith(ORDERS_HEADER) and TWO_BLOCKS - BLOCK_BYTES < len(data) <= TWO_BLOCKS
    rows = list(csv.reader(io.StringIO(data.decode())))
    assert all(len(r) == 5 and int(r[2]) == 1 for r in rows[1:])


def test_long_line_and_wide_header(tmp_path: Path) -> None:
    line = gzip.decompress(long_line_gzip(tmp_path / "l.csv.gz", 3 << 20).read_bytes()).split(b"\n")
    assert len(line[1]) > 3 << 20
    header, row, _ = wide_header(1000).split(b"\n")
    assert len(header.split(b",")) == len(row.split(b",")) == 1000
