"""Bounded table state against a real worker: order ids, chat sessions, attach statistics.

- Order ids are remembered for ``dedupe_retention_s`` of order time: a re-delivery inside the
  window is counted once, one past it is counted again; expired ids are deleted from
  ``processed-orders`` and tombstoned in its changelog, also after a restart (the expiry index is
  rebuilt from the table), on the memory and the RocksDB store.
- Idle chat sessions are deleted from ``chat-sessions`` with tombstones.
- Attach statistics keep the top N products per store in the table and in Redis.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import orjson
import pytest
import redis.asyncio as aioredis
from harness import (
    Workers,
    changelog_counts,
    changelog_topic,
    isolated_topics,
    produce_orders,
    read_table,
    read_topic,
    wait_consumed,
)

import topics as registry
from core.settings import Settings, get_settings
from deploy import local
from models import OrderEvent
from popularity import SeenOrder, key_of
from tests.e2e.support import Api, register_catalog, rkey, wait_records

DAY = 24 * 3600
RETENTION_S = 2 * DAY
STORE = "bounded-shop"
T0 = 1_735_689_600  # 2025-01-01T00:00:00Z: order time of the first order


def order(order_id: str, day: float, quantity: int) -> OrderEvent:
    """An order placed ``day`` days after T0, with one product named after the order (so the
    counts show exactly which copies were counted)."""
    return OrderEvent.model_validate(
        {
            "order_id": order_id,
            "store_id": STORE,
            "source": "webhook",
            "created_at": datetime.fromtimestamp(T0 + day * DAY, tz=UTC).isoformat(),
            "lines": [
                {"product_id": f"p-{order_id}", "quantity": quantity, "price": 1.0, "category": "c"}
            ],
        }
    )


async def changelog_records(settings: Settings, table: str) -> list[tuple[str, object | None]]:
    """(key, value or None for a tombstone) of every record on the table's changelog, in order."""
    return [
        (orjson.loads(r.key), None if r.value is None else orjson.loads(r.value))
        for r in await read_topic(settings, changelog_topic(settings, table))
    ]


@pytest.fixture(params=["memory://", "rocksdb://"])
def window_settings(request: pytest.FixtureRequest, stack: local.StackStatus, tmp_path) -> Settings:
    """Own topics with 2 partitions (one store needs one; fewer RocksDB partitions to open on
    each rebalance keep a loaded machine inside the group's session timeout)."""
    with isolated_topics(
        get_settings(),
        tmp_path,
        partitions=2,
        table_store=request.param,
        dedupe_retention_s=RETENTION_S,
    ) as settings:
        yield settings


@pytest.mark.timeout(300)
async def test_dedupe_window_counts_inside_once_past_it_again_and_tombstones_expired_ids(
    window_settings: Settings,
    workers: Workers,
) -> None:
    settings = window_settings
    worker = workers.start(settings, name="bounded-1")
    await worker.wait_ready(timeout_s=90)

    # 1. o1, then a re-delivery of it one day of order time later: inside the 2-day window
    await produce_orders(
        settings, [order("o1", 0, 1), order("o2", 0.5, 1), order("o3", 1.0, 1), order("o1", 0, 5)]
    )
    await wait_consumed(settings, workers=[worker])
    sold, _ = await changelog_counts(settings)
    assert sold[(STORE, "p-o1")] == (1, 1), "the re-delivery inside the window must be dropped"
    seen = await read_table(settings, "processed-orders")
    assert {k: SeenOrder.from_json(v).time_s for k, v in seen.items()} == {
        key_of(STORE, "o1"): T0,
        key_of(STORE, "o2"): T0 + DAY // 2,
        key_of(STORE, "o3"): T0 + DAY,
    }
    assert all(v is not None for _, v in await changelog_records(settings, "processed-orders"))

    # 2. order time moves to day 3: o1 (day 0) and o2 (day 0.5) fall out of the window [day 1, ...]
    await produce_orders(settings, [order("o4", 3.0, 1)])
    await wait_consumed(settings, workers=[worker])
    seen = await read_table(settings, "processed-orders")
    assert set(seen) == {key_of(STORE, "o3"), key_of(STORE, "o4")}
    tombstones = [k for k, v in await changelog_records(settings, "processed-orders") if v is None]
    assert sorted(tombstones) == [key_of(STORE, "o1"), key_of(STORE, "o2")]

    # 3. a copy of o1 now is past the window: counted again, as the README says
    await produce_orders(settings, [order("o1", 0, 7)])
    await wait_consumed(settings, workers=[worker])
    sold, _ = await changelog_counts(settings)
    assert sold[(STORE, "p-o1")] == (1 + 7, 2)
    assert sold[(STORE, "p-o3")] == (1, 1) and sold[(STORE, "p-o4")] == (1, 1)

    # 4. restart on a fresh data dir: the table recovers from the changelog (tombstones included)
    #    and the expiry index is rebuilt from it, so the ids remembered before the restart expire
    #    after it, while a re-delivery inside the window is still dropped
    worker.stop()
    again = workers.start(settings, name="bounded-2")
    await again.wait_ready(timeout_s=90)
    await produce_orders(settings, [order("o5", 4.5, 1), order("o4", 3.0, 9)])
    await wait_consumed(settings, workers=[again])
    seen = await read_table(settings, "processed-orders")
    assert set(seen) == {key_of(STORE, "o4"), key_of(STORE, "o5")}  # o3 (day 1) expired at day 4.5
    tombstones = [k for k, v in await changelog_records(settings, "processed-orders") if v is None]
    assert sorted(tombstones) == [key_of(STORE, "o1"), key_of(STORE, "o2"), key_of(STORE, "o3")]
    sold, _ = await changelog_counts(settings)
    assert sold[(STORE, "p-o4")] == (1, 1), (
        "a re-delivery inside the window after a restart is dropped"
    )
    assert "dedupe index rebuilt" in again.log_tail(200_000)


