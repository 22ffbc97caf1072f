"""Order histories -> ``OrderEvent``s: UCI Online Retail, Olist order items, Shopify orders export,
generic CSV (the formats and their rules: ``ingest.order_formats``).

Pure parsing, no Kafka. ``OrderStream`` validates the header when created (so a CLI fails before
connecting anywhere) and yields events lazily, which keeps a 541,909-row replay at a flat memory
profile. Every data row ends as part of an event, a counted skip or a bad row (``report.accounted``).
The columnar reader (``ingest.columnar``) runs the same stream with its own grouper, and for
formats whose rules take column batches with pyarrow splitting the rows (``reader``).

With ``adjustments=True`` (replays) cancellations and refunds come out as events too
(``ingest.order_formats.Adjustments``); without, they are skipped as the bundle engine wants.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

from models.orders import OrderEvent

from .arrow_csv import arrow_batches
from .batch import batch_rows
from .collector import collector_paused
from .errors import IngestError
from .grouping import OrderGrouper, OrderWindow
from .limits import Limits
from .order_formats import FORMATS, ORDER_FORMATS, SIGNATURES, Adjustments, RowContext
from .report import IngestReport
from .source import CsvTable, Source, detect, source_name

__all__ = [
    "ORDER_FORMATS",
    "SIGNATURES",
    "OrderStream",
    "detect_orders_format",
    "open_orders",
    "read_orders",
]

# which CSV reader splits the rows: the csv module, or pyarrow (``ingest.arrow_csv``)
Reader = Literal["csv", "pyarrow"]
# (report, store id, source kind, max lines per order) -> the grouper the rows go to
GrouperFactory = Callable[[IngestReport, str, str, int | None], OrderWindow[Any]]


def _event_grouper(
    report: IngestReport, store_id: str, source: str, max_lines_per_order: int | None
) -> OrderWindow[Any]:
    return OrderGrouper(report, store_id, source, max_lines_per_order=max_lines_per_order)


class OrderStream:
    """Iterate once to get the events; ``report`` holds the row accounting afterwards.

    ``grouper`` decides what the rows are collected into (default: ``OrderEvent``s); the
    format's rules, the header checks and the row accounting are the same whatever it is.
    """

    def __init__(
        self,
        source: Source,
        fmt: str | None = None,
        *,
        store_id: str = "default",
        name: str | None = None,
        categories: Mapping[str, str] | None = None,
        currency: str | None = None,
        source_kind: str = "replay",
        limits: Limits | None = None,
        grouper: GrouperFactory = _event_grouper,
        adjustments: bool = False,
        reader: Reader | None = "csv",
    ) -> None:
        self.report = IngestReport(file=source_name(source, name))
        self.table = CsvTable(source, self.report, limits)
        self.source = source
        try:
            if fmt is None:
                fmt = detect(self.table.header, SIGNATURES, self.report.file, "orders")
            elif fmt not in FORMATS:
                raise IngestError(
                    f"unknown orders format {fmt!r} (one of {', '.join(ORDER_FORMATS)})",
                    file=self.report.file,
                )
            spec = FORMATS[fmt]
            self.cols = self.table.columns(spec.required, spec.optional, fmt)
        except IngestError:
            self.table.close()
            raise
        self.format = self.report.format = fmt
        self.spec = spec
        # None: pyarrow where it pays, for rules written over column batches. Row-at-a-time
        # rules gain nothing from it, and on a small export with many columns pyarrow's set-up
        # per column costs more than the csv module's whole read (Shopify's 19-order sample:
        # ~10 ms against ~1 ms).
        self.reader: Reader = reader or ("pyarrow" if spec.batches is not None else "csv")
        self.currency = currency or spec.currency
        self.grouper = grouper(
            self.report, store_id, source_kind, self.table.limits.max_lines_per_order
        )
        self.context = RowContext(
            self.cols, self.report, self.grouper, self.currency, categories or {}
        )
        if adjustments:
            self.context.adjustments = Adjustments(
                store_id, source_kind, self.currency, self.report
            )

    def __iter__(self) -> Iterator[OrderEvent]:
        return collector_paused_between(self._events())

    def _events(self) -> Iterator[OrderEvent]:
        started = time.perf_counter()
        grouper, seen = self.grouper, self.context.seen
        adjustments = self.context.adjustments
        try:
            if self.reader == "pyarrow":
                yield from self._arrow()
                yield from grouper.finish()
            elif adjustments is None:
                yield from self.spec.rows(self.context, self.table.rows())
                yield from grouper.finish()
            else:
                for event in self.spec.rows(self.context, self.table.rows()):
                    yield event
                    yield from adjustments.after(event)
                for event in grouper.finish():
                    yield event
                    yield from adjustments.after(event)
            empty = len(seen) - len(seen.intersection(grouper.emitted))
            if empty:
                self.report.skipped_orders["no_valid_lines"] += empty
        finally:
            self.table.close()
            self.report.parse_ms += (time.perf_counter() - started) * 1000

    def _arrow(self) -> Iterator[OrderEvent]:
        """The same rules over pyarrow's batches (``NotPlain``: read the file with ``reader="csv"``).

        Not for replays: a replay streams events out as it goes, and a file found not plain
        half-way could not be taken back.
        """
        if self.context.adjustments is not None:
            raise ValueError("a replay with adjustments reads with the csv module")
        self.table.close()  # it read the header; pyarrow reads the file from its start
        batches = arrow_batches(self.source, self.report, self.table.width, self.table.limits)
        if self.spec.batches is not None:
            yield from self.spec.batches(self.context, batches)
        else:
            yield from self.spec.rows(self.context, batch_rows(batches))


def open_orders(source: Source, fmt: str | None = None, **kwargs: Any) -> OrderStream:
    """Validate the header now, stream events later. Raises IngestError for an unusable file."""
    return OrderStream(source, fmt, **kwargs)


def adjustment_counts(stream: OrderStream) -> dict[str, int]:
    """Cancellation and refund events a replay stream made so far (and unmatched refund rows)."""
    adjustments = stream.context.adjustments
    return {} if adjustments is None else dict(adjustments.counts)


def collector_paused_between(events: Iterator[OrderEvent]) -> Iterator[OrderEvent]:
    """``events`` run with the cyclic GC paused; the caller's code between two events runs with
    the collector as the caller had it.

    The rules' work between two events allocates many short-lived containers (a batch of rows
    at a time, for Online Retail); with the collector on, they trigger collections that walk
    whatever else the process holds, ~1 s of a ~6 s Online Retail replay. ``read_orders`` can
    pause it for its whole run; a stream cannot pause it for its caller, who runs while the
    stream is suspended. So it is off on every resume and back as found before each event, on
    an exception and on close. Reference counting still frees whatever the rules drop.
    """
    try:
        while True:
            was_enabled = gc.isenabled()
            gc.disable()
            try:
                event = next(events)
            except StopIteration:
                return
            finally:
                if was_enabled:
                    gc.enable()
            yield event
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()


def read_orders(
    source: Source, fmt: str | None = None, **kwargs: Any
) -> tuple[list[OrderEvent], IngestReport]:
    """Everything in memory: convenient for the evaluation loader and tests."""
    stream = OrderStream(source, fmt, **kwargs)
    with collector_paused():
        events = list(stream)
    return events, stream.report


def detect_orders_format(source: Source, name: str | None = None) -> str:
    stream = OrderStream(source, None, name=name)
    stream.table.close()
    return stream.format
