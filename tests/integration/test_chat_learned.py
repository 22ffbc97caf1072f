"""Learned experiences end to end (docs/design.md, Learned experiences): a real Shopify sample
export uploaded through the uploads topic, chat turns through the chat topic, replies read back.

The store is ../shared/data/shopify/jewelery.csv: products of type Bracelet, Earrings and
Necklace, titles such as "Boho Bangle Bracelet" and "Boho Earrings". None of the messages
names a configured experience (date night, birthday, ...), so without an LLM the worker maps
them on the store's categories with the cold-start embedder, or asks which category is meant.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import orjson
import pytest
import redis.asyncio as aioredis

import topics as registry
from core.settings import Settings
from ingest import parse_catalog
from models import UploadEvent
from tests.e2e.support import Api, rkey, start_worker, wait_records
from tests.integration.harness import Worker, produce_raw
from tests.shared_data import shared_data

pytestmark = pytest.mark.timeout(300)

STORE = "boho-jewels"
SAMPLE = shared_data("shopify", "jewelery.csv")
CATEGORY_OF = {p.product_id: p.category for p in parse_catalog(SAMPLE).products}


async def register_shopify_catalog(
    settings: Settings, worker: Worker, timeout_s: float = 90
) -> None:
    """Upload the sample export as a merchant's upload does, then wait for its catalog reference."""
    text = SAMPLE.read_text(encoding="utf-8")
    event = UploadEvent.model_validate(
        {
            "upload_id": f"up-{uuid.uuid4().hex[:10]}",
            "store_id": STORE,
            "files": [
                {
                    "kind": "catalog",
                    "format": "shopify_products",
                    "filename": SAMPLE.name,
                    "inline_text": text,
                    "size_bytes": len(text.encode()),
                }
            ],
        }
    )
    await produce_raw(
        settings,
        [(STORE.encode(), event.to_bytes())],
        topic=registry.UPLOADS.name(settings.topic_prefix),
    )
    client = aioredis.from_url(settings.redis_url, decode_responses=True)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            raw = await client.get(rkey(settings, "catalog", STORE))
            if raw and orjson.loads(raw)["summary"]["upload_id"] == event.upload_id:
                return
            assert worker.alive(), worker.log_tail()
            await asyncio.sleep(0.2)
    finally:
        await client.aclose()
    raise TimeoutError(f"catalog not registered:\n{worker.log_tail(1500)}")


@pytest.fixture
async def api(isolated_settings):
    worker = await start_worker(isolated_settings, "learned-chat-worker")
    client = Api(worker.url)
    try:
        await register_shopify_catalog(isolated_settings, worker)
        yield client
    finally:
        await client.close()
        worker.stop()


def sid() -> str:
    return f"s-{uuid.uuid4().hex[:12]}"


async def test_a_plan_outside_the_list_gets_options_from_the_matched_categories(
    api: Api, isolated_settings
) -> None:
    session = sid()
    first = await api.say(session, STORE, "I'm planning a boho festival look", after=0)
    assert first["kind"] == "questions", first
    assert "earrings, bracelet" in first["message"], first["message"]
    assert first["entities"]["experience"] == "boho festival"

    second = await api.say(session, STORE, "Saturday, under $150", after=first["seq"])
    assert second["kind"] == "options", second
    assert [lst["category"] for lst in second["categories"]] == ["earrings", "bracelet"]
    assert 2 <= len(second["options"]) <= 4
    for option in second["options"]:
        cats = sorted(CATEGORY_OF[pid] for pid in option["product_ids"])
        assert cats == ["Bracelet", "Earrings"], option
        assert option["total_price"] <= 150
    assert second["entities"]["experience"] == "boho festival"
    assert second["experience_card"] is not None

    mine = await wait_records(
        isolated_settings,
        registry.COMPOSITE_OPTIONS.name(isolated_settings.topic_prefix),
        lambda r: r.key == session.encode(),
        2,
    )
    assert [orjson.loads(r.value)["kind"] for r in mine] == ["questions", "options"]


async def test_a_plan_matching_nothing_gets_a_question_naming_real_categories(api: Api) -> None:
    reply = await api.say(sid(), STORE, "I want to set up a home office", after=0)
    assert reply["kind"] == "questions", reply
    assert reply["categories"] == [] and reply["options"] == []
    for name in ("Necklace", "Bracelet", "Earrings"):
        assert name in reply["message"], reply["message"]
    assert "date night" not in reply["message"]  # not the generic list of experiences


async def test_a_configured_experience_still_wins(api: Api) -> None:
    reply = await api.say(sid(), STORE, "plan an anniversary", after=0)
    assert reply["kind"] == "questions"
    assert reply["entities"]["experience"] == "anniversary"
