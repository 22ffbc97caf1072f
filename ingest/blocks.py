"""The open-order window over whole blocks of rows: what ``OrderWindow`` (``ingest.grouping``)
does row by row, done with numpy for the columnar reader (``ingest.columnar``).

Why: a Python call per order start, close and run cost ~0.6 s of a 541,909-row Online Retail
upload (19,960 orders), more than pyarrow takes to read the file.

The window restated for a block of candidate rows in file order: an order starts on the first
row of its id that ``RowContext.order_fields`` accepts and takes the next number in start order;
the start of order ``s + OPEN_WINDOW`` closes order ``s``; a row of a started order belongs to it
until it closes, and is an ``order_not_contiguous`` bad row after. Closing does what
``OrderWindow.close`` does: for an order that needs no split, has an id no formula check can
object to and passes the grouper's cheap validity check, that is counting, done for a whole run
of orders at once; any other order goes through ``OrderWindow.parts`` and the grouper's pydantic
check one at a time. Which bad rows and warnings a block gives, and where they fall among the
rules' own, is the caller's to replay in file order (``close_upto`` at each report position).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from .cells import FORMULA_START
from .grouping import MAX_LINES, OPEN_WINDOW
from .order_formats import MAX_QUANTITY

if TYPE_CHECKING:
    from .columnar import ColumnGrouper

# the columns of the rows a block window keeps: order number, line, product, quantity, price,
# title, and whether the row is kept (False: its order part was refused)
_DTYPES = (np.int64, np.int64, np.int64, np.int64, np.float64, np.int64, bool)


def _empty() -> list[np.ndarray]:
    return [np.empty(0, dtype=d) for d in _DTYPES]


class BlockWindow:
    """The window's state across blocks: orders by start number, rows of orders still open."""

    def __init__(self, grouper: ColumnGrouper) -> None:
        self.grouper = grouper
        self.codes: dict[str, int] = {}  # order id -> code
        self.seq_of = np.empty(0, dtype=np.int64)  # per code: start number, -1 not started
        # per order, by start number
        self.ids: list[str] = []
        self.created: list[datetime] = []
        self.currency: list[str] = []
        self.customer: list[str | None] = []
        self.first_line = np.empty(0, dtype=np.int64)
        self.last_line = np.empty(0, dtype=np.int64)
        self.n = np.empty(0, dtype=np.int64)
        self.suspect = np.empty(0, dtype=bool)  # a quantity pydantic might refuse
        self.long = np.empty(0, dtype=bool)  # a product id over MAX_ID characters
        self.started = 0
        self.closed = 0  # orders below this number are closed
        self.pending = _empty()  # rows of orders not closed yet, sorted by order (stable)
        self.chunks: list[list[np.ndarray]] = []  # rows of closed orders, in event order
        # what closing made, in order: (lo, hi) a run of one-event orders, or (id, seq, lines)
        self.log: list[tuple[Any, ...]] = []

    def codes_of(self, ids: list[str]) -> np.ndarray:
        """The code of each order id (new ids get the next codes)."""
        codes = self.codes
        out = np.fromiter((codes.setdefault(i, len(codes)) for i in ids), np.int64, len(ids))
        if len(codes) > self.seq_of.size:
            grown = np.full(len(codes), -1, dtype=np.int64)
            grown[: self.seq_of.size] = self.seq_of
            self.seq_of = grown
        return out

    def started_mask(self, codes: np.ndarray) -> np.ndarray:
        return self.seq_of[codes] >= 0

    def add(
        self,
        codes: np.ndarray,
        lines: np.ndarray,
        products: np.ndarray,
        quantities: np.ndarray,
        prices: np.ndarray,
        titles: np.ndarray,
        dropped: np.ndarray,
        starts: np.ndarray,
        fields: list[tuple[str, datetime, str, str | None]],
    ) -> tuple[np.ndarray, list[tuple[int, str]]]:
        """A block of candidate rows (``codes``: their order ids' codes) in file order.

        ``starts``: the rows (ascending) that start an order, with its (id, created_at, currency,
        customer); ``dropped``: rows already reported (a start the order fields refused). Returns
        (after each start, the number of orders closed by then; the rows of closed orders as
        (row, detail of their bad row)). Nothing is closed yet: see ``close_upto``.
        """
        k = int(starts.size)
        base = self.started
        self.seq_of[codes[starts]] = base + np.arange(k, dtype=np.int64)
        for order_id, created, currency, customer in fields:
            self.ids.append(order_id)
            self.created.append(created)
            self.currency.append(currency)
            self.customer.append(customer)
        self.started += k
        total = self.started
        self.first_line = np.concatenate((self.first_line, lines[starts]))
        for name in ("last_line", "n"):
            setattr(self, name, np.concatenate((getattr(self, name), np.zeros(k, np.int64))))
        self.suspect = np.concatenate((self.suspect, np.zeros(k, dtype=bool)))
        self.long = np.concatenate((self.long, np.zeros(k, dtype=bool)))

        n_rows = int(codes.size)
        seq = self.seq_of[codes]
        # the row at which each row's order closes: the start OPEN_WINDOW orders later
        j = seq + OPEN_WINDOW - base
        closes_at = np.where(j < 0, -1, n_rows)
        inside = (j >= 0) & (j < k)
        closes_at[inside] = starts[j[inside]]
        live = ~dropped & (seq >= 0)
        accepted = live & (np.arange(n_rows) < closes_at)
        late_rows = np.flatnonzero(live & ~accepted)

        s_acc = seq[accepted]
        self.n += np.bincount(s_acc, minlength=total)
        l_acc = lines[accepted]
        np.maximum.at(self.last_line, s_acc, l_acc)
        q_acc = quantities[accepted]
        odd = (q_acc <= 0) | (q_acc > MAX_QUANTITY)
        if odd.any():
            self.suspect[s_acc[odd]] = True
        p_acc = products[accepted]
        long_products = self.grouper.long_products
        if long_products:
            is_long = np.isin(p_acc, np.fromiter(long_products, np.int64, len(long_products)))
            self.long[s_acc[is_long]] = True

        ids, last = self.ids, self.last_line
        late = [
            (
                c,
                f"order {ids[s]!r} already emitted (its rows ended near line {last[s]})",
            )
            for c, s in zip(late_rows.tolist(), seq[late_rows].tolist())
        ]
        new = (s_acc, l_acc, p_acc, q_acc, prices[accepted], titles[accepted])
        rows = [np.concatenate((old, add)) for old, add in zip(self.pending, new)]
        rows.append(np.concatenate((self.pending[-1], np.ones(s_acc.size, dtype=bool))))
        order = np.argsort(rows[0], kind="stable")
        self.pending = [column[order] for column in rows]
        bounds = np.maximum(base + np.arange(k, dtype=np.int64) + 1 - OPEN_WINDOW, 0)
        return bounds, late

    def close_upto(self, bound: int) -> None:
        """Close orders up to ``bound`` (exclusive), in start order."""
        lo = self.closed
        if bound <= lo:
            return
        g = self.grouper
        n = self.n[lo:bound]
        limit = g.max_lines_per_order
        if limit is not None and int(n.max()) > limit:
            s = lo + int(np.flatnonzero(n > limit)[0])
            g.check_size(self.ids[s], int(self.n[s]))  # raises
        ids = self.ids[lo:bound]
        ok = {c: g.store_ok and g.currency_ok(c) for c in set(self.currency[lo:bound])}
        rare = (
            (n > MAX_LINES)
            | self.suspect[lo:bound]
            | self.long[lo:bound]
            | np.fromiter(
                (not ok[c] or i[:1] in FORMULA_START for i, c in zip(ids, self.currency[lo:bound])),
                dtype=bool,
                count=bound - lo,
            )
        )
        at = lo
        for s in (lo + np.flatnonzero(rare)).tolist():
            self._plain(at, s)
            self._rare(s)
            at = s + 1
        self._plain(at, bound)
        self.closed = bound

    def _plain(self, lo: int, hi: int) -> None:
        if hi <= lo:
            return
        g, report = self.grouper, self.grouper.report
        g.emitted.update(zip(self.ids[lo:hi], self.last_line[lo:hi].tolist()))
        report.used_rows += int(self.n[lo:hi].sum())
        report.events += hi - lo
        self.log.append((lo, hi))

    def _rare(self, s: int) -> None:
        g, report = self.grouper, self.grouper.report
        n = int(self.n[s])
        order = g.order_type(self.ids[s], self.created[s], self.currency[s], self.customer[s])
        order.suspect = bool(self.suspect[s])
        seq, line, product, quantity, price, title, keep = self.pending
        first = int(np.searchsorted(seq, s))
        long_products = g.long_products
        for order_id, start, stop in g.parts(
            self.ids[s], n, int(self.first_line[s]), int(self.last_line[s])
        ):
            rows = slice(first + start, first + stop)
            part = product[rows].tolist()
            if not g.trusted(order_id, order, any(p in long_products for p in part)):
                problem = g.invalid(
                    order_id,
                    order,
                    part,
                    quantity[rows].tolist(),
                    price[rows].tolist(),
                    title[rows].tolist(),
                    [-1] * len(part),
                )
                if problem is not None:
                    for ln in line[rows].tolist():
                        report.bad(ln, "invalid_order", problem)
                    keep[rows] = False
                    continue
            report.used_rows += stop - start
            report.events += 1
            self.log.append((order_id, s, stop - start))

    def flush(self) -> None:
        """Move the rows of closed orders out of ``pending`` (end of a block)."""
        cut = int(np.searchsorted(self.pending[0], self.closed))
        if cut:
            keep = self.pending[-1][:cut]
            self.chunks.append([column[:cut][keep] for column in self.pending])
            self.pending = [column[cut:] for column in self.pending]

    def finish(self) -> None:
        self.close_upto(self.started)
        self.flush()

    def events(self) -> tuple[list[str], list[int], np.ndarray]:
        """(event order ids, their order numbers, their line counts), in event order."""
        event_ids: list[str] = []
        seqs: list[int] = []
        sizes: list[np.ndarray] = []
        for entry in self.log:
            if len(entry) == 2:
                lo, hi = entry
                event_ids.extend(self.ids[lo:hi])
                seqs.extend(range(lo, hi))
                sizes.append(self.n[lo:hi])
            else:
                order_id, s, count = entry
                event_ids.append(order_id)
                seqs.append(s)
                sizes.append(np.array([count], dtype=np.int64))
        return event_ids, seqs, np.concatenate(sizes) if sizes else np.empty(0, np.int64)

    def rows(self) -> list[np.ndarray]:
        """The kept rows of emitted events, in event order: (order, line, product, quantity,
        price, title) columns."""
        if not self.chunks:
            return _empty()[:-1]
        return [np.concatenate(parts) for parts in list(zip(*self.chunks))[:-1]]