@pytest.mark.timeout(300)
async def test_idle_chat_sessions_are_deleted_with_tombstones(
    isolated_settings: Settings, workers: Workers
) -> None:
    ttl_s = 4
    settings = isolated_settings.model_copy(update={"chat_session_ttl_s": ttl_s})
    worker = workers.start(settings, name="chat-ttl")
    await worker.wait_ready(timeout_s=90)
    api = Api(worker.url)
    try:
        await register_catalog(settings, STORE, worker=worker)
        first = await api.say("idle-session", STORE, "plan a date night", after=0)
        sessions = await read_table(settings, "chat-sessions")
        assert sessions["idle-session"]["turns"] == 1
        await asyncio.sleep(ttl_s + 1.5)
        # a turn of another session on the same store (same partition) runs the expiry pass
        await api.say("busy-session", STORE, "plan a date night", after=0)
        records = await changelog_records(settings, "chat-sessions")
        assert ("idle-session", None) in records, records
        sessions = await read_table(settings, "chat-sessions")
        assert set(sessions) == {"busy-session"}
        # the idle session comes back as a new one
        await api.say("idle-session", STORE, "plan a date night", after=first["seq"])
        sessions = await read_table(settings, "chat-sessions")
        assert sessions["idle-session"]["turns"] == 1 and sessions["busy-session"]["turns"] == 1
    finally:
        await api.close()


@pytest.mark.timeout(300)
async def test_attach_statistics_keep_the_top_n_per_store(
    isolated_settings: Settings, workers: Workers
) -> None:
    top_n = 3
    settings = isolated_settings.model_copy(update={"attach_stats_max_per_store": top_n})
    worker = workers.start(settings, name="attach-top")
    await worker.wait_ready(timeout_s=90)
    api = Api(worker.url)
    client = aioredis.from_url(settings.redis_url, decode_responses=True)
    try:
        await register_catalog(settings, STORE, worker=worker)
        # roses 4 times, pasta 3, romcom 2 (exact: at most N products so far), then tulips once:
        # the store is full, so tulips takes the place of the least-added (romcom)
        adds = [
            ["fl-roses", "dn-pasta", "mv-romcom"],
            ["fl-roses", "dn-pasta", "mv-romcom"],
            ["fl-roses", "dn-pasta"],
            ["fl-roses"],
            ["fl-tulips"],
        ]
        zkey = rkey(settings, "attach", STORE)
        for i, products in enumerate(adds):
            if i == len(adds) - 1:
                # bundle-adds is keyed by bundle, so adds on different partitions may be counted
                # in any order: tulips must come after the first four are counted
                deadline = time.monotonic() + 30
                while await client.zscore(zkey, "fl-roses") != 4.0 and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
            code, body = await api.request(
                "POST", "/api/v1/bundle/add-bulk", {"product_ids": products, "store_id": STORE}
            )
            assert code == 200, body
        await wait_records(
            settings, registry.BUNDLE_ADDS.name(settings.topic_prefix), lambda r: True, len(adds)
        )
        changelog_writes = 3 + 3 + 2 + 1 + 2  # the last add: romcom's tombstone and tulips
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if (
                len(await changelog_records(settings, "bundle-attach-stats")) >= changelog_writes
                and await client.zscore(zkey, "fl-tulips") is not None
            ):
                break
            await asyncio.sleep(0.3)
        table = await read_table(settings, "bundle-attach-stats")
        assert len(table) == top_n, table
        assert table[key_of(STORE, "fl-roses")] == 4 and table[key_of(STORE, "dn-pasta")] == 3, (
            table
        )
        assert key_of(STORE, "mv-romcom") not in table and key_of(STORE, "fl-tulips") in table, (
            table
        )
        tombstones = [
            k for k, v in await changelog_records(settings, "bundle-attach-stats") if v is None
        ]
        assert tombstones == [key_of(STORE, "mv-romcom")]
        zset = dict(await client.zrange(zkey, 0, -1, withscores=True))
        assert zset == {k.split("\x1f")[1]: float(v) for k, v in table.items()}, (zset, table)
        code, stats = await api.request("GET", f"/api/v1/stores/{STORE}/attach-stats")
        assert code == 200 and len(stats["products"]) == top_n
        assert stats["products"][0] == {"product_id": "fl-roses", "times_added": 4}
    finally:
        await api.close()
        await client.aclose()
