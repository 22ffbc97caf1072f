"""Shopify ``orders/cancelled`` and ``refunds/create``: payload mapping and topic dispatch."""

from __future__ import annotations

import orjson
import pytest

from webhooks.shopify import (
    WebhookRejected,
    cancellation_from_shopify,
    event_from_shopify,
    refund_from_shopify,
    sign,
    verify_signature,
)

from .test_shopify import shopify_order


def shopify_refund(**overrides: object) -> dict:
    """Shaped like Shopify's refunds/create example payload."""
    payload: dict = {
        "id": 509562969,
        "order_id": 820982911946154508,
        "created_at": "2024-03-02T09:00:00-05:00",
        "note": "it broke during shipping",
        "refund_line_items": [
            {
                "id": 104689539,
                "quantity": 1,
                "line_item_id": 1,
                "restock_type": "return",
                "subtotal": 199.0,
                "line_item": {
                    "id": 1,
                    "product_id": 632910392,
                    "variant_id": 808950810,
                    "title": "IPod Nano - 8gb",
                    "quantity": 2,
                    "price": "199.00",
                    "product_type": "Electronics",
                },
            }
        ],
        "transactions": [{"id": 1, "amount": "199.00", "currency": "EUR"}],
    }
    payload.update(overrides)
    return payload


def test_a_cancelled_order_maps_to_a_cancellation_of_the_same_order_id() -> None:
    payload = shopify_order(cancelled_at="2024-03-01T12:00:00-05:00", cancel_reason="customer")
    event = cancellation_from_shopify(payload, "shop.example")
    assert event.kind == "cancellation" and event.order_id == "820982911946154508"
    assert event.refund_id is None and event.source == "webhook"
    assert event.created_at.isoformat() == "2024-03-01T12:00:00-05:00"  # when it was cancelled
    assert [(line.product_id, line.quantity) for line in event.lines] == [
        ("632910392", 2),
        ("49148385", 1),
    ]


def test_a_cancellation_without_line_items_is_still_a_cancellation() -> None:
    event = cancellation_from_shopify(shopify_order(line_items=[]), "s")
    assert event.kind == "cancellation" and event.lines == []


def test_a_refund_maps_its_refunded_units_and_its_own_id() -> None:
    event = refund_from_shopify(shopify_refund(), "shop.example")
    assert event is not None
    assert (event.kind, event.order_id, event.refund_id) == (
        "refund",
        "820982911946154508",
        "509562969",
    )
    assert [(line.product_id, line.quantity, line.price) for line in event.lines] == [
        ("632910392", 1, 199.0)
    ]
    assert event.currency == "EUR" and event.lines[0].category == "Electronics"


def test_a_refund_of_money_only_changes_nothing() -> None:
    assert refund_from_shopify(shopify_refund(refund_line_items=[]), "s") is None
    zero = shopify_refund()
    zero["refund_line_items"][0]["quantity"] = 0
    assert refund_from_shopify(zero, "s") is None


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ([], "JSON object"),
        ({"id": 1, "refund_line_items": []}, "no order_id"),
        ({"order_id": 1, "refund_line_items": []}, "no id"),
        ({"id": 1, "order_id": 1, "refund_line_items": {}}, "not a list"),
        ({"id": 1, "order_id": 1, "refund_line_items": [{"quantity": 1}]}, "line_item"),
        (
            {"id": 1, "order_id": 1, "refund_line_items": [{"quantity": 1, "line_item": {}}]},
            "product_id",
        ),
        (
            {
                "id": 1,
                "order_id": 1,
                "refund_line_items": [
                    {"quantity": -2, "line_item": {"product_id": 5, "price": "1.00"}}
                ],
            },
            "quantity",
        ),
    ],
)
def test_bad_refunds_are_refused_with_the_reason(payload: object, reason: str) -> None:
    with pytest.raises(WebhookRejected) as exc:
        refund_from_shopify(payload, "s")
    assert exc.value.status == 422 and reason in exc.value.reason


def test_the_topic_header_picks_the_mapping() -> None:
    order = event_from_shopify("orders/create", shopify_order(), "s")
    assert order is not None and order.kind == "order"
    legacy = event_from_shopify(None, shopify_order(), "s")  # no header: an order, as before
    assert legacy is not None and legacy.kind == "order"
    cancel = event_from_shopify(" Orders/Cancelled ", shopify_order(), "s")
    assert cancel is not None and cancel.kind == "cancellation"
    refund = event_from_shopify("refunds/create", shopify_refund(), "s")
    assert refund is not None and refund.kind == "refund"
    with pytest.raises(WebhookRejected) as exc:
        event_from_shopify("products/update", {}, "s")
    assert exc.value.status == 422 and "not handled" in exc.value.reason


def test_the_signature_covers_refund_bodies_as_it_does_orders() -> None:
    body = orjson.dumps(shopify_refund())
    assert verify_signature("hush", body, sign("hush", body))
    assert not verify_signature("hush", body + b" ", sign("hush", body))
