"""``row_batches``: the csv-module reader's rows in batches, numbered column by column."""

from __future__ import annotations

import random

import pytest

from ingest.batch import SPLIT_ROWS, batch_rows, row_batches


def _rows(n: int, seed: int = 7) -> list[tuple[int, list[str]]]:
    rnd = random.Random(seed)
    return [
        (2 + 3 * i, [f"inv{i // 5}", rnd.choice("ABCDE"), str(rnd.randint(-3, 9)), ""])
        for i in range(n)
    ]


@pytest.mark.parametrize("n, size", [(0, 8), (1, 8), (SPLIT_ROWS * 3 + 17, 1000), (50, 7)])
def test_batches_give_back_every_row_and_cell(n, size):
    rows = _rows(n)
    batches = list(row_batches(rows, size))
    assert [len(b) for b in batches] == [min(size, n - k) for k in range(0, n, size)]
    assert list(batch_rows(batches)) == rows
    at = 0
    for batch in batches:
        assert batch.lines.tolist() == [line for line, _ in rows[at : at + len(batch)]]
        for i in range(len(batch)):
            assert batch.row(i) == rows[at + i][1]
        for column in range(4):
            codes, values = batch.encoded(column)
            cells = [cells[column] for _, cells in rows[at : at + len(batch)]]
            assert values == list(dict.fromkeys(cells))  # distinct, first seen first
            assert [values[c] for c in codes.tolist()] == cells
        at += len(batch)


def test_rows_of_another_width_are_refused():
    rows = _rows(SPLIT_ROWS + 5)
    rows[SPLIT_ROWS + 2] = (999, ["x", "y"])  # in the second part of the batch
    with pytest.raises(ValueError):
        list(row_batches(rows, 10 * SPLIT_ROWS))
