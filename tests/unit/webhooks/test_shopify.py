"""Shopify webhook signature check and payload mapping (pure, no HTTP)."""

from __future__ import annotations

import base64
import hashlib
import hmac

import orjson
import pytest

from webhooks.shopify import WebhookRejected, order_from_shopify, sign, verify_signature

SECRET = "hush"


def shopify_order(**overrides: object) -> dict:
    payload = {
        "id": 820982911946154508,
        "name": "#9999",
        "created_at": "2024-03-01T10:00:00-05:00",
        "currency": "EUR",
        "customer": {"id": 115310627314723954},
        "line_items": [
            {
                "id": 1,
                "product_id": 632910392,
                "variant_id": 808950810,
                "sku": "IPOD2008PINK",
                "quantity": 2,
                "price": "199.00",
                "title": "IPod Nano - 8gb",
                "product_type": "Electronics",
            },
            {
                "id": 2,
                "product_id": None,
                "variant_id": 49148385,
                "quantity": 1,
                "price": "5.50",
                "name": "Case",
                "product_type": "",
            },
        ],
    }
    payload.update(overrides)
    return payload


def test_sign_is_base64_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"id": 1}'
    expected = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    assert sign(SECRET, body) == expected


def test_verify_accepts_the_right_signature_with_surrounding_whitespace() -> None:
    body = orjson.dumps(shopify_order())
    assert verify_signature(SECRET, body, sign(SECRET, body))
    assert verify_signature(SECRET, body, "  " + sign(SECRET, body) + "\n")


@pytest.mark.parametrize("header", [None, "", "not-base64", "AAAA"])
def test_verify_rejects_missing_or_garbage_headers(header: str | None) -> None:
    assert not verify_signature(SECRET, b"{}", header)


def test_verify_rejects_a_tampered_body_or_another_secret() -> None:
    body = orjson.dumps(shopify_order())
    good = sign(SECRET, body)
    tampered = body.replace(b'"quantity":2', b'"quantity":200')
    assert tampered != body
    assert not verify_signature(SECRET, tampered, good)
    assert not verify_signature("other", body, good)
    # the signature covers raw bytes: re-serialising the same JSON differently breaks it
    assert not verify_signature(
        SECRET, orjson.dumps(orjson.loads(body), option=orjson.OPT_INDENT_2), good
    )


def test_verify_is_a_constant_time_compare(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple] = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: calls.append((a, b)) or real(a, b))
    body = b"{}"
    verify_signature(SECRET, body, sign(SECRET, body))
    assert calls, "verify_signature must use hmac.compare_digest"


def test_mapping_of_a_shopify_order() -> None:
    event = order_from_shopify(shopify_order(), "shop.myshopify.com")
    assert event.order_id == "820982911946154508" and event.store_id == "shop.myshopify.com"
    assert (
        event.source == "webhook"
        and event.currency == "EUR"
        and event.customer_id == "115310627314723954"
    )
    first, second = event.lines
    assert (first.product_id, first.quantity, first.price, first.title, first.category) == (
        "632910392",
        2,
        199.0,
        "IPod Nano - 8gb",
        "Electronics",
    )
    # product_id missing -> variant_id; empty product_type -> no category; name as title
    assert (second.product_id, second.quantity, second.price, second.title, second.category) == (
        "49148385",
        1,
        5.5,
        "Case",
        None,
    )
    assert event.created_at.utcoffset() is not None and event.created_at.hour == 10


def test_sku_is_the_last_resort_product_id_and_name_the_last_resort_order_id() -> None:
    payload = shopify_order(id=None, line_items=[{"sku": "SKU-1", "quantity": 1, "price": "1.00"}])
    event = order_from_shopify(payload, "s")
    assert event.order_id == "#9999" and event.lines[0].product_id == "SKU-1"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ([1, 2], "JSON object"),
        ("order", "JSON object"),
        (shopify_order(id=None, name=None, admin_graphql_api_id=None), "no id"),
        (shopify_order(line_items=[]), "no line_items"),
        (shopify_order(line_items=None), "no line_items"),
        ({k: v for k, v in shopify_order().items() if k != "line_items"}, "no line_items"),
        (shopify_order(line_items=["x"]), "line_items[0] is not an object"),
        (
            shopify_order(line_items=[{"quantity": 1, "price": "1"}]),
            "line_items[0] has no product_id",
        ),
        (shopify_order(line_items=[{"product_id": 1, "quantity": -1, "price": "1"}]), "quantity"),
        (shopify_order(line_items=[{"product_id": 1, "quantity": 0, "price": "1"}]), "quantity"),
        (
            shopify_order(line_items=[{"product_id": 1, "quantity": "two", "price": "1"}]),
            "quantity",
        ),
        (shopify_order(line_items=[{"product_id": 1, "quantity": 1, "price": "-3"}]), "price"),
        (shopify_order(line_items=[{"product_id": 1, "quantity": 1}]), "price"),
        (shopify_order(currency="euro"), "currency"),
    ],
)
def test_invalid_payloads_are_422_with_the_reason(payload: object, reason: str) -> None:
    with pytest.raises(WebhookRejected) as info:
        order_from_shopify(payload, "s")
    assert info.value.status == 422
    assert reason in info.value.reason, info.value.reason
