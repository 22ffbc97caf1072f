"""Client-named ids (store, upload, session, bundle) and money bounds, as the models enforce them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from models import AddBulkRequest, ChatTurn, OrderEvent, UploadEvent
from models.common import MAX_MONEY, safe_id_problem

GOOD = [
    "default",
    "or-united-kingdom",
    "shop.myshopify.com",
    "olist-demo",
    "a",
    "x" * 200,
    "0f8fad5b-d9cb-469f-a165-70867728950e",
    "user@example.com",
    "s+1_b",
]
BAD = [
    "",
    "..",
    "../../etc/passwd",
    "..%2F..%2Fetc",
    "/etc/passwd",
    "a/b",
    "a\\b",
    "shop\x00evil",
    "a\nb",
    "x" * 201,
    "c\u0430nary",
    "\uff43anary",
    "ca\u200dnary",
    "-leading",
    ".hidden",
    "a..b",
    "a b",
    "a:b",
]


@pytest.mark.parametrize("value", GOOD)
def test_safe_ids_accepted_everywhere(value: str) -> None:
    assert safe_id_problem(value) is None
    ChatTurn(turn_id="t", session_id=value, store_id=value, text="hi")
    UploadEvent(
        upload_id=value,
        store_id=value,
        files=[{"kind": "catalog", "format": "generic", "inline_text": "a\n"}],
    )
    OrderEvent(
        order_id="o", store_id=value, lines=[{"product_id": "p", "quantity": 1, "price": 1.0}]
    )
    AddBulkRequest(product_ids=["p"], store_id=value, session_id=value, bundle_id=value)


@pytest.mark.parametrize("value", BAD)
def test_unsafe_ids_refused_with_a_reason(value: str) -> None:
    problem = safe_id_problem(value)
    assert problem and len(problem) < 200
    with pytest.raises(ValidationError):
        ChatTurn(turn_id="t", session_id="s", store_id=value, text="hi")
    with pytest.raises(ValidationError):
        ChatTurn(turn_id="t", session_id=value, store_id="s", text="hi")
    with pytest.raises(ValidationError):
        UploadEvent(
            upload_id=value,
            store_id="s",
            files=[{"kind": "catalog", "format": "generic", "inline_text": "a\n"}],
        )
    with pytest.raises(ValidationError):
        OrderEvent(
            order_id="o", store_id=value, lines=[{"product_id": "p", "quantity": 1, "price": 1.0}]
        )
    with pytest.raises(ValidationError):
        AddBulkRequest(product_ids=["p"], store_id=value)


def test_product_and_order_ids_keep_the_loose_rule() -> None:
    """Product and order ids come from store exports (Shopify '#1001', Online Retail '85123A')."""
    OrderEvent(
        order_id="#1001/a b",
        store_id="s",
        lines=[{"product_id": "gid://shopify/Product/1", "quantity": 1, "price": 1.0}],
    )


@pytest.mark.parametrize("price", [float("nan"), float("inf"), 1e308, MAX_MONEY * 1.0001, -0.01])
def test_absurd_prices_refused(price: float) -> None:
    with pytest.raises(ValidationError):
        OrderEvent(
            order_id="o", store_id="s", lines=[{"product_id": "p", "quantity": 1, "price": price}]
        )


def test_prices_up_to_the_bound_accepted() -> None:
    OrderEvent(
        order_id="o", store_id="s", lines=[{"product_id": "p", "quantity": 1, "price": MAX_MONEY}]
    )
