"""handle_turn on the deterministic path without a broker: probing, options then a click, and the
enable flag off (docs/design.md, Composite flow)."""

from __future__ import annotations

from composite.bulk_add import InMemoryBundleStore, add_bulk
from composite.reply import handle_turn
from models.chat import AddBulkRequest
from models.config import ConfigDocument, PlatformConfig
from tests.unit.composite.composite_testdata import turn


def assert_valid(reply, budget: float | None = None) -> None:
    ids = {p.product_id for lst in reply.categories for p in lst.products}
    assert len(reply.options) == 0 or 2 <= len(reply.options) <= 4
    for o in reply.options:
        assert set(o.product_ids) <= ids
        if budget is not None:
            assert o.total_price <= budget


async def test_probe_then_options_then_bulk_add(index, catalog, now) -> None:
    doc = ConfigDocument()
    state, r1 = await handle_turn(None, turn(1, "plan a date night"), index, {}, doc, None, now)
    assert r1.kind == "questions" and r1.questions and r1.categories == [] and r1.options == []
    state, r2 = await handle_turn(
        state, turn(2, "Saturday, $100, vegetarian"), index, {"flow-02": 40}, doc, None, now
    )
    assert r2.kind == "options" and 2 <= len(r2.options) <= 4
    assert [lst.category for lst in r2.categories] == ["flowers", "dinner", "movie"]
    assert_valid(r2, 100)
    assert r2.generated_by == "deterministic" and r2.fallback_reason == "no_api_key"
    assert "date night" in r2.message and "$100" in r2.message
    acts = [
        i
        for c in r2.experience_card["body"]
        if c.get("id", "").startswith("option-")
        for i in c["items"]
        if i["type"] == "ActionSet"
    ]
    assert len(acts) == len(r2.options)
    data = acts[1]["actions"][0]["data"]
    res = add_bulk(
        AddBulkRequest(product_ids=data["product_ids"], option_label=data["option_label"]),
        {p.product_id: p for p in catalog},
        InMemoryBundleStore(),
    )
    assert res.response.total_price == r2.options[1].total_price
    assert r2.model_validate_json(r2.to_bytes()) == r2  # survives the topic round trip


async def test_just_show_me_options(index, now) -> None:
    doc = ConfigDocument()
    state, _ = await handle_turn(None, turn(1, "date night"), index, {}, doc, None, now)
    _, r = await handle_turn(state, turn(2, "just show me options"), index, {}, doc, None, now)
    assert r.kind == "options" and 2 <= len(r.options) <= 4
    assert_valid(r)


async def test_disable_flag_gives_products_only(index, now) -> None:
    doc = ConfigDocument(platform=PlatformConfig(enable_composite_bundle_suggestion=False))
    _, r = await handle_turn(None, turn(1, "date night saturday $100"), index, {}, doc, None, now)
    assert r.kind == "products" and r.options == [] and r.categories
    assert all(p.price <= 100 for lst in r.categories for p in lst.products)


async def test_single_category_discover(index, now) -> None:
    _, r = await handle_turn(
        None, turn(1, "show me flowers"), index, {}, ConfigDocument(), None, now
    )
    assert r.intent == "discover" and r.kind == "products" and len(r.categories) == 1
    assert len(r.categories[0].products) == 5 and all(
        p.category == "flowers" for p in r.categories[0].products
    )
    assert {p.slice for p in r.categories[0].products} <= {
        "price_desc",
        "price_asc",
        "rating",
        "popularity",
        "sponsored",
        "ranking",
    }


async def test_reply_id_is_stable_for_replays(index, now) -> None:
    _, a = await handle_turn(None, turn(1, "hello"), index, {}, ConfigDocument(), None, now)
    _, b = await handle_turn(None, turn(1, "hello"), index, {}, ConfigDocument(), None, now)
    assert a.reply_id == b.reply_id and a.kind == "message"
