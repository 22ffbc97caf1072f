"""Read a CSV's data rows with pyarrow's streaming CSV reader, in column batches.

Why pyarrow and not polars: pyarrow's ``open_csv`` streams in blocks from any Python file
object, so the file goes through the same bounded, decompressing stream as every other reader
(``source.open_binary``: ``max_decompressed_bytes`` is counted as pyarrow pulls bytes, and the
row count is checked per block); it leaves every cell a string for the format's rules to judge,
and it dictionary-encodes each column while converting it (what ``Batch.encoded`` hands the
rules). polars reads a file object whole, and its batched and lazy readers take a path, so the
byte bound would only be checked after the expansion; and it would add a second dataframe
runtime for one job.

pyarrow splits fields exactly as the csv module does on ordinary rows (quotes, doubled quotes,
CR/LF/CRLF, BOM, text after a closing quote), but it does not say on which physical line a
record started, and it drops blank lines and malformed records rather than reporting them. So
the fast path only takes files where line numbers cannot drift: every record on one line, no
blank line, every record of the header's width, valid UTF-8, no NUL byte, no field past
``max_field_bytes``. Anything else raises ``NotPlain`` and the caller reads the file again with
the csv-module reader, which reports each of those rows as it always has.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from .batch import Rows
from .limits import LimitExceeded, Limits, resolve
from .report import IngestReport
from .source import Source, open_binary

BLOCK_BYTES = 4 << 20  # rows per batch, and the longest record the fast path takes


class NotPlain(Exception):
    """The file needs the csv-module reader (see the module docstring for what that is)."""


class _LineCounter(io.RawIOBase):
    """What pyarrow reads, with the csv module's line count: CR, LF and CRLF each end a line."""

    def __init__(self, stream: io.BufferedReader[Any]) -> None:
        super().__init__()
        self._stream = stream
        self.breaks = 0
        self.last = b""  # the last byte read (a CRLF may straddle two reads)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        if data:
            breaks = data.count(b"\n")
            if self.last == b"\r" or b"\r" in data:  # most files have no CR: one pass, not three
                crlf = data.count(b"\r\n") + (self.last == b"\r" and data[:1] == b"\n")
                breaks += data.count(b"\r") - crlf
            self.breaks += breaks
            self.last = data[-1:]
        return data

    def lines(self) -> int:
        """Physical lines read so far (a last line without a line break counts)."""
        return self.breaks + (self.last not in (b"", b"\n", b"\r"))


class ArrowBatch:
    """A ``Batch`` over one pyarrow record batch (every column dictionary-encoded strings)."""

    def __init__(self, lines: np.ndarray, batch: Any) -> None:  # a pyarrow RecordBatch
        self.lines = lines
        self._batch = batch

    def __len__(self) -> int:
        return self._batch.num_rows

    def encoded(self, column: int) -> tuple[np.ndarray, list[str]]:
        encoded = self._batch.column(column)
        codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
        dictionary = encoded.dictionary
        # the streaming reader's dictionary holds every value of the file so far (all 25,900
        # invoices by the last batch of Online Retail): hand over only this batch's values
        used = np.zeros(len(dictionary), dtype=bool)
        used[codes] = True
        present = np.flatnonzero(used)
        if present.size == len(dictionary):
            return codes, dictionary.to_pylist()
        dense = np.cumsum(used, dtype=np.int64) - 1
        return dense[codes], dictionary.take(present).to_pylist()

    def rows(self) -> Rows:
        columns = [c.to_pylist() for c in self._batch.columns]
        return zip(self.lines.tolist(), map(list, zip(*columns)))

    def row(self, i: int) -> list[str]:
        return [c[i].as_py() for c in self._batch.columns]


def arrow_batches(
    src: Source, report: IngestReport, width: int, limits: Limits | None = None
) -> Iterator[ArrowBatch]:
    """The data rows (header skipped) of a file whose header ``CsvTable`` already accepted.

    Counts ``report.rows`` like ``CsvTable.rows`` and raises the same ``LimitExceeded`` past
    ``max_rows`` (after handing over the rows before it). Raises ``NotPlain`` as soon as the
    file turns out not to be plain, or at the end if its line count shows a record spanning
    lines or a blank line.
    """
    # imported here: a process that never parses an upload (CLI, worker start) skips pyarrow
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    limits = resolve(limits)
    cells = pa.dictionary(pa.int32(), pa.string())
    malformed: list[int] = []

    def invalid(row: Any) -> str:
        malformed.append(row.number)
        return "skip"

    stream = open_binary(src, report.file, limits)
    counter = _LineCounter(stream)
    bounded = stream.raw
    names = [f"c{i}" for i in range(width)]
    rows = 0
    records = 0  # header included
    try:
        try:
            reader = pacsv.open_csv(
                counter,
                # one thread: the upload pool's process must leave the other core to the worker
                # (on the shared 2-core machine threads gave no gain: 605 ms against 506 ms)
                read_options=pacsv.ReadOptions(
                    column_names=names, use_threads=False, block_size=BLOCK_BYTES
                ),
                parse_options=pacsv.ParseOptions(invalid_row_handler=invalid),
                convert_options=pacsv.ConvertOptions(
                    # dictionary-encoded while converting: the rules judge distinct cells
                    column_types=dict.fromkeys(names, cells),
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
            for batch in reader:
                if malformed or bounded.nul_bytes:
                    raise NotPlain
                n = batch.num_rows
                if not n:
                    continue
                for column in batch.columns:
                    longest = pc.max(pc.binary_length(column.dictionary)).as_py()
                    if longest is not None and longest > limits.max_field_bytes:
                        raise NotPlain
                first_line = records + 1
                records += n
                if first_line == 1:  # the header record: CsvTable read it already
                    batch, n, first_line = batch.slice(1), n - 1, 2
                if rows + n > limits.max_rows:
                    allowed = limits.max_rows - rows
                    rows += allowed
                    if allowed:
                        yield ArrowBatch(
                            np.arange(first_line, first_line + allowed, dtype=np.int64),
                            batch.slice(0, allowed),
                        )
                    rows += 1
                    raise LimitExceeded(
                        "max_rows",
                        limits.max_rows,
                        f"more than {limits.max_rows} data rows",
                        file=report.file,
                    )
                rows += n
                if n:
                    yield ArrowBatch(np.arange(first_line, first_line + n, dtype=np.int64), batch)
        except pa.ArrowInvalid as exc:  # undecodable UTF-8, a record longer than a block
            raise NotPlain from exc
        except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
            raise NotPlain from exc  # the csv-module reader says after which line
        if malformed or bounded.nul_bytes or counter.lines() != records:
            raise NotPlain
    finally:
        report.rows += rows
        stream.close()
