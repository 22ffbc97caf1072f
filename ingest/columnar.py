"""Order histories as columns: the same orders, skips, bad rows and grouping as ``ingest.orders``,
without building one pydantic ``OrderEvent`` per order.

The bundle engine needs (order, product, quantity, price) columns, not 20,000 validated models.
``read_order_lines`` runs the same ``OrderStream`` as ``read_orders`` (header checks, format
detection, row accounting, the format's rules from ``ingest.order_formats``, the
``no_valid_lines`` epilogue). For a format whose rules take column batches (Online Retail) the
rows come from pyarrow's streaming reader (``ingest.arrow_csv``), through the same bounded
stream and limits, falling back to the csv module for a file pyarrow cannot number lines in.
The stream gets a different grouper: ``ColumnGrouper`` keeps the shared
open-order window, eviction order, ``order_not_contiguous`` bad rows and 1,000-line split
(``ingest.grouping.OrderWindow``) but appends line items to flat lists (ids dict-encoded in
first-seen order) and validates an order with pydantic only when a cheap check cannot prove it
valid. Rules that hand over whole blocks of rows (Online Retail's) get the same window as numpy
over each block (``block_window``, ``ingest.blocks``).

Equivalence with ``read_orders`` is tested on the real files (tests/unit/ingest/test_columnar*.py,
test_blocks.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import repeat
from typing import Any

import numpy as np
import scipy.sparse as sp
from pydantic import TypeAdapter, ValidationError

from models.common import Currency, Id
from models.orders import OrderEvent

from .arrow_csv import NotPlain
from .blocks import BlockWindow
from .collector import collector_paused
from .grouping import OpenOrder, OrderWindow, RunColumns, invalid_reason
from .limits import Limits
from .order_formats import MAX_ID, MAX_QUANTITY
from .orders import OrderStream, Reader
from .report import IngestReport
from .source import Source

__all__ = ["ColumnGrouper", "OrderLines", "read_order_lines"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURRENCY = TypeAdapter(Currency)
_ID = TypeAdapter(Id)


def _valid(adapter: TypeAdapter, value: Any) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


# -- the result ------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class OrderLines:
    """A parsed order history, one row per order line, lines grouped by order.

    Orders are the events ``read_orders`` would emit, in the same order (an order of more than
    1,000 lines is several orders ``id#partNofM``, as there). Lines of order ``k`` are
    ``line_offsets[k]:line_offsets[k + 1]``, in file order; ``line_order`` says the same per line.
    Products are dict-encoded in first-seen order; ``titles``/``categories`` encode the per-line
    text (-1: none) so ``to_order_events`` rebuilds the events exactly.
    """

    order_ids: np.ndarray  # (n_orders,) object: event order ids
    order_created_at: np.ndarray  # (n_orders,) datetime64[s], UTC
    line_order: np.ndarray  # (n_lines,) int32 -> order_ids
    product_ids: np.ndarray  # (n_products,) object
    line_product: np.ndarray  # (n_lines,) int32 -> product_ids
    quantity: np.ndarray  # (n_lines,) int32
    price: np.ndarray  # (n_lines,) float64, unit price
    product_titles: np.ndarray  # (n_products,) object: last non-empty title seen, else None
    product_categories: np.ndarray  # (n_products,) object: last non-empty category seen, else None
    currency: str  # the currency of every order when they share one, else the default
    store_id: str
    report: IngestReport
    line_offsets: np.ndarray  # (n_orders + 1,) int64, CSR-style row pointer
    order_currency: np.ndarray  # (n_orders,) object
    order_customer: np.ndarray  # (n_orders,) object (str or None)
    line_title: np.ndarray  # (n_lines,) int32 -> titles, -1 for none
    titles: np.ndarray  # object
    line_category: np.ndarray  # (n_lines,) int32 -> categories, -1 for none
    categories: np.ndarray  # object
    source: str = "replay"
    # exact order datetimes (tz offset and microseconds kept) for to_order_events
    order_created: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object), repr=False)
    reader: str = "csv"  # the CSV reader that split the rows: "pyarrow" or "csv"

    @property
    def n_orders(self) -> int:
        return int(self.order_ids.size)

    @property
    def n_lines(self) -> int:
        return int(self.line_order.size)

    @property
    def n_products(self) -> int:
        return int(self.product_ids.size)

    def to_order_events(self) -> list[OrderEvent]:
        """The ``OrderEvent``s ``read_orders`` returns for the same file (slow path: pydantic)."""
        pids = self.product_ids.tolist()
        titles, cats = self.titles.tolist(), self.categories.tolist()
        lp, q, p = self.line_product.tolist(), self.quantity.tolist(), self.price.tolist()
        lt, lc = self.line_title.tolist(), self.line_category.tolist()
        off = self.line_offsets.tolist()
        events = []
        validate = OrderEvent.model_validate
        for k, order_id in enumerate(self.order_ids.tolist()):
            lines = []
            for i in range(off[k], off[k + 1]):
                item: dict[str, Any] = {"product_id": pids[lp[i]], "quantity": q[i], "price": p[i]}
                if lt[i] >= 0:
                    item["title"] = titles[lt[i]]
                if lc[i] >= 0:
                    item["category"] = cats[lc[i]]
                lines.append(item)
            events.append(
                validate(
                    {
                        "order_id": order_id,
                        "store_id": self.store_id,
                        "lines": lines,
                        "created_at": self.order_created[k],
                        "currency": self.order_currency[k],
                        "customer_id": self.order_customer[k],
                        "source": self.source,
                    }
                )
            )
        return events

    def baskets(self) -> sp.csr_matrix:
        """Orders x products, bool; a product twice in one order counts once. Sorted indices."""
        X = sp.csr_matrix(
            (np.ones(self.n_lines, dtype=bool), self.line_product, self.line_offsets),
            shape=(self.n_orders, self.n_products),
            copy=True,  # sum_duplicates works in place
        )
        X.sum_duplicates()  # sorts indices per row and merges repeats (True + True stays True)
        return X

    def median_price(self) -> np.ndarray:
        """Per product, ``sorted(prices)[n // 2]`` over its lines (``catalog_from_orders``'s rule)."""
        order = np.lexsort((self.price, self.line_product))
        counts = np.bincount(self.line_product, minlength=self.n_products)
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        out = np.full(self.n_products, np.nan)
        has = counts > 0
        out[has] = self.price[order[starts[has] + counts[has] // 2]]
        return out


# -- the grouper -----------------------------------------------------------------------------------


class _Open(OpenOrder):
    """An open order: its line items are positions into the grouper's flat lists."""

    __slots__ = ("suspect",)

    def __init__(
        self, order_id: str, created_at: datetime, currency: str, customer_id: str | None
    ) -> None:
        # set here rather than through OpenOrder.__init__: one call less per order
        self.order_id = order_id
        self.created_at = created_at
        self.currency = currency
        self.customer_id = customer_id
        self.lines: list[Any] = []
        self.suspect = False  # something pydantic might refuse: validate this order for real


class ColumnGrouper(OrderWindow[_Open]):
    """Line items appended to flat per-line lists instead of dicts; a closed order is a run of
    positions (``perm``) and one ``events`` entry, validated with pydantic only when a cheap check
    cannot prove it valid (a 200+ character id after formula neutralising, an odd currency, an
    invalid store id, a quantity out of range). The verdict, bad rows and their reason text then
    come from pydantic itself, exactly as in ``OrderGrouper``.
    """

    def __init__(
        self,
        report: IngestReport,
        store_id: str,
        source: str = "replay",
        *,
        max_lines_per_order: int | None = None,
    ) -> None:
        super().__init__(report, store_id, source, max_lines_per_order=max_lines_per_order)
        self.order_type = _Open
        self.products: dict[str, int] = {}
        self.titles: dict[str, int] = {}
        self.categories: dict[str, int] = {}
        self.long_products: set[int] = set()  # codes of product ids over 200 characters
        self.line_no: list[int] = []  # physical line of each item's first row
        self.product: list[int] = []
        self.quantity: list[int] = []
        self.price: list[float] = []
        self.title: list[int] = []
        self.category: list[int] = []
        self.extra: dict[int, list[int]] = {}  # item position -> further rows merged into it
        self.perm: list[int] = []  # item positions of emitted events, event after event
        self.events: list[tuple[str, _Open, int]] = []  # (order id, order, n lines)
        self._currency_ok: dict[str, bool] = {}
        self.store_ok = _valid(_ID, store_id)
        self._run_start = 0  # where the lines of the current run start (``end_run``)
        self.blocks: BlockWindow | None = None  # rules that hand over blocks (``block_window``)

    def add(
        self,
        order: _Open,
        line: int,
        product_id: str,
        quantity: int,
        price: float,
        title: str,
        category: str,
    ) -> None:
        line_no = self.line_no
        order.lines.append(len(line_no))
        if not 0 < quantity <= MAX_QUANTITY:
            order.suspect = True
        product = self.products.get(product_id)
        line_no.append(line)
        self.product.append(self.product_key(product_id) if product is None else product)
        self.quantity.append(quantity)
        self.price.append(price)
        self.title.append(self.titles.setdefault(title, len(self.titles)) if title else -1)
        self.category.append(
            self.categories.setdefault(category, len(self.categories)) if category else -1
        )

    def run_columns(self) -> RunColumns:
        # the storage itself: a run costs the hot loop five appends per row, nothing more (a
        # format's rules use either runs or ``add``, so runs start where the columns end now)
        self._run_start = len(self.line_no)
        return self.line_no, self.product, self.quantity, self.price, self.title

    def end_run(self, order: _Open) -> None:
        start, end = self._run_start, len(self.line_no)
        order.lines.extend(range(start, end))
        self.category.extend(repeat(-1, end - start))
        self._run_start = end

    def merge_row(self, order: _Open, item_index: int, line: int) -> None:
        pos = order.lines[item_index]
        self.quantity[pos] += 1
        if self.quantity[pos] > MAX_QUANTITY:
            order.suspect = True
        self.extra.setdefault(pos, []).append(line)

    def product_key(self, product_id: str) -> int:
        products = self.products
        code = products.get(product_id)
        if code is None:
            code = products[product_id] = len(products)
            if len(product_id) > MAX_ID:
                self.long_products.add(code)
        return code

    def title_key(self, title: str) -> int:
        return self.titles.setdefault(title, len(self.titles)) if title else -1

    def rows_of(self, order: _Open, item_index: int) -> list[int]:
        pos = order.lines[item_index]
        extra = self.extra.get(pos)
        return [self.line_no[pos], *extra] if extra else [self.line_no[pos]]

    def _rows_at(self, pos: int) -> list[int]:
        extra = self.extra.get(pos)
        return [self.line_no[pos], *extra] if extra else [self.line_no[pos]]

    def emit(self, order_id: str, order: _Open, start: int, stop: int) -> None:
        report, extra = self.report, self.extra
        part = order.lines[start:stop] if start or stop < len(order.lines) else order.lines
        long_products, product = self.long_products, self.product
        if not self.trusted(
            order_id,
            order,
            bool(long_products and any(product[pos] in long_products for pos in part)),
        ):
            problem = self.invalid(
                order_id,
                order,
                [product[pos] for pos in part],
                [self.quantity[pos] for pos in part],
                [self.price[pos] for pos in part],
                [self.title[pos] for pos in part],
                [self.category[pos] for pos in part],
            )
            if problem is not None:
                for pos in part:
                    for line in self._rows_at(pos):
                        report.bad(line, "invalid_order", problem)
                return
        report.used_rows += len(part) + (
            sum(len(extra.get(pos, ())) for pos in part) if extra else 0
        )
        report.events += 1
        self.perm.extend(part)
        self.events.append((order_id, order, len(part)))

    def trusted(self, order_id: str, order: _Open, long_product: bool) -> bool:
        """Whether a cheap check proves the event valid: else ``invalid`` asks pydantic."""
        return (
            self.currency_ok(order.currency)
            and self.store_ok
            and not order.suspect
            and len(order_id) <= MAX_ID
            and not long_product
        )

    def currency_ok(self, currency: str) -> bool:
        ok = self._currency_ok.get(currency)
        if ok is None:
            ok = self._currency_ok[currency] = _valid(_CURRENCY, currency)
        return ok

    def block_window(self) -> BlockWindow:
        """The window for rules that hand over whole blocks of rows (made on first use)."""
        if self.blocks is None:
            self.blocks = BlockWindow(self)
        return self.blocks

    def finish(self) -> Iterator[OrderEvent]:
        if self.blocks is not None:
            self.blocks.finish()
        return super().finish()

    def invalid(
        self,
        order_id: str,
        order: _Open,
        products: list[int],
        quantities: list[int],
        prices: list[float],
        titles: list[int],
        categories: list[int],
    ) -> str | None:
        """The reason ``OrderGrouper`` would give for these lines, from the same pydantic call,
        or None."""
        pids = list(self.products)
        title_text, category_text = list(self.titles), list(self.categories)
        lines = []
        for product, quantity, price, title, category in zip(
            products, quantities, prices, titles, categories
        ):
            item: dict[str, Any] = {
                "product_id": pids[product],
                "quantity": quantity,
                "price": price,
            }
            if title >= 0:
                item["title"] = title_text[title]
            if category >= 0:
                item["category"] = category_text[category]
            lines.append(item)
        try:
            OrderEvent.model_validate(self.event_fields(order_id, order, lines))
        except ValidationError as exc:
            return invalid_reason(exc)
        return None


def _column_grouper(
    report: IngestReport, store_id: str, source: str, max_lines_per_order: int | None
) -> ColumnGrouper:
    return ColumnGrouper(report, store_id, source, max_lines_per_order=max_lines_per_order)


# -- entry point -----------------------------------------------------------------------------------


def read_order_lines(
    source: Source,
    fmt: str | None = None,
    *,
    store_id: str = "default",
    categories: Mapping[str, str] | None = None,
    currency: str | None = None,
    name: str | None = None,
    source_kind: str = "replay",
    limits: Limits | None = None,
    reader: Reader | None = None,
) -> OrderLines:
    """Parse an order history into columns. Raises ``IngestError`` for an unusable file, like
    ``read_orders``; ``report`` has the same counts, bad rows and warnings (``report.parse_ms``
    includes building the arrays, and a first pyarrow pass when the file was not plain).

    ``reader`` None (the default): pyarrow for a format whose rules take column batches (Online
    Retail), else the csv module (``OrderStream``); and the csv module again when pyarrow finds
    the file is not plain (``ingest.arrow_csv``). ``"csv"`` or ``"pyarrow"`` force one
    (``NotPlain`` escapes from a forced pyarrow read).
    """
    started = time.perf_counter()
    kwargs: dict[str, Any] = {
        "store_id": store_id,
        "name": name,
        "categories": categories,
        "currency": currency,
        "source_kind": source_kind,
        "limits": limits,
        "grouper": _column_grouper,
    }
    with collector_paused():
        try:
            stream = _parsed(source, fmt, reader, kwargs)
        except NotPlain:
            if reader is not None:
                raise
            stream = _parsed(source, fmt, "csv", kwargs)
    grouper = stream.grouper
    assert isinstance(grouper, ColumnGrouper)
    out = _assemble(grouper, stream.currency, store_id, source_kind, stream.report, stream.reader)
    stream.report.parse_ms = (time.perf_counter() - started) * 1000
    return out


def _parsed(
    source: Source, fmt: str | None, reader: Reader | None, kwargs: dict[str, Any]
) -> OrderStream:
    """A stream run to its end: the format's rules, finish, no_valid_lines, close."""
    stream = OrderStream(source, fmt, reader=reader, **kwargs)
    for _ in stream:  # the column grouper keeps the orders; no events come out
        pass
    return stream


def _assemble(
    g: ColumnGrouper,
    default_currency: str,
    store_id: str,
    source_kind: str,
    report: IngestReport,
    reader: Reader,
) -> OrderLines:
    if g.blocks is not None:
        if g.events:
            raise AssertionError("one file's rules use the block window or runs, not both")
        window = g.blocks
        order_ids, seqs, sizes = window.events()
        _, line_no, product, quantity, price, title = window.rows()
        category = np.full(line_no.size, -1, dtype=np.int64)
        file_order = np.argsort(line_no, kind="stable")  # physical lines rise in file order
        created_list = [window.created[s] for s in seqs]
        currency_list = [window.currency[s] for s in seqs]
        customer_list = [window.customer[s] for s in seqs]
    else:
        perm = np.asarray(g.perm, dtype=np.int64)
        sizes = np.fromiter((n for _, _, n in g.events), dtype=np.int64, count=len(g.events))
        product = np.asarray(g.product, dtype=np.int64)[perm]
        title = np.asarray(g.title, dtype=np.int64)[perm]
        category = np.asarray(g.category, dtype=np.int64)[perm]
        quantity = np.asarray(g.quantity, dtype=np.int64)[perm]
        price = np.asarray(g.price, dtype=np.float64)[perm]
        file_order = np.argsort(perm, kind="stable")  # storage positions rise in file order
        order_ids = [i for i, _, _ in g.events]
        created_list = [o.created_at for _, o, _ in g.events]
        currency_list = [o.currency for _, o, _ in g.events]
        customer_list = [o.customer_id for _, o, _ in g.events]
    n_orders = sizes.size
    offsets = np.zeros(n_orders + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])

    # products used by emitted lines, keeping first-seen order
    product_names = np.empty(len(g.products), dtype=object)
    product_names[:] = list(g.products)
    used = np.zeros(len(g.products), dtype=bool)
    used[product] = True
    remap = np.cumsum(used, dtype=np.int64) - 1
    product_ids = product_names[used]
    line_product = remap[product]

    # last non-empty title/category per product, in file order, over emitted lines
    titles = _table(g.titles)
    categories = _table(g.categories)
    product_titles = _last_per_product(
        line_product[file_order], title[file_order], titles, product_ids.size
    )
    product_categories = _last_per_product(
        line_product[file_order], category[file_order], categories, product_ids.size
    )

    created = np.empty(n_orders, dtype=object)
    created[:] = created_list
    seconds: dict[datetime, int] = {}
    for dt in set(created.tolist()):
        delta = dt - _EPOCH
        seconds[dt] = delta.days * 86_400 + delta.seconds  # floor to the second
    created_at = np.fromiter(
        (seconds[dt] for dt in created.tolist()), dtype=np.int64, count=n_orders
    ).astype("datetime64[s]")
    order_currency = np.empty(n_orders, dtype=object)
    order_currency[:] = currency_list
    currencies = set(currency_list)
    order_customer = np.empty(n_orders, dtype=object)
    order_customer[:] = customer_list
    event_ids = np.empty(n_orders, dtype=object)
    event_ids[:] = order_ids

    return OrderLines(
        order_ids=event_ids,
        order_created_at=created_at,
        line_order=np.repeat(np.arange(n_orders, dtype=np.int32), sizes),
        product_ids=product_ids,
        line_product=line_product.astype(np.int32),
        quantity=quantity.astype(np.int32),
        price=price,
        product_titles=product_titles,
        product_categories=product_categories,
        currency=currencies.pop() if len(currencies) == 1 else default_currency,
        store_id=store_id,
        report=report,
        line_offsets=offsets,
        order_currency=order_currency,
        order_customer=order_customer,
        line_title=title.astype(np.int32),
        titles=titles,
        line_category=category.astype(np.int32),
        categories=categories,
        source=source_kind,
        order_created=created,
        reader=reader,
    )


def _table(index: dict[str, int]) -> np.ndarray:
    out = np.empty(len(index), dtype=object)
    out[:] = list(index)
    return out


def _last_per_product(
    product: np.ndarray, code: np.ndarray, table: np.ndarray, n_products: int
) -> np.ndarray:
    """For each product, ``table[code]`` of its last line (file order) with a code >= 0, else None."""
    out = np.full(n_products, None, dtype=object)
    where = np.flatnonzero(code >= 0)
    last = np.full(n_products, -1, dtype=np.int64)
    np.maximum.at(last, product[where], where)
    has = last >= 0
    out[has] = table[code[last[has]]]
    return out
