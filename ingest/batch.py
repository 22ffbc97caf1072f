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
from itertools import islice
from operator import itemgetter
from typing import Protocol

import numpy as np

ROWS_PER_BATCH = 8192

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
    """A batch over rows already split into cells (the csv-module reader)."""

    def __init__(self, lines: list[int], rows: list[list[str]]) -> None:
        self.lines = np.asarray(lines, dtype=np.int64)
        self._rows = rows
        self._encoded: dict[int, tuple[np.ndarray, list[str]]] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def encoded(self, column: int) -> tuple[np.ndarray, list[str]]:
        done = self._encoded.get(column)
        if done is not None:
            return done
        # map/dict builtins only: no Python frame per cell
        cells = list(map(itemgetter(column), self._rows))
        values = list(dict.fromkeys(cells))
        index = dict(zip(values, range(len(values))))
        codes = np.fromiter(map(index.__getitem__, cells), dtype=np.int64, count=len(cells))
        self._encoded[column] = codes, values
        return codes, values

    def rows(self) -> Rows:
        return zip(self.lines.tolist(), self._rows)

    def row(self, i: int) -> list[str]:
        return self._rows[i]


def row_batches(
    rows: Iterable[tuple[int, list[str]]], size: int = ROWS_PER_BATCH
) -> Iterator[Batch]:
    """Group ``(line, cells)`` rows into batches of at most ``size`` rows."""
    rows = iter(rows)
    while chunk := list(islice(rows, size)):
        lines, cells = zip(*chunk)
        yield RowBatch(list(lines), list(cells))


def batch_rows(batches: Iterable[Batch]) -> Rows:
    """The rows of the batches, in order."""
    for batch in batches:
        yield from batch.rows()
