"""Rows in blocks: what a vectorised format rule reads, whichever CSV reader produced them.

A rule that works on whole columns (``ingest.order_formats``, Online Retail) sees a ``Batch``:
the physical line of each row and, per column, the row's code into that column's distinct
values. A rule then decides once per distinct value (most columns of an order history repeat:
541,909 Online Retail rows hold 25,900 invoices and 4,070 products) and maps the verdicts back
to rows with numpy. The csv-module reader feeds ``row_batches``; the pyarrow reader
(``ingest.arrow_csv``) builds the codes in C. Row-at-a-time rules get rows back from either
(``batch_rows``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import count, islice
from typing import Protocol

import numpy as np

ROWS_PER_BATCH = 8192
SPLIT_ROWS = 256  # rows read before they are turned into columns (``row_batches``)

Rows = Iterator[tuple[int, list[str]]]


class Batch(Protocol):
    """Consecutive data rows of one file."""

    lines: np.ndarray  # (n,) int64: the physical line each row starts on

    def __len__(self) -> int: ...

    def encoded(self, column: int) -> tuple[np.ndarray, list[str]]:
        """(codes, values): row ``i``'s cell is ``values[codes[i]]``; values are distinct."""
        ...

    def rows(self) -> Rows:
        """(line, cells) per row, as the csv-module reader gives them."""
        ...

    def row(self, i: int) -> list[str]:
        """The cells of row ``i``."""
        ...


class RowBatch:
    """A batch over rows already split into cells (the csv-module reader), held encoded.

    ``row_batches`` numbers each column's cells as it reads them: ``index`` maps a distinct
    cell to the position of its first row, ``codes`` gives that position per row. ``encoded``
    turns those into dense codes only for the columns a rule asks for.
    """

    def __init__(
        self, lines: list[int], indexes: list[dict[str, int]], codes: list[list[int]]
    ) -> None:
        self.lines = np.asarray(lines, dtype=np.int64)
        self._indexes = indexes
        self._codes = codes
        self._encoded: dict[int, tuple[np.ndarray, list[str]]] = {}

    def __len__(self) -> int:
        return len(self.lines)

    def encoded(self, column: int) -> tuple[np.ndarray, list[str]]:
        done = self._encoded.get(column)
        if done is not None:
            return done
        index = self._indexes[column]
        # first-row positions -> 0..n-1 in first-seen order, the order of ``values``
        dense = np.empty(len(self.lines), dtype=np.int64)
        dense[np.fromiter(index.values(), dtype=np.int64, count=len(index))] = np.arange(len(index))
        codes = dense[np.asarray(self._codes[column], dtype=np.int64)]
        values = list(index)
        self._encoded[column] = codes, values
        return codes, values

    def rows(self) -> Rows:
        columns = []
        for column in range(len(self._codes)):
            codes, values = self.encoded(column)
            columns.append(list(map(values.__getitem__, codes.tolist())))
        return zip(self.lines.tolist(), map(list, zip(*columns)))

    def row(self, i: int) -> list[str]:
        cells = []
        for column in range(len(self._codes)):
            codes, values = self.encoded(column)
            cells.append(values[codes[i]])
        return cells


def row_batches(
    rows: Iterable[tuple[int, list[str]]], size: int = ROWS_PER_BATCH
) -> Iterator[Batch]:
    """Group ``(line, cells)`` rows, all of one width, into batches of at most ``size`` rows.

    The rows are numbered column by column ``SPLIT_ROWS`` at a time (``RowBatch``), so no
    more than that many row lists are alive at once. Row lists that lived through a whole
    batch would reach the collector's oldest generation and set off full collections over
    everything the process holds; these die young, freed by reference counting, and the batch
    holds a few lists and dicts of distinct cells rather than thousands of rows.
    """
    rows = iter(rows)
    while True:
        lines: list[int] = []
        indexes: list[dict[str, int]] = []
        codes: list[list[int]] = []
        while len(lines) < size:
            part = list(islice(rows, min(SPLIT_ROWS, size - len(lines))))
            if not part:
                break
            part_lines, cells = zip(*part)
            del part
            first = len(lines)
            lines.extend(part_lines)
            columns = list(zip(*cells, strict=True))
            if not indexes:
                indexes = [{} for _ in columns]
                codes = [[] for _ in columns]
            # per cell: the position of the first row holding it (this row's if it is new)
            for index, column_codes, column in zip(indexes, codes, columns, strict=True):
                column_codes.extend(map(index.setdefault, column, count(first)))
        if not lines:
            return
        yield RowBatch(lines, indexes, codes)


def batch_rows(batches: Iterable[Batch]) -> Rows:
    """The rows of the batches, in order."""
    for batch in batches:
        yield from batch.rows()
