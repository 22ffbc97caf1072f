"""Restarts on RocksDB: a worker comes back from its own disk, not by replaying changelogs from 0.

RocksDB keeps every table partition on local disk together with the changelog offset it holds.
A restarted worker (clean stop or ``kill -9``) on the same data dir only reads the changelog tail
past that offset; a worker taking over a dead worker's partitions starts from its standby copy.
Each test proves both halves: Faust's own recovery figures (records it had to read, partitions
read from offset 0) and exact counts against the input, in the changelogs (what any recovering
worker reads), in the Redis read model and over HTTP.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from harness import (
    RecoveryFigures,
    Worker,
    Workers,
    admin_headers,
    changelog_counts,
    diff_counts,
    end_offsets,
    online_retail_orders,
    produce_orders,
    read_table,
    redis_counts,
    wait_consumed,
    with_duplicates,
)
from test_orders_crash import SMALL_BATCHES, kill_mid_stream

from core.settings import Settings
from popularity import ground_truth

REJOIN_S = 150.0


def first_offsets_of(orders, produced) -> tuple[dict[int, list[int]], int]:
    """Where the first copy of each (store, order id) landed, per partition (for mid-stream kills)."""
    firsts: set[tuple[str, str]] = set()
    offsets: dict[int, list[int]] = {}
    for order, where in zip(orders, produced):
        if (order.store_id, order.order_id) not in firsts:
            firsts.add((order.store_id, order.order_id))
            offsets.setdefault(where.partition, []).append(where.offset)
    return offsets, len(firsts)


def remember_every_order(settings: Settings) -> Settings:
    """These tests count every remembered order id, and Online Retail's invoices span weeks of order
    time: a dedupe window longer than the history keeps ids from expiring mid-test."""
    return settings.model_copy(update={"dedupe_retention_s": 365 * 86400})


async def wait_standbys_caught_up(
    settings: Settings, worker: Worker, timeout_s: float = 90.0
) -> dict[str, int]:
    """Until ``worker``'s standby replicas applied every changelog record written so far (as its
    /healthz reports them); returns what is still missing per partition when time runs out."""
    deadline = time.monotonic() + timeout_s
    while True:
        health = await worker.health() or {}
        applied = health.get("checks", {}).get("standby", {}).get("applied", {})
        ends: dict[str, dict[int, int]] = {}
        missing: dict[str, int] = {}
        for name, offset in applied.items():
            topic, _, partition = name.rpartition(":")
            if topic not in ends:
                ends[topic] = await end_offsets(settings, topic)
            last = ends[topic].get(int(partition), 0) - 1
            if offset < last:
                missing[name] = last - offset
        if (applied and not missing) or time.monotonic() > deadline:
            return missing
        await asyncio.sleep(0.5)


def recovery_of(worker: Worker, since_round: int = 0) -> RecoveryFigures:
    figures = worker.recovery(since_round)
    assert figures.rounds, f"{worker.name}: no table recovery in its log:\n{worker.log_tail()}"
    return figures


async def assert_exact(settings: Settings, orders) -> None:
    """Changelogs and the Redis read model hold exactly the ground truth of ``orders``."""
    want_sold, want_cats = ground_truth(orders)
    sold, cats = await changelog_counts(settings)
    assert not diff_counts(sold, want_sold), diff_counts(sold, want_sold)
    assert not diff_counts(cats, want_cats), diff_counts(cats, want_cats)
    distinct = len({(o.store_id, o.order_id) for o in orders})
    assert len(await read_table(settings, "processed-orders")) == distinct
    r_sold, r_cats = await redis_counts(settings, {o.store_id for o in orders})
    assert not diff_counts(r_sold, want_sold), "Redis read model: " + diff_counts(r_sold, want_sold)
    assert not diff_counts(r_cats, want_cats), "Redis read model: " + diff_counts(r_cats, want_cats)


@pytest.mark.timeout(600)
async def test_clean_and_kill_9_restarts_resume_from_persisted_offsets(
    isolated_settings: Settings, workers: Workers
) -> None:
    settings = remember_every_order(isolated_settings)
    assert settings.table_store.startswith("rocksdb"), "RocksDB is the default table store"
    history = with_duplicates(online_retail_orders(1600), every=25, gap=200)
    part_a, part_b = history[:900], history[900:]

    worker = workers.start(settings, name="restarted", **SMALL_BATCHES)
    await worker.wait_ready(timeout_s=REJOIN_S)
    produced_a = await produce_orders(settings, part_a)
    await wait_consumed(settings, timeout_s=240, workers=[worker])

    # 1. clean stop and start on the same data dir: nothing to replay
    worker.restart()
    await worker.wait_ready(timeout_s=REJOIN_S)
    clean_ready_s = time.monotonic() - worker.started_at
    clean = recovery_of(worker)
    health = await worker.health()
    assert health is not None and health["checks"]["recovery"]["in_recovery"] is False, health
    assert health["checks"]["recovery"]["remaining_records"] == 0, health
    assert clean.changelog_records > 1000, clean
    assert not clean.from_zero, f"replayed from offset 0 after a clean restart: {clean.from_zero}"
    assert clean.records_read == 0, clean
    print(
        f"clean restart: ready in {clean_ready_s:.1f} s, read {clean.records_read} of "
        f"{clean.changelog_records} changelog records"
    )

    # 2. kill -9 mid-stream (applied-but-uncommitted orders, changelog sends in flight), restart
    produced_b = await produce_orders(settings, part_b)
    first_offsets, distinct = first_offsets_of(history, produced_a + produced_b)
    distinct_a = len({(o.store_id, o.order_id) for o in part_a})
    await kill_mid_stream(
        worker,
        settings,
        first_offsets,
        distinct,
        fraction=(distinct_a + 0.3 * (distinct - distinct_a)) / distinct,
    )
    assert worker.proc is not None and worker.proc.returncode == -9
    worker.start()
    await worker.wait_ready(timeout_s=REJOIN_S)
    killed_ready_s = time.monotonic() - worker.started_at
    killed = recovery_of(worker)
    assert not killed.from_zero, f"replayed from offset 0 after kill -9: {killed.from_zero}"
    # at most the sends that were in flight at the kill are read again, never the history
    assert killed.records_read < 0.1 * killed.changelog_records, killed
    print(
        f"kill -9 restart: ready in {killed_ready_s:.1f} s, read {killed.records_read} of "
        f"{killed.changelog_records} changelog records"
    )

    await wait_consumed(settings, timeout_s=240, workers=[worker])
    await assert_exact(settings, history)


async def served_counts(worker: Worker, stores: set[str]) -> dict[str, tuple[int, dict[str, int]]]:
    """Per store, what the worker's HTTP API answers: orders counted and the category tallies."""
    out: dict[str, tuple[int, dict[str, int]]] = {}
    async with aiohttp.ClientSession(
        headers=admin_headers(), timeout=aiohttp.ClientTimeout(total=10)
    ) as session:
        for store in sorted(stores):
            async with session.get(f"{worker.url}/api/v1/stores/{store}/popularity") as resp:
                assert resp.status == 200, (store, resp.status, await resp.text())
                body = await resp.json()
            out[store] = (body["orders_counted"], body["category_transactions"])
    return out


