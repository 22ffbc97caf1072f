"""Small model factories shared by test files: an order in one line instead of a nested dict."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from models.orders import OrderEvent

# (product_id, quantity) plus optionally the category, then the title
Line = tuple[str, int] | tuple[str, int, str | None] | tuple[str, int, str | None, str | None]


def order(
    order_id: str,
    store: str = "s1",
    lines: Sequence[Line] = (("p1", 1, "toys"),),
    *,
    at: float | None = None,
    price: float = 1.0,
) -> OrderEvent:
    """An ``OrderEvent`` through the model's validation, every line at ``price``.

    ``at`` is the order time in epoch seconds (UTC); without it the model's default (now) applies.
    """
    payload: dict[str, Any] = {
        "order_id": order_id,
        "store_id": store,
        "lines": [_line(line, price) for line in lines],
    }
    if at is not None:
        payload["created_at"] = datetime.fromtimestamp(at, tz=UTC).isoformat()
    return OrderEvent.model_validate(payload)


def _line(line: Line, price: float) -> dict[str, Any]:
    product_id, quantity, *rest = line
    out: dict[str, Any] = {"product_id": product_id, "quantity": quantity, "price": price}
    if rest:
        out["category"] = rest[0]
    if len(rest) > 1:
        out["title"] = rest[1]
    return out
