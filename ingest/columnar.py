"""Order histories as columns: the same rows, skips, bad rows and grouping as ``ingest.orders``,
without building one pydantic ``OrderEvent`` per order.

The bundle engine needs (order, product, quantity, price) columns, not 20,000 validated models.
``read_order_lines`` runs the row parser's own machinery (``OrderStream``: header checks, format
detection, ``CsvTable`` row accounting, ``_item``/``_order`` row rules, the ``no_valid_lines``
epilogue) and swaps only two things:

* the grouper: ``_ColumnarGrouper`` subclasses ``OrderGrouper`` (same 64-order open window, same
  eviction order, same ``order_not_contiguous`` bad rows, same 1,000-line split into
  ``id#partNofM``) but appends line items to flat lists instead of keeping dicts, and validates an
  order with pydantic only when a cheap check cannot prove it valid (a 200+ character id after
  formula neutralising, an odd currency, an invalid store id). The verdict, bad rows and their
  reason text then come from pydantic itself, exactly as in ``OrderGrouper._flush``;
* the Online Retail hot loop: a copy of ``OrderStream._rows_online_retail`` with identical
  checks in identical order, whose common path appends to those lists (ids dict-encoded with
  ``setdefault``; the order looked up once per run of rows, the date parsed once per order).

Olist, Shopify and generic files go through ``OrderStream``'s own ``_rows_*`` methods unchanged.
Equivalence with ``read_orders`` is tested on the real files (tests/unit/ingest/test_columnar*.py).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import scipy.sparse as sp
from pydantic import TypeAdapter, ValidationError

from models import OrderEvent
from models.common import Currency, Id

from .cells import FORMULA_START, MAX_NUMBER, CellError, parse_float, parse_int, safe_text
from .grouping import MAX_LINES, OPEN_WINDOW, OrderGrouper
from .limits import Limits
from .orders import OrderStream
from .report import IngestReport
from .source import Source

__all__ = ["OrderLines", "read_order_lines"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURRENCY = TypeAdapter(Currency)
_ID = TypeAdapter(Id)
_MAX_QUANTITY = 1_000_000  # OrderLine.quantity le
_MAX_ID = 200  # Id max_length


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


class _Open:
    """An open order: its line items are positions into the grouper's flat lists."""

    __slots__ = ("created_at", "currency", "customer_id", "lines", "order_id", "suspect")

    def __init__(
        self, order_id: str, created_at: datetime, currency: str, customer_id: str | None
    ) -> None:
        self.order_id = order_id
        self.created_at = created_at
        self.currency = currency
        self.customer_id = customer_id
        self.lines: list[int] = []
        self.suspect = False  # something pydantic might refuse: validate this order for real


