"""An order history as flat numpy columns, built in one pass (or taken from a columnar parser).

Why: every per-upload view (basket matrix, units per product, category tallies, repeat buyers,
a catalog from orders) used to walk the 541,909 Online Retail lines in Python, several times.
Here one comprehension dict-encodes the product ids (first-seen order, like
``BasketMatrix.from_baskets``) and everything else is ``np.bincount`` / sparse products.
Quantities, prices, titles and customers are read lazily: most uploads never need them.
``from_columnar`` accepts ``ingest.columnar.OrderLines`` (duck-typed) and skips the pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp

from .mining import BasketMatrix


def _is_computed(obj: object, cached: str) -> bool:
    """Whether the ``cached_property`` named ``cached`` has run: its value sits in the instance
    ``__dict__`` once computed, and asking must not compute it."""
    return cached in vars(obj)


@dataclass(eq=False)
class OrderArrays:
    product_ids: np.ndarray  # (n_products,) object, first-seen order
    line_order: np.ndarray  # (n_lines,) int64 -> order row
    line_product: np.ndarray  # (n_lines,) int64 -> product_ids
    order_ts: np.ndarray  # (n_orders,) float epoch seconds (UTC)
    orders: Sequence[Any] = ()  # the OrderEvents, for the lazy columns
    _cols: Any = None  # a columnar source, for the lazy columns
    _cache: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_orders(cls, orders: Sequence[Any]) -> OrderArrays:
        index: dict[str, int] = {}
        sd = index.setdefault
        codes = [sd(ln.product_id, len(index)) for o in orders for ln in o.lines]
        lens = np.fromiter((len(o.lines) for o in orders), np.int64, len(orders))
        ts = np.fromiter(
            (
                (
                    o.created_at if o.created_at.tzinfo else o.created_at.replace(tzinfo=UTC)
                ).timestamp()
                for o in orders
            ),
            float,
            len(orders),
        )
        items = np.empty(len(index), dtype=object)
        items[:] = list(index)
        return cls(
            items,
            np.repeat(np.arange(len(orders), dtype=np.int64), lens),
            np.asarray(codes, dtype=np.int64),
            ts,
            orders,
        )

    @classmethod
    def from_columnar(cls, lines: Any) -> OrderArrays:
        """From ``ingest.columnar.OrderLines`` (or anything with the same columns)."""
        ts = lines.order_created_at.astype("datetime64[s]").astype(np.int64).astype(float)
        return cls(
            np.asarray(lines.product_ids, dtype=object),
            np.asarray(lines.line_order, np.int64),
            np.asarray(lines.line_product, np.int64),
            ts,
            (),
            lines,
        )

    @property
    def n_orders(self) -> int:
        return int(self.order_ts.size)

    @property
    def n_products(self) -> int:
        return int(self.product_ids.size)

    @cached_property
    def basket(self) -> BasketMatrix:
        """Orders x products, int32 ones (a product twice in an order counts once)."""
        return BasketMatrix.from_codes(
            self.line_order, self.line_product, self.n_orders, self.product_ids
        )

    def _lines_attr(self, name: str, dtype: Any) -> np.ndarray:
        if self._cols is not None:
            return np.asarray(getattr(self._cols, name), dtype=dtype)
        return np.asarray([getattr(ln, name) for o in self.orders for ln in o.lines], dtype=dtype)

    @cached_property
    def quantity(self) -> np.ndarray:
        return self._lines_attr("quantity", np.int64)

    @cached_property
    def price(self) -> np.ndarray:
        return self._lines_attr("price", float)

    @cached_property
    def customers(self) -> np.ndarray:
        """(n_orders,) int customer code, -1 for none."""
        raw = (
            list(self._cols.order_customer)
            if self._cols is not None
            else [o.customer_id for o in self.orders]
        )
        idx: dict[str, int] = {}
        return np.asarray([-1 if c is None else idx.setdefault(c, len(idx)) for c in raw], np.int64)

    def units_since(self, since_ts: float) -> np.ndarray:
        """Units sold per product in orders at or after ``since_ts``."""
        recent = self.order_ts[self.line_order] >= since_ts
        if self._cols is None and not _is_computed(self, "quantity"):
            # read quantities of the recent orders only (usually a small tail of the history)
            rows = np.flatnonzero(self.order_ts >= since_ts).tolist()
            q = np.asarray([ln.quantity for r in rows for ln in self.orders[r].lines], float)
        else:
            q = self.quantity[recent].astype(float)
        return np.bincount(self.line_product[recent], weights=q, minlength=self.n_products)

    def median_price(self) -> np.ndarray:
        """Per product ``sorted(prices)[n // 2]`` over its lines; NaN when it has none."""
        order = np.lexsort((self.price, self.line_product))
        counts = np.bincount(self.line_product, minlength=self.n_products)
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        out = np.full(self.n_products, np.nan)
        has = counts > 0
        out[has] = self.price[order[starts[has] + counts[has] // 2]]
        return out

    def last_text(self) -> tuple[list[str | None], list[str | None]]:
        """(title, category) of each product's last line (``catalog_from_orders``'s rule)."""
        last = np.zeros(self.n_products, np.int64)
        last[self.line_product] = np.arange(self.line_product.size)  # later lines overwrite
        if self._cols is not None:
            c = self._cols
            lt, lc = np.asarray(c.line_title)[last], np.asarray(c.line_category)[last]
            return (
                [c.titles[i] if i >= 0 else None for i in lt.tolist()],
                [c.categories[i] if i >= 0 else None for i in lc.tolist()],
            )
        flat = [ln for o in self.orders for ln in o.lines]
        picked = [flat[i] for i in last.tolist()]
        return [ln.title for ln in picked], [ln.category for ln in picked]

    def repeat_products(self) -> np.ndarray:
        """Products bought in quantity >= 2 on a line, or on 2+ lines by the same customer."""
        rep = np.zeros(self.n_products, bool)
        rep[self.line_product[self.quantity >= 2]] = True
        cust = self.customers[self.line_order]
        has = cust >= 0
        if has.any():
            keys = cust[has] * np.int64(self.n_products) + self.line_product[has]
            u, c = np.unique(keys, return_counts=True)
            rep[(u[c >= 2] % self.n_products)] = True
        return rep

    def category_matrix(
        self, product_category: Sequence[str | None]
    ) -> tuple[sp.csr_matrix, list[str]]:
        """Orders x categories (bool as int), with ``product_category`` aligned with product_ids
        (None: the product has no category and is left out)."""
        idx: dict[str, int] = {}
        pc = np.asarray(
            [-1 if c is None else idx.setdefault(c, len(idx)) for c in product_category], np.int64
        )
        keep = pc[self.line_product] >= 0
        M = sp.csr_matrix(
            (
                np.ones(int(keep.sum()), np.int32),
                (self.line_order[keep], pc[self.line_product[keep]]),
            ),
            shape=(self.n_orders, len(idx)),
        )
        M.sum_duplicates()
        M.data[:] = 1
        return M, list(idx)
