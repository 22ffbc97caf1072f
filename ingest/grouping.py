"""Rows -> orders: group consecutive line-item rows into orders while streaming.

Exports list an order's rows together, but not always strictly (Online Retail has one invoice
split by another). A small window of open orders absorbs that without buffering whole files;
a row whose order was already emitted is a bad row, never a silent second event.

``OrderWindow`` is that window and what happens when an order closes (size limit, the
1,000-line split into ``id#partNofM``, accounting). How an open order stores its lines and what a
closed part becomes is up to the subclass: ``OrderGrouper`` here builds ``OrderEvent``s, the
columnar reader (``ingest.columnar``) appends to flat lists.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import ValidationError

from models.orders import OrderEvent

from .cells import safe_text
from .limits import LimitExceeded
from .report import IngestReport

if TYPE_CHECKING:
    from .blocks import BlockWindow

MAX_LINES = 1000  # OrderEvent.lines max_length
OPEN_WINDOW = 64  # orders kept open while later orders start


class OpenOrder:
    """An order whose rows are still arriving; ``lines`` holds one entry per line item."""

    __slots__ = ("created_at", "currency", "customer_id", "lines", "order_id")

    def __init__(
        self, order_id: str, created_at: datetime, currency: str, customer_id: str | None
    ) -> None:
        self.order_id = order_id
        self.created_at = created_at
        self.currency = currency
        self.customer_id = customer_id
        self.lines: list[Any] = []


Order = TypeVar("Order", bound=OpenOrder)
# line numbers, product keys, quantities, prices, title keys of consecutive lines of one order
RunColumns = tuple[list[int], list[Any], list[int], list[float], list[Any]]


class OrderWindow(Generic[Order]):
    """The open-order window shared by every reader, and the bookkeeping of closing an order.

    A subclass says how lines are stored: ``order_type``, ``add``, ``merge_row``, the run
    columns of the hot loop with their storage keys (``run_columns``, ``end_run``,
    ``product_key``, ``title_key``), ``rows_of`` (the physical rows of a line item), and
    ``emit`` (one part of a closed order, at most ``MAX_LINES`` lines).
    """

    order_type: type[Order]  # what ``start`` opens

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
        self.open: OrderedDict[str, Order] = OrderedDict()
        self.emitted: dict[str, int] = {}  # order id -> the last physical row it used
        self.ready: list[OrderEvent] = []

    # -- storage, per subclass ---------------------------------------------------------------

    def add(
        self,
        order: Order,
        line: int,
        product_id: str,
        quantity: int,
        price: float,
        title: str,
        category: str,
    ) -> None:
        """One line item (``""``: no title, no category)."""
        raise NotImplementedError

    def run_columns(self) -> RunColumns:
        """The lists a hot loop appends consecutive line items of one order to: (line, product
        key, quantity, price, title key), without categories, quantities already checked to be
        ``0 < quantity <= 1,000,000``. ``end_run`` then gives the run to its order."""
        raise NotImplementedError

    def end_run(self, order: Order) -> None:
        """What was appended to ``run_columns`` since it was asked for or since the last
        ``end_run`` are lines of ``order``. Called before another order starts: a start may close
        this one. A format's rules use either the run columns or ``add``, never both."""
        raise NotImplementedError

    def merge_row(self, order: Order, item_index: int, line: int) -> None:
        """A further row folded into an existing line item (e.g. Olist: one row per unit)."""
        raise NotImplementedError

    def product_key(self, product_id: str) -> Any:
        raise NotImplementedError

    def title_key(self, title: str) -> Any:
        """The key of a line's title; ``""`` means none."""
        raise NotImplementedError

    def rows_of(self, order: Order, item_index: int) -> list[int]:
        raise NotImplementedError

    def emit(self, order_id: str, order: Order, start: int, stop: int) -> None:
        """Lines ``start:stop`` of a closed order, as the order ``order_id``: an event, or bad
        rows (``invalid_order``) when the model refuses it."""
        raise NotImplementedError

    def block_window(self) -> BlockWindow | None:
        """The window over whole blocks of rows (``ingest.blocks``), for groupers that keep
        columns; None: rules hand rows over one run at a time."""
        return None

    # -- the window ----------------------------------------------------------------------------

    def get(self, order_id: str, line: int) -> Order | None:
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
    ) -> Order:
        order = self.order_type(order_id, created_at, currency, customer_id)
        self.open[order_id] = order
        if len(self.open) > OPEN_WINDOW:
            self.close(self.open.popitem(last=False)[1])
        return order

    def drain(self) -> Iterator[OrderEvent]:
        """The events closed so far (``ready`` stays the same list: loops may hold it)."""
        if self.ready:
            ready = self.ready.copy()
            self.ready.clear()
            yield from ready

    def finish(self) -> Iterator[OrderEvent]:
        while self.open:
            self.close(self.open.popitem(last=False)[1])
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

    def close(self, order: Order) -> None:
        """Emit an order that left the window: split past ``MAX_LINES``, id formula-safe."""
        n = len(order.lines)
        first, last = (self.rows_of(order, 0)[0], self.rows_of(order, n - 1)[-1]) if n else (0, 0)
        for order_id, start, stop in self.parts(order.order_id, n, first, last):
            self.emit(order_id, order, start, stop)

    def parts(
        self, order_id: str, n: int, first_line: int, last_line: int
    ) -> list[tuple[str, int, int]]:
        """The bookkeeping of closing an order of ``n`` lines whose rows span ``first_line`` to
        ``last_line``: the size limit, the emitted id, the split and the formula warning; then
        the parts to emit as (event order id, first line item, end)."""
        self.check_size(order_id, n)
        report = self.report
        self.emitted[order_id] = last_line
        if not n:
            report.skipped_orders["no_valid_lines"] += 1
            return []
        n_parts = -(-n // MAX_LINES)
        if n_parts > 1:
            report.split_orders += 1
        base_id, was_formula = safe_text(order_id)
        if was_formula:
            report.warn(first_line, "formula_neutralised", f"order id {order_id[:40]!r}")
        return [
            (
                base_id if n_parts == 1 else f"{base_id}#part{k + 1}of{n_parts}",
                k * MAX_LINES,
                min(n, (k + 1) * MAX_LINES),
            )
            for k in range(n_parts)
        ]

    def event_fields(
        self, order_id: str, order: Order, lines: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """What ``OrderEvent.model_validate`` gets for one part of an order."""
        return {
            "order_id": order_id,
            "store_id": self.store_id,
            "lines": lines,
            "created_at": order.created_at,
            "currency": order.currency,
            "customer_id": order.customer_id,
            "source": self.source,
        }


def invalid_reason(exc: ValidationError) -> str:
    """The bad-row reason of an order the model refuses: its first error, located."""
    detail = exc.errors()[0]
    return f"{'.'.join(map(str, detail['loc']))}: {detail['msg']}"


class _EventOrder(OpenOrder):
    __slots__ = ("line_numbers",)

    def __init__(
        self, order_id: str, created_at: datetime, currency: str, customer_id: str | None
    ) -> None:
        # set here rather than through OpenOrder.__init__: one call less per order
        self.order_id = order_id
        self.created_at = created_at
        self.currency = currency
        self.customer_id = customer_id
        self.lines: list[Any] = []
        self.line_numbers: list[list[int]] = []  # per line item: the physical rows merged into it


class OrderGrouper(OrderWindow[_EventOrder]):
    """Lines kept as dicts per order; a closed order becomes ``OrderEvent``s, handed back in
    input order by ``drain``/``finish``."""

    def __init__(
        self,
        report: IngestReport,
        store_id: str,
        source: str = "replay",
        *,
        max_lines_per_order: int | None = None,
    ) -> None:
        super().__init__(report, store_id, source, max_lines_per_order=max_lines_per_order)
        self.order_type = _EventOrder
        self._run: RunColumns = ([], [], [], [], [])  # rows of the current run, until end_run

    def add(
        self,
        order: _EventOrder,
        line: int,
        product_id: str,
        quantity: int,
        price: float,
        title: str,
        category: str,
    ) -> None:
        item: dict[str, Any] = {"product_id": product_id, "quantity": quantity, "price": price}
        if title:
            item["title"] = title
        if category:
            item["category"] = category
        order.lines.append(item)
        order.line_numbers.append([line])

    def run_columns(self) -> RunColumns:
        return self._run

    def end_run(self, order: _EventOrder) -> None:
        lines, products, quantities, prices, titles = self._run
        order.lines.extend(
            [
                {"product_id": product, "quantity": quantity, "price": price, "title": title}
                if title
                else {"product_id": product, "quantity": quantity, "price": price}
                for product, quantity, price, title in zip(
                    products, quantities, prices, titles, strict=True
                )
            ]
        )
        order.line_numbers.extend([[line] for line in lines])
        for column in self._run:
            column.clear()  # in place: the loop holds their append methods

    def merge_row(self, order: _EventOrder, item_index: int, line: int) -> None:
        order.lines[item_index]["quantity"] += 1
        order.line_numbers[item_index].append(line)

    # Lines carry their text as it is.
    def product_key(self, product_id: str) -> str:
        return product_id

    def title_key(self, title: str) -> str:
        return title

    def rows_of(self, order: _EventOrder, item_index: int) -> list[int]:
        return order.line_numbers[item_index]

    def emit(self, order_id: str, order: _EventOrder, start: int, stop: int) -> None:
        report = self.report
        numbers = order.line_numbers[start:stop]
        try:
            event = OrderEvent.model_validate(
                self.event_fields(order_id, order, order.lines[start:stop])
            )
        except ValidationError as exc:
            reason = invalid_reason(exc)
            for rows in numbers:
                for line in rows:
                    report.bad(line, "invalid_order", reason)
            return
        report.used_rows += sum(len(rows) for rows in numbers)
        report.events += 1
        self.ready.append(event)
