"""Order-history formats, each defined once: its columns, which rows it skips and why, how a row
becomes an order line, and the reasons a row is bad.

Both readers run these rules: ``ingest.orders`` (``OrderStream``, one ``OrderEvent`` per order)
and ``ingest.columnar`` (flat columns for the bundle engine). They differ only in the grouper
they hand in (``ingest.grouping.OrderWindow``): the rules call its ``start``/``add``/``merge_row``
(and, in the Online Retail hot loop, append to its run columns); how lines are stored and what
an order turns into when it closes is the grouper's business.

Generic orders CSV (header names are case-insensitive)::

    order_id, product_id, quantity, price, created_at [, category, title, customer_id, currency]

``created_at`` is ISO 8601 (naive times are UTC); one row per line item, rows of an order together.

Cancellations and refunds: by default (what the bundle engine and evaluation read) a cancelled
or refunded order is skipped. A replay asks for them (``RowContext.adjustments``) and gets them
as events instead, next to the orders (see ``Adjustments``):

- Online Retail: a ``C`` invoice names no original invoice. Each of its rows is a refund of
  ``-Quantity`` units of its product from the latest earlier invoice of the same customer that
  holds that product; rows with no such invoice (no customer, or bought before the file starts)
  are a refund of an unknown order, whose id is the ``C`` invoice's own. The refund id is the
  ``C`` invoice number.
- Shopify orders export: an order with ``Cancelled at`` (or ``Financial Status`` voided) is sent
  as the order followed by its cancellation; ``Financial Status`` refunded as the order followed
  by a refund of all its lines (refund id ``<order>-refund``). ``partially_refunded`` does not say
  which lines came back: such an order stays an order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from models.orders import OrderEvent

from .cells import (
    FORMULA_START,
    MAX_NUMBER,
    CellError,
    is_formula,
    parse_datetime,
    parse_float,
    parse_int,
)
from .grouping import OrderWindow
from .report import IngestReport

Columns = dict[str, tuple[str, ...]]
Rows = Iterator[tuple[int, list[str]]]

MAX_ID = 200  # order and product ids (``models.common.Id``)
MAX_QUANTITY = 1_000_000  # ``OrderLine.quantity``
MAX_TITLE = 500
MAX_CATEGORY = 200
MAX_CUSTOMER = 200


ADJUSTMENT_LINES = 1000  # ``OrderEvent.lines`` max_length: a longer refund is split


@dataclass
class Adjustments:
    """Cancellations and refunds of a replay, built next to the orders the rows make.

    ``last_invoice`` remembers, per (customer, product), the latest invoice that held the product
    (Online Retail's refunds name none). ``marks`` are Shopify orders to cancel or refund once
    their order event is out (``after``).
    """

    store_id: str
    source: str
    currency: str
    report: IngestReport
    last_invoice: dict[tuple[str, str], str] = field(default_factory=dict)
    marks: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    ready: list[OrderEvent] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # events by kind, and unmatched refunds
    # the open C invoice: id, time, customer, rows (line, product, units, price, title)
    _invoice: str | None = None
    _created: datetime | None = None
    _customer: str = ""
    _rows: list[tuple[int, str, int, float, str]] = field(default_factory=list)

    def refund_row(
        self,
        line: int,
        invoice: str,
        created: str,
        customer: str,
        product_id: str,
        quantity: int,
        price: float,
        title: str,
    ) -> None:
        """One row of a ``C`` invoice (``quantity`` already positive: the units given back)."""
        if invoice != self._invoice:
            self.close()
            try:
                self._created = parse_datetime(created)
            except CellError as exc:
                self.report.bad(line, exc.code, str(exc))
                return
            self._invoice, self._customer = invoice, customer
        self._rows.append((line, product_id, quantity, price, title))

    def close(self) -> None:
        """Turn the open ``C`` invoice into refunds, one per original invoice it maps to."""
        rows, invoice, created = self._rows, self._invoice, self._created
        self._rows, self._invoice = [], None
        if not rows or invoice is None or created is None:
            return
        by_order: dict[str, list[tuple[int, str, int, float, str]]] = {}
        for row in rows:
            original = self.last_invoice.get((self._customer, row[1]))
            if original is None:
                self.counts["unmatched_refund_rows"] = (
                    self.counts.get("unmatched_refund_rows", 0) + 1
                )
            by_order.setdefault(original or invoice, []).append(row)
        for order_id, part in by_order.items():
            for start in range(0, len(part), ADJUSTMENT_LINES):
                chunk = part[start : start + ADJUSTMENT_LINES]
                refund_id = invoice if start == 0 else f"{invoice}#{start // ADJUSTMENT_LINES + 1}"
                self._emit(
                    "refund",
                    order_id,
                    created,
                    [
                        {"product_id": p, "quantity": q, "price": pr, **({"title": t} if t else {})}
                        for _line, p, q, pr, t in chunk
                    ],
                    [r[0] for r in chunk],
                    refund_id,
                    self._customer or None,
                )

    def mark(self, order_id: str, kind: str, when: datetime) -> None:
        self.marks[order_id] = (kind, when)

    def after(self, event: OrderEvent) -> Iterator[OrderEvent]:
        """The cancellation or refund marked for an order, right after its event."""
        if event.kind != "order" or not self.marks:
            return
        base = event.order_id.split("#part", 1)[0]
        mark = self.marks.get(base)
        if mark is None:
            return
        kind, when = mark
        lines = [line.model_dump(exclude={"schema_version"}) for line in event.lines]
        if kind == "cancellation":
            self._emit(kind, event.order_id, when, [], [], None, event.customer_id)
        else:
            self._emit(kind, event.order_id, when, lines, [], f"{base}-refund", event.customer_id)
        yield from self.drain()

    def _emit(
        self,
        kind: str,
        order_id: str,
        created: datetime,
        lines: list[dict[str, Any]],
        rows: list[int],
        refund_id: str | None,
        customer: str | None,
    ) -> None:
        try:
            event = OrderEvent.model_validate(
                {
                    "order_id": order_id,
                    "store_id": self.store_id,
                    "kind": kind,
                    "refund_id": refund_id,
                    "lines": lines,
                    "created_at": created,
                    "currency": self.currency,
                    "customer_id": customer,
                    "source": self.source,
                }
            )
        except ValidationError as exc:
            detail = exc.errors()[0]
            reason = f"{'.'.join(map(str, detail['loc']))}: {detail['msg']}"
            for line in rows:
                self.report.bad(line, f"invalid_{kind}", reason)
            return
        self.report.used_rows += len(rows)
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.ready.append(event)

    def drain(self) -> Iterator[OrderEvent]:
        if self.ready:
            ready = self.ready.copy()
            self.ready.clear()
            yield from ready


@dataclass
class RowContext:
    """What a format's row rules work with: the column positions, the grouper, the report."""

    cols: dict[str, int]
    report: IngestReport
    grouper: OrderWindow[Any]
    currency: str  # the default when a row names none
    categories: Mapping[str, str] = field(default_factory=dict)  # product id -> category
    seen: set[str] = field(default_factory=set)  # order ids with a row not skipped as a whole order
    adjustments: Adjustments | None = None  # a replay's cancellations and refunds (None: skipped)

    def safe(self, line: int, text: str) -> str:
        """Neutralise a spreadsheet formula with a leading apostrophe (and warn)."""
        if text and text[0] in FORMULA_START and is_formula(text):
            self.report.warn(
                line, "formula_neutralised", f"cell {text[:40]!r} starts like a spreadsheet formula"
            )
            return "'" + text
        return text

    def line_item(
        self, line: int, product_id: str, quantity: int, title: str, category: str | None
    ) -> tuple[str, str, str] | None:
        """An order line's (product id, title, category), cleaned (``""``: none); None once
        counted as bad."""
        product_id = product_id.strip()
        if not product_id:
            self.report.bad(line, "missing_product_id", "product id is empty")
            return None
        if len(product_id) > MAX_ID:
            self.report.bad(
                line, "bad_product_id", f"product id is {len(product_id)} characters (max 200)"
            )
            return None
        if quantity > MAX_QUANTITY:
            self.report.bad(line, "bad_quantity", f"quantity {quantity} exceeds 1,000,000")
            return None
        product_id = self.safe(line, product_id)
        title = self.safe(line, title)[:MAX_TITLE] if title else ""
        category = self.safe(line, category)[:MAX_CATEGORY] if category else ""
        return product_id, title, category

    def order_for(
        self, line: int, order_id: str, created: str, currency: str, customer: str
    ) -> Any | None:
        """The open order for this row, starting it (with order-level fields) on its first row."""
        if not order_id:
            self.report.bad(line, "missing_order_id", "order id is empty")
            return None
        grouper = self.grouper
        order = grouper.open.get(order_id)
        if order is not None:
            return order
        if order_id in grouper.emitted:
            grouper.get(order_id, line)
            return None
        if len(order_id) > MAX_ID:
            self.report.bad(
                line, "bad_order_id", f"order id is {len(order_id)} characters (max 200)"
            )
            return None
        try:
            created_at: datetime = parse_datetime(created)
        except CellError as exc:
            self.report.bad(line, exc.code, str(exc))
            return None
        if len(currency) != 3 or not currency.isalpha():
            self.report.bad(line, "bad_currency", f"currency {currency!r} is not an ISO 4217 code")
            return None
        customer = customer.strip()
        if customer.endswith(".0") and customer[:-2].isdigit():
            customer = customer[:-2]  # a customer number a spreadsheet turned into a float
        customer_id = self.safe(line, customer)[:MAX_CUSTOMER] if customer else None
        return grouper.start(order_id, created_at, currency, customer_id)

    def quantity_price(self, line: int, row: list[str]) -> tuple[int, float] | None:
        """A line's quantity and price, or None once the row is counted as skipped or bad."""
        try:
            quantity = _quantity(row[self.cols["quantity"]])
            price = parse_float(row[self.cols["price"]], "price")
        except CellError as exc:
            self.report.bad(line, exc.code, str(exc))
            return None
        if quantity <= 0:
            self.report.skip("non_positive_quantity")
            return None
        if price < 0:
            self.report.bad(line, "negative_price", f"price {price} is negative")
            return None
        return quantity, price


def _quantity(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return parse_int(value, "quantity")


# -- UCI Online Retail ---------------------------------------------------------------------------


def online_retail_rows(ctx: RowContext, rows: Rows) -> Iterator[OrderEvent]:
    """Invoices starting with C are cancellations and with A bad-debt adjustments: skipped whole,
    unless the context collects adjustments (a replay): then each C row with a negative quantity
    is a refund (see the module docstring). Other rows with quantity or price <= 0 (returns,
    samples, write-offs) are skipped, not bad.

    The hot loop of a 541,909-row replay: lookups are hoisted, a run of rows of one invoice
    looks its order up once, and a product or title cell already seen to be plain (non-empty,
    short, not formula-like) maps straight to its storage key without being checked again.
    """
    c, report, grouper = ctx.cols, ctx.report, ctx.grouper
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
    seen_add = ctx.seen.add
    open_get, drain, skip, bad = grouper.open.get, grouper.drain, report.skip, report.bad
    product_key, title_key, end_run = grouper.product_key, grouper.title_key, grouper.end_run
    # consecutive used rows of one order go straight to the grouper's run columns
    run_lines, run_products, run_quantities, run_prices, run_titles = grouper.run_columns()
    line_append, product_append, quantity_append, price_append, title_append = (
        run_lines.append,
        run_products.append,
        run_quantities.append,
        run_prices.append,
        run_titles.append,
    )
    currency, line_item, order_for = ctx.currency, ctx.line_item, ctx.order_for
    # raw (unstripped) cell known to be plain -> storage key; a title that strips to "" included
    plain_products: dict[str, Any] = {}
    plain_titles: dict[str, Any] = {}
    plain_product, plain_title = plain_products.get, plain_titles.get
    previous_raw: str | None = None  # the previous row's order id cell
    order_id = ""
    kind = 0  # 0 an order, 1 a cancellation, 2 an adjustment
    current_id: str | None = None  # the order of the current run (None: no run)
    current: Any = None
    refunds = ctx.adjustments
    i_buyer = -1 if i_customer is None else i_customer
    last_invoice = refunds.last_invoice if refunds is not None and i_buyer >= 0 else None
    for line, row in rows:
        raw = row[i_order]
        if raw != previous_raw:
            order_id = raw.strip()
            first = order_id[:1]
            kind = 1 if first == "C" or first == "c" else 2 if first == "A" or first == "a" else 0
            if not kind:
                seen_add(order_id)
            previous_raw = raw
        if kind:
            if kind == 1 and refunds is not None:
                yield from _refund_row(ctx, refunds, line, row, order_id)
            elif kind == 1:
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
        product = plain_product(raw_product)
        title_code = plain_title(raw_title)
        if product is None or title_code is None or quantity > MAX_QUANTITY:
            product_id = raw_product.strip()
            title = raw_title.strip()
            if (
                not product_id
                or len(product_id) > MAX_ID
                or quantity > MAX_QUANTITY
                or len(title) > MAX_TITLE
                or product_id[0] in FORMULA_START
                or (title and title[0] in FORMULA_START)
            ):
                item = line_item(line, product_id, quantity, title, None)
                if item is None:
                    continue
                product = product_key(item[0])
                title_code = title_key(item[1])
            else:  # plain: remember both cells so the next rows skip these checks
                product = plain_products[raw_product] = product_key(product_id)
                title_code = plain_titles[raw_title] = title_key(title)
        if order_id != current_id:
            if current_id is not None:  # before any order starts: a start may close it
                end_run(current)
                current_id = None
            order = open_get(order_id)
            if order is None:
                order = order_for(
                    line,
                    order_id,
                    row[i_date],
                    currency,
                    row[i_customer] if i_customer is not None else "",
                )
                if grouper.ready:
                    yield from drain()
                if order is None:
                    continue
            # Safe to keep: an open order is closed only by a start, which ends the run first.
            current_id, current = order_id, order
        if last_invoice is not None:  # a replay: remember who bought what, for C invoices
            customer = row[i_buyer].strip()
            if customer:
                last_invoice[(customer, raw_product.strip())] = order_id
        line_append(line)
        product_append(product)
        quantity_append(quantity)
        price_append(price)
        title_append(title_code)
    if current_id is not None:
        end_run(current)
    if refunds is not None:
        refunds.close()
        yield from refunds.drain()
    report.skipped_orders["cancelled"] += len(cancelled)
    report.skipped_orders["adjustment"] += len(adjustments)


def _refund_row(
    ctx: RowContext, refunds: Adjustments, line: int, row: list[str], invoice: str
) -> Iterator[OrderEvent]:
    """One row of a C invoice in a replay: the units it gives back, or a counted skip or bad row."""
    c = ctx.cols
    try:
        quantity = _quantity(row[c["quantity"]])
        price = parse_float(row[c["price"]], "price")
    except CellError as exc:
        ctx.report.bad(line, exc.code, str(exc))
        return
    if quantity >= 0:
        ctx.report.skip("cancellation")  # a C row that gives nothing back
        return
    if price < 0:
        ctx.report.bad(line, "negative_price", f"price {price} is negative")
        return
    i_title, i_customer = c.get("title"), c.get("customer_id")
    item = ctx.line_item(
        line, row[c["product_id"]], -quantity, row[i_title] if i_title is not None else "", None
    )
    if item is None:
        return
    customer = row[i_customer].strip() if i_customer is not None else ""
    refunds.refund_row(
        line, invoice, row[c["created_at"]], customer, item[0], -quantity, price, item[1]
    )
    yield from refunds.drain()  # the previous C invoice, closed by this one


# -- Olist order items ---------------------------------------------------------------------------


def olist_rows(ctx: RowContext, rows: Rows) -> Iterator[OrderEvent]:
    """One row per unit: rows of one order with the same product and price fold into one line
    whose quantity counts them. The order's date is its earliest shipping limit."""
    c, report, grouper, categories = ctx.cols, ctx.report, ctx.grouper, ctx.categories
    i_order, i_product, i_price, i_date = (
        c["order_id"],
        c["product_id"],
        c["price"],
        c["created_at"],
    )
    merged: dict[tuple[str, str, float], int] = {}  # (order, product, price) -> item index
    for line, row in rows:
        order_id = row[i_order].strip()
        ctx.seen.add(order_id)
        try:
            price = parse_float(row[i_price], "price")
        except CellError as exc:
            report.bad(line, exc.code, str(exc))
            continue
        if price <= 0:
            report.skip("non_positive_price")
            continue
        product_id = row[i_product].strip()
        key = (order_id, product_id, price)
        existing = merged.get(key)
        if existing is not None and order_id in grouper.open:
            grouper.merge_row(grouper.open[order_id], existing, line)
            continue
        item = ctx.line_item(line, product_id, 1, "", categories.get(product_id))
        if item is None:
            continue
        order = ctx.order_for(line, order_id, row[i_date], ctx.currency, "")
        if order is None:
            continue
        try:
            shipping = parse_datetime(row[i_date])
            if shipping < order.created_at:
                order.created_at = shipping  # the earliest shipping limit of the order
        except CellError:
            pass
        merged[key] = len(order.lines)
        product_id, title, category = item
        grouper.add(order, line, product_id, 1, price, title, category)
        if len(merged) > 4096:
            merged = {k: v for k, v in merged.items() if k[0] in grouper.open}
        yield from grouper.drain()


# -- Shopify orders export -----------------------------------------------------------------------


def shopify_orders_rows(ctx: RowContext, rows: Rows) -> Iterator[OrderEvent]:
    """An order cancelled, voided or refunded (decided on its first row) is skipped whole, unless
    the context collects adjustments (a replay): then it is read as an order and marked for its
    cancellation or refund. The line's product is its SKU, else its name."""
    c, report, grouper = ctx.cols, ctx.report, ctx.grouper
    i_cancel, i_status = c.get("cancelled_at"), c.get("financial_status")
    skipped: dict[str, str] = {}
    for line, row in rows:
        order_id = row[c["order_id"]].strip()
        if order_id in skipped:
            report.skip(skipped[order_id])
            continue
        is_first = order_id not in grouper.open and order_id not in grouper.emitted
        if is_first:
            status = row[i_status].strip().lower() if i_status is not None else ""
            reason = (
                "cancelled_order"
                if (i_cancel is not None and row[i_cancel].strip()) or status == "voided"
                else "refunded_order"
                if status == "refunded"
                else None
            )
            if reason and ctx.adjustments is not None:
                _mark_shopify(ctx, ctx.adjustments, line, row, order_id, reason)
            elif reason:
                skipped[order_id] = reason
                report.skipped_orders[reason.removesuffix("_order")] += 1
                report.skip(reason)
                continue
        ctx.seen.add(order_id)
        parsed = ctx.quantity_price(line, row)
        if parsed is None:
            continue
        quantity, price = parsed
        title = row[c["title"]].strip()
        sku = row[c["sku"]].strip() if "sku" in c else ""
        item = ctx.line_item(line, sku or title, quantity, title, None)
        if item is None:
            continue
        currency = (row[c["currency"]].strip().upper() if "currency" in c else "") or ctx.currency
        customer = row[c["customer_id"]] if "customer_id" in c else ""
        order = ctx.order_for(line, order_id, row[c["created_at"]], currency, customer)
        if order is not None:
            grouper.add(order, line, item[0], quantity, price, item[1], item[2])
            yield from grouper.drain()


def _mark_shopify(
    ctx: RowContext, adjustments: Adjustments, line: int, row: list[str], order_id: str, reason: str
) -> None:
    """Mark an order to be followed by its cancellation (at ``Cancelled at``, else the order's
    time) or by a refund of all its lines."""
    c = ctx.cols
    i_cancel = c.get("cancelled_at")
    when_text = row[i_cancel].strip() if i_cancel is not None else ""
    try:
        when = parse_datetime(when_text or row[c["created_at"]])
    except CellError as exc:
        ctx.report.warn(line, exc.code, f"{reason}: {exc}; the order stays an order")
        return
    adjustments.mark(order_id, "cancellation" if reason == "cancelled_order" else "refund", when)


# -- generic orders CSV --------------------------------------------------------------------------


def generic_rows(ctx: RowContext, rows: Rows) -> Iterator[OrderEvent]:
    """One row per line item; optional category, title, customer and currency columns."""
    c, grouper = ctx.cols, ctx.grouper
    i_cat, i_title, i_cust, i_cur = (
        c.get("category"),
        c.get("title"),
        c.get("customer_id"),
        c.get("currency"),
    )
    for line, row in rows:
        order_id = row[c["order_id"]].strip()
        ctx.seen.add(order_id)
        parsed = ctx.quantity_price(line, row)
        if parsed is None:
            continue
        quantity, price = parsed
        category = row[i_cat].strip() if i_cat is not None else ""
        title = row[i_title].strip() if i_title is not None else ""
        item = ctx.line_item(line, row[c["product_id"]], quantity, title, category or None)
        if item is None:
            continue
        currency = (row[i_cur].strip().upper() if i_cur is not None else "") or ctx.currency
        order = ctx.order_for(
            line,
            order_id,
            row[c["created_at"]],
            currency,
            row[i_cust] if i_cust is not None else "",
        )
        if order is not None:
            grouper.add(order, line, item[0], quantity, price, item[1], item[2])
            yield from grouper.drain()


# -- the formats ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderFormat:
    """One orders export: how to recognise it, which columns it reads, how its rows become lines."""

    name: str
    signature: tuple[str, ...]  # columns that identify the format in a header
    required: Columns  # logical name -> header aliases (classic and current exports)
    optional: Columns
    currency: str  # when neither the caller nor the row names one
    rows: Callable[[RowContext, Rows], Iterator[OrderEvent]]


# Most specific first: detection takes the first format whose signature columns are all present.
FORMATS: dict[str, OrderFormat] = {
    f.name: f
    for f in (
        OrderFormat(
            "online_retail",
            ("InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice"),
            {
                "order_id": ("InvoiceNo", "Invoice"),
                "product_id": ("StockCode",),
                "quantity": ("Quantity",),
                "created_at": ("InvoiceDate",),
                "price": ("UnitPrice", "Price"),
            },
            {"title": ("Description",), "customer_id": ("CustomerID", "Customer ID")},
            "GBP",
            online_retail_rows,
        ),
        OrderFormat(
            "olist",
            ("order_id", "order_item_id", "product_id", "price", "shipping_limit_date"),
            {
                "order_id": ("order_id",),
                "product_id": ("product_id",),
                "price": ("price",),
                "created_at": ("shipping_limit_date",),
            },
            {"item": ("order_item_id",)},
            "BRL",
            olist_rows,
        ),
        OrderFormat(
            "shopify_orders",
            ("Name", "Created at", "Lineitem quantity", "Lineitem name", "Lineitem price"),
            {
                "order_id": ("Name",),
                "created_at": ("Created at",),
                "quantity": ("Lineitem quantity",),
                "title": ("Lineitem name",),
                "price": ("Lineitem price",),
            },
            {
                "sku": ("Lineitem sku",),
                "currency": ("Currency",),
                "customer_id": ("Email",),
                "cancelled_at": ("Cancelled at",),
                "financial_status": ("Financial Status",),
            },
            "USD",
            shopify_orders_rows,
        ),
        OrderFormat(
            "generic",
            ("order_id", "product_id", "quantity", "price", "created_at"),
            {
                "order_id": ("order_id",),
                "product_id": ("product_id",),
                "quantity": ("quantity",),
                "price": ("price",),
                "created_at": ("created_at",),
            },
            {
                "category": ("category",),
                "title": ("title",),
                "customer_id": ("customer_id",),
                "currency": ("currency",),
            },
            "USD",
            generic_rows,
        ),
    )
}

ORDER_FORMATS = tuple(FORMATS)
SIGNATURES: dict[str, tuple[str, ...]] = {name: f.signature for name, f in FORMATS.items()}