class _ColumnarGrouper(OrderGrouper):
    """``OrderGrouper`` with flat per-line lists instead of per-order dicts and events.

    ``open``/``emitted``/``get``/``drain``/``finish`` are inherited; ``start``/``add``/
    ``merge_row``/``_flush`` keep the parent's semantics (window eviction, split, accounting).
    """

    def __init__(
        self,
        report: IngestReport,
        store_id: str,
        source: str,
        *,
        max_lines_per_order: int | None = None,
    ) -> None:
        super().__init__(report, store_id, source, max_lines_per_order=max_lines_per_order)
        self.products: dict[str, int] = {}
        self.titles: dict[str, int] = {}
        self.categories: dict[str, int] = {}
        self.line_no: list[int] = []  # physical line of each item's first row
        self.product: list[int] = []
        self.quantity: list[int] = []
        self.price: list[float] = []
        self.title: list[int] = []
        self.category: list[int] = []  # left empty by the Online Retail loop (no categories)
        self.extra: dict[
            int, list[int]
        ] = {}  # item position -> further rows merged into it (Olist)
        self.perm: list[int] = []  # item positions of emitted events, event after event
        self.events: list[tuple[str, _Open, int]] = []  # (order id, order, n lines)
        self._currency_ok: dict[str, bool] = {}
        self.store_ok = _valid(_ID, store_id)

    # same signature and eviction as OrderGrouper.start
    def start(
        self, order_id: str, created_at: datetime, currency: str, customer_id: str | None
    ) -> _Open:  # type: ignore[override]
        order = _Open(order_id, created_at, currency, customer_id)
        self.open[order_id] = order
        if len(self.open) > OPEN_WINDOW:
            self._flush(self.open.popitem(last=False)[1])
        return order

    def add(self, order: _Open, line: int, item: dict[str, Any]) -> None:  # type: ignore[override]
        order.lines.append(len(self.line_no))
        self.line_no.append(line)
        product_id, quantity = item["product_id"], item["quantity"]
        if len(product_id) > _MAX_ID or quantity > _MAX_QUANTITY or not quantity > 0:
            order.suspect = True
        self.product.append(self.products.setdefault(product_id, len(self.products)))
        self.quantity.append(quantity)
        self.price.append(item["price"])
        title, category = item.get("title"), item.get("category")
        self.title.append(self.titles.setdefault(title, len(self.titles)) if title else -1)
        self.category.append(
            self.categories.setdefault(category, len(self.categories)) if category else -1
        )

    def merge_row(self, order: _Open, item_index: int, line: int) -> None:  # type: ignore[override]
        pos = order.lines[item_index]
        self.quantity[pos] += 1
        if self.quantity[pos] > _MAX_QUANTITY:
            order.suspect = True
        self.extra.setdefault(pos, []).append(line)

    def _rows_of(self, pos: int) -> list[int]:
        extra = self.extra.get(pos)
        return [self.line_no[pos], *extra] if extra else [self.line_no[pos]]

    def _flush(self, order: _Open) -> None:  # type: ignore[override]
        self.check_size(order.order_id, len(order.lines))
        report, lines = self.report, order.lines
        self.emitted[order.order_id] = self._rows_of(lines[-1])[-1] if lines else 0
        if not lines:
            report.skipped_orders["no_valid_lines"] += 1
            return
        n = len(lines)
        n_parts = -(-n // MAX_LINES)
        if n_parts > 1:
            report.split_orders += 1
        base_id, was_formula = safe_text(order.order_id)
        if was_formula:
            report.warn(
                self.line_no[lines[0]], "formula_neutralised", f"order id {order.order_id[:40]!r}"
            )
        currency_ok = self._currency_ok.get(order.currency)
        if currency_ok is None:
            currency_ok = self._currency_ok[order.currency] = _valid(_CURRENCY, order.currency)
        trusted = currency_ok and self.store_ok and not order.suspect
        extra = self.extra
        for k in range(n_parts):
            part = lines if n_parts == 1 else lines[k * MAX_LINES : (k + 1) * MAX_LINES]
            order_id = base_id if n_parts == 1 else f"{base_id}#part{k + 1}of{n_parts}"
            if not trusted or len(order_id) > _MAX_ID:
                problem = self._invalid(order_id, order, part)
                if problem is not None:
                    for pos in part:
                        for line in self._rows_of(pos):
                            report.bad(line, "invalid_order", problem)
                    continue
            report.used_rows += len(part) + (
                sum(len(extra.get(pos, ())) for pos in part) if extra else 0
            )
            report.events += 1
            self.perm.extend(part)
            self.events.append((order_id, order, len(part)))

    def _invalid(self, order_id: str, order: _Open, part: list[int]) -> str | None:
        """The reason ``OrderGrouper._flush`` would give, from the same pydantic call, or None."""
        pids = list(self.products)
        titles, cats = list(self.titles), list(self.categories)
        lines = []
        for pos in part:
            item: dict[str, Any] = {
                "product_id": pids[self.product[pos]],
                "quantity": self.quantity[pos],
                "price": self.price[pos],
            }
            if self.title[pos] >= 0:
                item["title"] = titles[self.title[pos]]
            if self.category and self.category[pos] >= 0:
                item["category"] = cats[self.category[pos]]
            lines.append(item)
        try:
            OrderEvent.model_validate(
                {
                    "order_id": order_id,
                    "store_id": self.store_id,
                    "lines": lines,
                    "created_at": order.created_at,
                    "currency": order.currency,
                    "customer_id": order.customer_id,
                    "source": self.source,
                }
            )
        except ValidationError as exc:
            detail = exc.errors()[0]
            return f"{'.'.join(map(str, detail['loc']))}: {detail['msg']}"
        return None


# -- the stream ------------------------------------------------------------------------------------


class _ColumnarStream(OrderStream):
    """``OrderStream`` whose grouper collects columns; iterating it yields nothing."""

    def __init__(self, source: Source, fmt: str | None = None, **kwargs: Any) -> None:
        super().__init__(source, fmt, **kwargs)
        self.grouper = _ColumnarGrouper(
            self.report,
            self.grouper.store_id,
            self.grouper.source,
            max_lines_per_order=self.grouper.max_lines_per_order,
        )

    def _rows_online_retail(self):  # type: ignore[override]
        # OrderStream._rows_online_retail, check for check; only the common path's storage differs.
        c, report, grouper = self.cols, self.report, self.grouper
        i_order, i_product, i_qty, i_date, i_price = (
            c["order_id"],
            c["product_id"],
            c["quantity"],
            c["created_at"],
            c["price"],
        )
        i_title, i_customer = c.get("title"), c.get("customer_id")
        cancelled: set[str] = set()
        adjustments: set[str] = set()
        seen_add = self.seen.add
        open_get, skip, bad = grouper.open.get, report.skip, report.bad
        currency, item_of, order_of = self.currency, self._item, self._order
        products, titles = grouper.products, grouper.titles
        # Raw (unstripped) cells known to pass the original loop's fast-path test (non-empty, short,
        # not formula-like) -> code, so repeated values skip strip and checks; a title cell that
        # strips to "" maps to -1. Anything else takes the original's checks, then ``_item``.
        plain_products: dict[str, int] = {}
        plain_titles: dict[str, int] = {}
        plain_product, plain_title = plain_products.get, plain_titles.get
        line_no_append, product_append = grouper.line_no.append, grouper.product.append
        quantity_append, price_append, title_append = (
            grouper.quantity.append,
            grouper.price.append,
            grouper.title.append,
        )
        pos = len(grouper.line_no)
        previous_raw: str | None = None  # order id cell of the previous row, stripped, and its kind
        order_id = ""
        kind = 0  # 0 order, 1 cancellation, 2 adjustment
        current_id: str | None = None  # the open order the last used row went to
        current: Any = None
        lines_append: Any = None
        for line, row in self.table.rows():
            raw = row[i_order]
            if raw != previous_raw:
                order_id = raw.strip()
                first = order_id[:1]
                kind = (
                    1 if first == "C" or first == "c" else 2 if first == "A" or first == "a" else 0
                )
                if not kind:
                    seen_add(order_id)
                previous_raw = raw
            if kind:
                if kind == 1:
                    skip("cancellation")
                    cancelled.add(order_id)
                else:
                    skip("adjustment")
                    adjustments.add(order_id)
                continue
            try:
                try:
                    quantity = int(row[i_qty])
                except ValueError:
                    quantity = parse_int(row[i_qty], "quantity")
                try:
                    price = float(row[i_price])
                    if not -MAX_NUMBER <= price <= MAX_NUMBER:  # NaN, infinite or absurd
                        raise ValueError
                except ValueError:
                    price = parse_float(row[i_price], "price")
            except CellError as exc:
                bad(line, exc.code, str(exc))
                continue
            if quantity <= 0:
                skip("non_positive_quantity")
                continue
            if price <= 0:
                skip("non_positive_price")
                continue
            raw_product = row[i_product]
            raw_title = row[i_title] if i_title is not None else ""
            code = plain_product(raw_product)
            title_code = plain_title(raw_title)
            suspect = False
            if code is None or title_code is None or quantity > 1_000_000:
                product_id = raw_product.strip()
                title = raw_title.strip()
                if (
                    not product_id
                    or len(product_id) > 200
                    or quantity > 1_000_000
                    or len(title) > 500
                    or product_id[0] in FORMULA_START
                    or (title and title[0] in FORMULA_START)
                ):
                    item = item_of(line, product_id, quantity, price, title, None)
                    if item is None:
                        continue
                    product_id, title = item["product_id"], item.get("title", "")
                    suspect = len(product_id) > _MAX_ID
                    code = products.setdefault(product_id, len(products))
                    title_code = titles.setdefault(title, len(titles)) if title else -1
                else:  # plain: remember both cells so the next row skips these checks
                    code = plain_products[raw_product] = products.setdefault(
                        product_id, len(products)
                    )
                    title_code = plain_titles[raw_title] = (
                        titles.setdefault(title, len(titles)) if title else -1
                    )
            if order_id != current_id:
                # Safe to cache: an open order is evicted only by a start, which becomes current.
                order = open_get(order_id)
                if order is None:
                    order = order_of(
                        line,
                        order_id,
                        row[i_date],
                        currency,
                        row[i_customer] if i_customer is not None else "",
                    )
                    if order is None:
                        continue
                current_id, current, lines_append = order_id, order, order.lines.append
            if suspect:
                current.suspect = True
            lines_append(pos)
            pos += 1
            line_no_append(line)
            product_append(code)
            quantity_append(quantity)
            price_append(price)
            title_append(title_code)
        report.skipped_orders["cancelled"] += len(cancelled)
        report.skipped_orders["adjustment"] += len(adjustments)
        return
        yield  # a generator, like the method it replaces


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
) -> OrderLines:
    """Parse an order history into columns. Raises ``IngestError`` for an unusable file, like
    ``read_orders``; ``report`` has the same counts, bad rows and warnings (``report.parse_ms``
    includes building the arrays)."""
    started = time.perf_counter()
    stream = _ColumnarStream(
        source,
        fmt,
        store_id=store_id,
        name=name,
        categories=categories,
        currency=currency,
        source_kind=source_kind,
        limits=limits,
    )
    for _ in stream:  # runs OrderStream.__iter__: rows, finish, no_valid_lines, close
        pass
    out = _assemble(stream, store_id, source_kind)
    stream.report.parse_ms = (time.perf_counter() - started) * 1000
    return out


