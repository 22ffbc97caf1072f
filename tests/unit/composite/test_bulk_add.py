"""Bulk add: unknown ids named, duplicates once, create vs extend, totals and records."""

from __future__ import annotations

import pytest

from composite.bulk_add import InMemoryBundleStore, UnknownProductsError, add_bulk
from models.chat import AddBulkRequest


@pytest.fixture
def by_id(catalog):
    return {p.product_id: p for p in catalog}


def test_unknown_ids_are_named(by_id) -> None:
    store = InMemoryBundleStore()
    with pytest.raises(UnknownProductsError) as err:
        add_bulk(
            AddBulkRequest(product_ids=["flow-01", "nope-1", "nope-2", "nope-1"]), by_id, store
        )
    assert err.value.unknown_ids == ["nope-1", "nope-2"] and "nope-2" in str(err.value)
    assert store.bundles == {}


def test_create_with_duplicates_once(by_id) -> None:
    store = InMemoryBundleStore()
    res = add_bulk(
        AddBulkRequest(
            product_ids=["flow-01", "food-07", "flow-01"], user_id="u1", option_label="A"
        ),
        by_id,
        store,
        store_id="st",
        new_id=lambda: "b-1",
    )
    assert res.created and res.bundle_id == "b-1" and store.get("b-1") == ["flow-01", "food-07"]
    r = res.response
    assert r.bundle_id == "b-1" and r.products_added == ["Red Roses Bouquet", "Italian Pasta Kit"]
    assert r.total_price == 65.0 and r.currency == "USD"
    assert res.record.created and res.record.option_label == "A" and res.record.store_id == "st"
    assert set(r.model_dump()) == {
        "bundle_id",
        "products_added",
        "total_price",
        "currency",
    }  # the documented response


def test_extend_adds_only_new_products(by_id) -> None:
    store = InMemoryBundleStore()
    first = add_bulk(AddBulkRequest(product_ids=["flow-01"]), by_id, store, new_id=lambda: "b-2")
    res = add_bulk(
        AddBulkRequest(product_ids=["flow-01", "dvds-14"], bundle_id=first.bundle_id), by_id, store
    )
    assert not res.created and res.bundle_id == "b-2"
    assert res.response.products_added == ["Romantic Comedy Blu-ray"]
    assert store.get("b-2") == ["flow-01", "dvds-14"] and res.response.total_price == 50.0
    assert res.record.product_ids == ["dvds-14"] and res.record.bundle_product_ids == [
        "flow-01",
        "dvds-14",
    ]


def test_new_bundle_gets_uuid(by_id) -> None:
    import uuid

    res = add_bulk(AddBulkRequest(product_ids=["flow-01"]), by_id, InMemoryBundleStore())
    uuid.UUID(res.bundle_id)
