"""Inventory webhook and a store's JSON levels mapped to InventoryEvent (pure)."""

from __future__ import annotations

import pytest

from models.inventory import MAX_LEVELS
from webhooks.inventory import inventory_from_json, inventory_from_shopify, inventory_item_ids
from webhooks.shopify import WebhookRejected

SHOPIFY_LEVEL = {
    "inventory_item_id": 271878346596884015,
    "location_id": 24826418,
    "available": 6,
    "updated_at": "2024-09-10T15:14:00-04:00",
    "admin_graphql_api_id": "gid://shopify/InventoryLevel/24826418?inventory_item_id=271878346596884015",
}


def test_shopify_payload_becomes_one_level_named_by_its_inventory_item() -> None:
    event = inventory_from_shopify(SHOPIFY_LEVEL, "shop.example")
    assert event.store_id == "shop.example" and event.source == "webhook"
    (level,) = event.levels
    assert level.item_ids == ["271878346596884015"]
    assert level.location_id == "24826418" and level.available == 6
    assert level.updated_at.isoformat() == "2024-09-10T15:14:00-04:00"


def test_ids_most_specific_first_without_repeats() -> None:
    raw = {"inventory_item_id": 7, "variant_id": "9", "sku": "SKU-1", "product_id": "SKU-1"}
    assert inventory_item_ids(raw) == ["SKU-1", "9", "7"]
    assert inventory_item_ids({"sku": True, "product_id": ["x"], "variant_id": " "}) == []


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ([], "JSON object"),
        ({"available": 3}, "names no item"),
        ({"inventory_item_id": 1}, "no available"),
        ({"inventory_item_id": 1, "available": "many"}, "available"),
        ({"inventory_item_id": 1, "available": 10**12}, "available"),
    ],
)
def test_unusable_shopify_payloads_are_refused_with_the_reason(
    payload: object, reason: str
) -> None:
    with pytest.raises(WebhookRejected) as info:
        inventory_from_shopify(payload, "s1")
    assert info.value.status == 422 and reason in info.value.reason


def test_store_json_levels_and_their_bounds() -> None:
    event = inventory_from_json(
        {
            "levels": [
                {"product_id": "mug-1", "available": 0},
                {"sku": "T", "available": 2, "location_id": "w"},
            ]
        },
        "s1",
    )
    assert [(lv.item_ids, lv.available, lv.location_id) for lv in event.levels] == [
        (["mug-1"], 0, ""),
        (["T"], 2, "w"),
    ]
    for bad in ({}, {"levels": []}, {"levels": [1]}, {"levels": [{"product_id": "a"}]}):
        with pytest.raises(WebhookRejected):
            inventory_from_json(bad, "s1")
    many = {"levels": [{"product_id": "a", "available": 1}] * (MAX_LEVELS + 1)}
    with pytest.raises(WebhookRejected) as info:
        inventory_from_json(many, "s1")
    assert f"at most {MAX_LEVELS}" in info.value.reason
