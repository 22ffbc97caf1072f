"""Rows -> orders: group consecutive line-item rows into ``OrderEvent``s while streaming.

Exports list an order's rows together, but not always strictly (Online Retail has one invoice
split by another). A small window of open orders absorbs that without buffering whole files;
a row whose order was already emitted is a bad row, never a silent second event.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from models import OrderEvent

from .cells import safe_text
from .limits import LimitExceeded
from .report import IngestReport

MAX_LINES = 1000  # OrderEvent.lines max_length
OPEN_WINDOW = 64  # orders kept open while later orders start


class _Open:
    __slots__ = ("created_at", "currency", "customer_id", "line_numbers", "lines", "order_id")

    def __init__(
        self, order_id: str, created_at: datetime, currency: str, customer_id: str | None
    ) -> None:
        self.order_id = order_id
        self.created_at = created_at
        self.currency = currency
        self.customer_id = customer_id
        self.lines: list[dict[str, Any]] = []
        self.line_numbers: list[list[int]] = []  # per line item: the physical rows merged into it


class OrderGrouper:
    """Accumulates lines per order and hands back finished events in input order."""

    def __init__(
        self,
        report: IngestReport,
        store_id: str,
        source: str = "replay",
        *,
        max_lines_per_order: int | None = None,
    ) -> None:
        self.report = report
        self.max_lines_per_order = max_lines_per_order
        self.store_id = store_id
        self.source = source
        self.open: OrderedDict[str, _Open] = OrderedDict()
        self.emitted: dict[str, int] = {}
        self.ready: list[OrderEvent] = []

    def get(self, order_id: str, line: int) -> _Open | None:
        """The open order, or None when it was already emitted (records the bad row)."""
        order = self.open.get(order_id)
        if order is None and order_id in self.emitted:
            self.report.bad(
                line,
                "order_not_contiguous",
                f"order {order_id!r} already emitted (its rows ended near line {self.emitted[order_id]})",
            )
        return order

    def start(
        self, order_id: str, created_at: datetime, currency: str, customer_id: str | None
    ) -> _Open:
        order = _Open(order_id, created_at, currency, customer_id)
        self.open[order_id] = order
        if len(self.open) > OPEN_WINDOW:
            self._flush(self.open.popitem(last=False)[1])
        return order

    def add(self, order: _Open, line: int, item: dict[str, Any]) -> None:
        order.lines.append(item)
        order.line_numbers.append([line])

    def merge_row(self, order: _Open, item_index: int, line: int) -> None:
        """A further row folded into an existing line item (e.g. Olist: one row per unit)."""
        order.lines[item_index]["quantity"] += 1
        order.line_numbers[item_index].append(line)

    def drain(self) -> Iterator[OrderEvent]:
        if self.ready:
            ready, self.ready = self.ready, []
            yield from ready

    def finish(self) -> Iterator[OrderEvent]:
        while self.open:
            self._flush(self.open.popitem(last=False)[1])
        yield from self.drain()

    def check_size(self, order_id: str, n_lines: int) -> None:
        """An order longer than ``max_lines_per_order`` makes the file unusable (checked per order
        as it is emitted, so the hot row loops pay nothing)."""
        limit = self.max_lines_per_order
        if limit is not None and n_lines > limit:
            raise LimitExceeded(
                "max_lines_per_order",
                limit,
                f"order {order_id[:80]!r} with {n_lines} lines",
                file=self.report.file,
            )

    def _flush(self, order: _Open) -> None:
        self.check_size(order.order_id, len(order.lines))
        report = self.report
        self.emitted[order.order_id] = order.line_numbers[-1][-1] if order.line_numbers else 0
        if not order.lines:
            report.skipped_orders["no_valid_lines"] += 1
            return
        lines = order.lines
        parts = [lines[i : i + MAX_LINES] for i in range(0, len(lines), MAX_LINES)]
        if len(parts) > 1:
            report.split_orders += 1
        base_id, was_formula = safe_text(order.order_id)
        if was_formula:
            report.warn(
                order.line_numbers[0][0], "formula_neutralised", f"order id {order.order_id[:40]!r}"
            )
        for n, part in enumerate(parts, start=1):
            numbers = order.line_numbers[(n - 1) * MAX_LINES : (n - 1) * MAX_LINES + len(part)]
            order_id = base_id if len(parts) == 1 else f"{base_id}#part{n}of{len(parts)}"
            try:
                event = OrderEvent.model_validate(
                    {
                        "order_id": order_id,
                        "store_id": self.store_id,
                        "lines": part,
                        "created_at": order.created_at,
                        "currency": order.currency,
                        "customer_id": order.customer_id,
                        "source": self.source,
                    }
                )
            except ValidationError as exc:
                detail = exc.errors()[0]
                for rows in numbers:
                    for line in rows:
                        report.bad(
                            line,
                            "invalid_order",
                            f"{'.'.join(map(str, detail['loc']))}: {detail['msg']}",
                        )
                continue
            report.used_rows += sum(len(rows) for rows in numbers)
            report.events += 1
            self.ready.append(event)