def _assemble(stream: _ColumnarStream, store_id: str, source_kind: str) -> OrderLines:
    g: _ColumnarGrouper = stream.grouper
    n_all = len(g.line_no)
    perm = np.asarray(g.perm, dtype=np.int64)
    sizes = np.fromiter((n for _, _, n in g.events), dtype=np.int64, count=len(g.events))
    n_orders = sizes.size
    offsets = np.zeros(n_orders + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])

    product_all = np.asarray(g.product, dtype=np.int32)
    title_all = np.asarray(g.title, dtype=np.int32)
    category_all = (
        np.asarray(g.category, dtype=np.int32)
        if len(g.category) == n_all
        else np.full(n_all, -1, dtype=np.int32)
    )

    # products used by emitted lines, keeping first-seen order
    product_names = np.empty(len(g.products), dtype=object)
    product_names[:] = list(g.products)
    used = np.zeros(len(g.products), dtype=bool)
    used[product_all[perm]] = True
    remap = np.cumsum(used, dtype=np.int64) - 1
    product_ids = product_names[used]

    # last non-empty title/category per product, in file order, over emitted lines
    kept = np.sort(perm)
    titles = _table(g.titles)
    categories = _table(g.categories)
    product_titles = _last_per_product(
        remap[product_all[kept]], title_all[kept], titles, product_ids.size
    )
    product_categories = _last_per_product(
        remap[product_all[kept]], category_all[kept], categories, product_ids.size
    )

    orders = [o for _, o, _ in g.events]
    created = np.empty(n_orders, dtype=object)
    created[:] = [o.created_at for o in orders]
    seconds: dict[datetime, int] = {}
    for dt in set(created.tolist()):
        delta = dt - _EPOCH
        seconds[dt] = delta.days * 86_400 + delta.seconds  # floor to the second
    created_at = np.fromiter(
        (seconds[dt] for dt in created.tolist()), dtype=np.int64, count=n_orders
    ).astype("datetime64[s]")
    order_currency = np.empty(n_orders, dtype=object)
    order_currency[:] = [o.currency for o in orders]
    currencies = set(order_currency.tolist())
    order_customer = np.empty(n_orders, dtype=object)
    order_customer[:] = [o.customer_id for o in orders]
    order_ids = np.empty(n_orders, dtype=object)
    order_ids[:] = [i for i, _, _ in g.events]

    return OrderLines(
        order_ids=order_ids,
        order_created_at=created_at,
        line_order=np.repeat(np.arange(n_orders, dtype=np.int32), sizes),
        product_ids=product_ids,
        line_product=remap[product_all[perm]].astype(np.int32),
        quantity=np.asarray(g.quantity, dtype=np.int64)[perm].astype(np.int32),
        price=np.asarray(g.price, dtype=np.float64)[perm],
        product_titles=product_titles,
        product_categories=product_categories,
        currency=currencies.pop() if len(currencies) == 1 else stream.currency,
        store_id=store_id,
        report=stream.report,
        line_offsets=offsets,
        order_currency=order_currency,
        order_customer=order_customer,
        line_title=title_all[perm],
        titles=titles,
        line_category=category_all[perm],
        categories=categories,
        source=source_kind,
        order_created=created,
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
