"""Catalog parsing and bundle generation run with the cyclic GC paused, and hand the caller its
collector back as it had it: after a normal return and after an error."""

from __future__ import annotations

import gc

import pytest

import bundling.engine as engine
import ingest.catalog as catalog
from ingest.collector import collector_paused
from models.catalog import Product

CATALOG = b"product_id,title,price,category\nA,Mug,2.5,kitchen\nB,Plate,4.0,kitchen\n"


def test_the_block_runs_paused_and_the_caller_gets_its_state_back(caller_gc):
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled() is caller_gc
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("boom")
    assert gc.isenabled() is caller_gc


def test_parse_catalog_builds_products_with_the_collector_paused(caller_gc, monkeypatch):
    states: list[bool] = []
    money = catalog._money_cell

    def spy(*args):
        states.append(gc.isenabled())
        return money(*args)

    monkeypatch.setattr(catalog, "_money_cell", spy)
    result = catalog.parse_catalog(CATALOG, "generic")
    assert [p.product_id for p in result.products] == ["A", "B"]
    assert states == [False, False]
    assert gc.isenabled() is caller_gc


def test_generate_bundle_set_runs_paused_even_when_it_fails(caller_gc, monkeypatch):
    products = [Product(product_id="A", title="Mug", price=2.5)]
    states: list[bool] = []

    class Failing:
        def __init__(self, *args, **kwargs) -> None:
            states.append(gc.isenabled())
            raise RuntimeError("engine bug")

    monkeypatch.setattr(engine, "StoreContext", Failing)
    with pytest.raises(RuntimeError, match="engine bug"):
        engine.generate_bundle_set("u", "s", products, [])
    assert states == [False]
    assert gc.isenabled() is caller_gc
