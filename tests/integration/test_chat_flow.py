"""The composite flow's acceptance checks (docs/design.md, Composite flow) end to end through the
real broker: chat turns -> chat agent -> replies.

One worker subprocess per test module (deterministic path, no API key), a catalog registered via
the uploads topic, sessions isolated by id. Steps: probing, options within budget, click -> bundle,
enable flag off -> products only; plus the no-catalog reply and the chat DLQ.
"""

from __future__ import annotations

import uuid

import orjson
import pytest

import topics as registry
from models import DeadLetter
from tests.e2e.support import (
    DATE_NIGHT_IDS,
    PRICES,
    Api,
    register_catalog,
    start_worker,
    wait_records,
)
from tests.integration.harness import produce_raw

pytestmark = pytest.mark.timeout(300)

STORE = "date-shop"


@pytest.fixture
async def api(isolated_settings):
    worker = await start_worker(isolated_settings, "chat-worker")
    client = Api(worker.url)
    try:
        await register_catalog(isolated_settings, STORE, worker=worker)
        client.worker = worker  # type: ignore[attr-defined]
        yield client
    finally:
        await client.close()
        worker.stop()


def sid() -> str:
    return f"s-{uuid.uuid4().hex[:12]}"


async def test_probe_then_options_then_bundle(api: Api, isolated_settings) -> None:
    session = sid()
    # 1. Probing: a generic message -> questions, no discovery
    first = await api.say(session, STORE, "plan a date night", after=0)
    assert first["kind"] == "questions", first
    assert first["questions"], first
    assert first["categories"] == [] and first["options"] == [] and first["experience_card"] is None

    # 3. details -> 2-4 options within budget, only ids from the listing, one product per category
    second = await api.say(session, STORE, "Saturday, $100, vegetarian", after=first["seq"])
    assert second["kind"] == "options", second
    assert 2 <= len(second["options"]) <= 4
    listed = {p["product_id"] for lst in second["categories"] for p in lst["products"]}
    assert listed <= DATE_NIGHT_IDS
    cat_of = {
        p["product_id"]: lst["category"] for lst in second["categories"] for p in lst["products"]
    }
    for option in second["options"]:
        assert set(option["product_ids"]) <= listed
        cats = [cat_of[pid] for pid in option["product_ids"]]
        assert len(cats) == len(set(cats)), option
        assert option["total_price"] <= 100.0
        assert option["total_price"] == pytest.approx(sum(PRICES[p] for p in option["product_ids"]))
    assert second["entities"]["budget"]["amount"] == 100.0
    assert "vegetarian" in second["entities"]["dietary"]
    card = second["experience_card"]
    actions = [a["data"] for a in _actions(card)]
    assert [a["product_ids"] for a in actions] == [o["product_ids"] for o in second["options"]]
    assert all(a["action"] == "add_bundle_bulk" for a in actions)

    # click "Add this bundle" -> bulk add -> bundle readable
    chosen = actions[1]
    status, added = await api.request(
        "POST",
        "/api/v1/bundle/add-bulk",
        {
            "product_ids": chosen["product_ids"],
            "option_label": chosen["option_label"],
            "session_id": session,
        },
    )
    assert status == 200, added
    assert set(added) == {"bundle_id", "products_added", "total_price", "currency"}
    assert added["total_price"] == pytest.approx(second["options"][1]["total_price"])
    status, bundle = await api.request("GET", f"/api/v1/bundles/{added['bundle_id']}")
    assert (
        status == 200
        and bundle["product_ids"] == chosen["product_ids"]
        and bundle["store_id"] == STORE
    )

    # the reply also went to the composite-options topic, keyed by session
    mine = await wait_records(
        isolated_settings,
        registry.COMPOSITE_OPTIONS.name(isolated_settings.topic_prefix),
        lambda r: r.key == session.encode(),
        2,
    )
    assert [orjson.loads(r.value)["kind"] for r in mine] == ["questions", "options"]


async def test_just_show_me_options_fetches_immediately(api: Api) -> None:
    reply = await api.say(sid(), STORE, "date night, just show me options", after=0)
    assert reply["kind"] == "options" and 2 <= len(reply["options"]) <= 4


async def test_enable_flag_off_gives_products_only(api: Api) -> None:
    doc = await api.config()
    doc["platform"]["enable_composite_bundle_suggestion"] = False
    status, body = await api.put_config(doc)
    assert status == 200, body
    session = sid()
    first = await api.say(session, STORE, "plan a date night", after=0)
    reply = await api.say(session, STORE, "Saturday, $100, vegetarian", after=first["seq"])
    assert reply["kind"] == "products", reply
    assert reply["options"] == []
    assert reply["categories"] and all(lst["products"] for lst in reply["categories"])
    assert not [
        a
        for a in _actions(reply["experience_card"])
        if a["data"].get("action") == "add_bundle_bulk"
    ]


async def test_store_without_catalog_gets_a_message(api: Api) -> None:
    reply = await api.say(sid(), "no-such-store", "plan a date night", after=0)
    assert reply["kind"] == "message" and "no catalog" in reply["message"]


async def test_invalid_turns_rejected_and_dead_lettered(api: Api, isolated_settings) -> None:
    status, body = await api.request("POST", "/api/v1/chat/turns", {"store_id": STORE, "text": ""})
    assert status == 422 and "text" in body["error"]
    status, body = await api.request(
        "POST", "/api/v1/chat/turns", {"store_id": STORE, "text": "x" * 5000}
    )
    assert status == 422
    topic = registry.CHAT_TURNS.name(isolated_settings.topic_prefix)
    await produce_raw(
        isolated_settings,
        [(STORE.encode(), b"{not json"), (STORE.encode(), b'{"text": "hi"}')],
        topic=topic,
    )
    dlq = registry.CHAT_DLQ.name(isolated_settings.topic_prefix)
    letters = [
        DeadLetter.model_validate(orjson.loads(r.value))
        for r in await wait_records(isolated_settings, dlq, lambda r: True, 2)
    ]
    assert sorted(dl.reason_code for dl in letters) == ["invalid_schema", "undecodable"], letters


def _actions(card: dict | None) -> list[dict]:
    """Every Action.Submit anywhere in the card."""
    found: list[dict] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "Action.Submit":
                found.append(node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(card)
    return found