def expected_served(orders) -> dict[str, tuple[int, dict[str, int]]]:
    _sold, cats = ground_truth(orders)
    distinct: dict[str, set[str]] = {}
    for order in orders:
        distinct.setdefault(order.store_id, set()).add(order.order_id)
    return {
        store: (len(ids), {c: n for (s, c), n in cats.items() if s == store})
        for store, ids in distinct.items()
    }


async def wait_alone_with_everything(worker: Worker, partitions: int, timeout_s: float) -> None:
    """Until ``worker`` holds every partition (as one worker alone does), recovered, not rebalancing."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        if not worker.alive():
            raise RuntimeError(f"{worker.name} died:\n{worker.log_tail()}")
        last = await worker.health()
        if (
            last
            and last.get("status") == "ok"
            and not last["checks"].get("rebalancing")
            and last["checks"].get("assigned_partitions") == partitions
        ):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(
        f"{worker.name} did not take over in {timeout_s:.0f} s (last /healthz {last}):\n"
        f"{worker.log_tail()}"
    )


async def wait_both_assigned(pair: list[Worker], total: int, timeout_s: float = 120.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    last: list[int] = []
    while time.monotonic() < deadline:
        health = [await w.health() for w in pair]
        if all(
            h and h.get("status") == "ok" and not h["checks"].get("rebalancing") for h in health
        ):
            last = [h["checks"]["assigned_partitions"] for h in health]  # type: ignore[index]
            if all(n > 0 for n in last) and sum(last) == total:
                return last
        await asyncio.sleep(0.5)
    raise TimeoutError(
        f"the pair did not split {total} partitions: {last}\n"
        + "\n".join(w.log_tail(1500) for w in pair)
    )


@pytest.mark.timeout(600)
async def test_standby_replica_takes_over_a_killed_worker_with_exact_counts(
    isolated_settings: Settings, workers: Workers
) -> None:
    settings = remember_every_order(isolated_settings)
    assert settings.table_standby_replicas >= 1 and settings.table_store.startswith("rocksdb")
    history = with_duplicates(online_retail_orders(900), every=20, gap=60)
    before_kill, after_kill = history[:600], history[600:]
    assert len({o.store_id for o in before_kill}) >= 10

    doomed = workers.start(settings, name="doomed")
    await doomed.wait_ready(timeout_s=REJOIN_S)
    total = (await doomed.health())["checks"]["assigned_partitions"]
    survivor = workers.start(settings, name="survivor")
    split = await wait_both_assigned([doomed, survivor], total)
    await produce_orders(settings, before_kill)
    await wait_consumed(settings, timeout_s=240, workers=[doomed, survivor])
    # the survivor's standbys read the doomed worker's last changelog writes
    behind = await wait_standbys_caught_up(settings, survivor)
    assert not behind, f"the survivor's standbys are behind the changelogs: {behind}"

    rounds_before = len(survivor.recoveries())
    killed_at = time.monotonic()
    doomed.kill()
    await wait_alone_with_everything(survivor, total, timeout_s=REJOIN_S)
    takeover_s = time.monotonic() - killed_at
    takeover = recovery_of(survivor, since_round=rounds_before)
    assert not takeover.from_zero, f"the survivor replayed from offset 0: {takeover.from_zero}"
    assert takeover.records_read < 0.1 * takeover.changelog_records, takeover
    print(
        f"split {split} of {total}; takeover after kill -9 in {takeover_s:.1f} s (includes the 10 s "
        f"session timeout), read {takeover.records_read} of {takeover.changelog_records} changelog records"
    )

    # the survivor now counts every store on top of the state it took over, exactly
    await produce_orders(settings, after_kill)
    await wait_consumed(settings, timeout_s=240, workers=[survivor])
    await assert_exact(settings, history)
    served = await served_counts(survivor, {o.store_id for o in history})
    assert served == expected_served(history)
