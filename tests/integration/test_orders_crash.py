"""Crash test: ``kill -9`` the worker mid-stream, restart, and the counts are exact.

One kill by default; a second kill (after a recovery) when the first left no applied-but-
uncommitted orders to replay, or always with ``BUNDLESTREAM_TEST_CRASHES=2``.

A real order history (the first invoices of UCI Online Retail, one store per country, a category
per product from its description) is published with re-delivered order ids, then consumed by a
worker that is killed without warning while it is part-way through. The restarted worker replays
from the last committed offset over table state that already holds some of those events. Every
(store, product) sold count and (store, category) tally must equal ``ground_truth``: no more, no
less, in the changelog topics (what a recovering worker reads) and in the Redis read model.
"""

from __future__ import annotations

import asyncio
import bisect
import os
import time

import pytest
from harness import (
    Worker,
    Workers,
    changelog_counts,
    changelog_topic,
    diff_counts,
    end_offsets,
    group_committed,
    online_retail_orders,
    orders_topic,
    produce_orders,
    read_table,
    redis_counts,
    wait_consumed,
    with_duplicates,
)

from core.settings import Settings
from popularity import SeenOrder, ground_truth, split_key

ORDERS = int(os.environ.get("BUNDLESTREAM_TEST_CRASH_ORDERS", "1500"))
# kills that always happen; 2 adds a second kill -9 after a recovery (see the docstring)
CRASHES = int(os.environ.get("BUNDLESTREAM_TEST_CRASHES", "1"))
# many batches (and commits) per run, so that a kill lands between them whatever the machine's speed
SMALL_BATCHES = {
    "BUNDLESTREAM_BATCH_SIZE": "50",
    "BUNDLESTREAM_BATCH_WITHIN_S": "0.05",
    # the history spans 19 days; applied orders are counted from the processed-orders
    # changelog, so no id may expire (and leave a tombstone) during this test
    "BUNDLESTREAM_DEDUPE_RETENTION_S": str(365 * 86400),
}
REJOIN_S = (
    150.0  # Faust's default session timeout is 60 s; the restarted worker also recovers tables
)


async def kill_mid_stream(
    worker: Worker,
    settings: Settings,
    first_offsets: dict[int, list[int]],
    total: int,
    fraction: float,
    timeout_s: float = 120.0,
) -> int:
    """``kill -9`` once more than ``fraction`` of the orders are applied *and* some applied orders
    are not yet committed (so the restart must replay over state that already holds them).

    Applied orders are counted exactly by the processed-orders changelog (one record per new
    order); the committed ones from the group's offsets and where each first copy landed.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not worker.alive():
            raise RuntimeError(f"{worker.name} died:\n{worker.log_tail()}")
        applied = sum(
            (await end_offsets(settings, changelog_topic(settings, "processed-orders"))).values()
        )
        committed = await group_committed(settings, orders_topic(settings))
        committed_orders = sum(
            bisect.bisect_left(offsets, committed.get(p, 0)) for p, offsets in first_offsets.items()
        )
        if applied >= total:
            raise AssertionError("worker finished before it could be killed mid-stream")
        if applied > fraction * total and applied > committed_orders:
            worker.kill()
            return applied
        await asyncio.sleep(0.02)
    raise TimeoutError(
        f"{worker.name}: no uncommitted progress past {fraction:.0%} in {timeout_s:.0f} s:\n"
        f"{worker.log_tail()}"
    )


async def replay_window(settings: Settings) -> int:
    """Orders already in the processed-orders changelog at or past the committed offset.

    These are applied-but-uncommitted: the restarted worker will see them again, so a positive
    number proves the crash exercised the replay path rather than a clean restart.
    """
    committed = await group_committed(settings, orders_topic(settings))
    seen = await read_table(settings, "processed-orders")
    # a store's orders live on one partition; find each store's partition from the sold changelog
    sold = await read_table(settings, "sold-counts")
    store_partition = {split_key(k)[0]: v[2] for k, v in sold.items()}
    return sum(
        1
        for k, value in seen.items()
        if SeenOrder.from_json(value).offset
        >= committed.get(store_partition.get(split_key(k)[0], -1), 0)
    )


@pytest.mark.timeout(420)
async def test_kill_9_mid_stream_then_restart_gives_exact_counts(
    isolated_settings: Settings, workers: Workers
) -> None:
    settings = isolated_settings
    orders = with_duplicates(online_retail_orders(ORDERS), every=25, gap=200)
    duplicates = len(orders) - len({(o.store_id, o.order_id) for o in orders})
    assert duplicates >= ORDERS // 30
    stores = {o.store_id for o in orders}
    want_sold, want_cats = ground_truth(orders)
    produced = await produce_orders(settings, orders)
    first_offsets: dict[int, list[int]] = {}
    firsts: set[tuple[str, str]] = set()
    for order, where in zip(orders, produced):
        if (order.store_id, order.order_id) not in firsts:
            firsts.add((order.store_id, order.order_id))
            first_offsets.setdefault(where.partition, []).append(where.offset)

    windows: list[int] = []
    for cycle, fraction in enumerate((0.3, 0.6)):
        if cycle >= CRASHES and any(w > 0 for w in windows):
            break  # one crash with a replay window is enough by default; a second only if needed
        worker = workers.start(settings, name=f"crash-{cycle}", **SMALL_BATCHES)
        # after a kill -9 the group waits for the dead member's session timeout before rebalancing
        await worker.wait_ready(timeout_s=REJOIN_S)
        await kill_mid_stream(worker, settings, first_offsets, len(firsts), fraction)
        assert worker.proc is not None and worker.proc.returncode == -9
        windows.append(await replay_window(settings))
    assert any(w > 0 for w in windows), (
        f"no crash left applied-but-uncommitted orders to replay: {windows}"
    )

    final = workers.start(settings, name="after-crash", **SMALL_BATCHES)
    await final.wait_ready(timeout_s=REJOIN_S)
    await wait_consumed(settings, timeout_s=150, workers=[final])

    sold, cats = await changelog_counts(settings)
    assert not diff_counts(sold, want_sold), diff_counts(sold, want_sold)
    assert not diff_counts(cats, want_cats), diff_counts(cats, want_cats)
    seen = await read_table(settings, "processed-orders")
    assert len(seen) == len(orders) - duplicates
    r_sold, r_cats = await redis_counts(settings, stores)
    assert not diff_counts(r_sold, want_sold), "Redis read model: " + diff_counts(r_sold, want_sold)
    assert not diff_counts(r_cats, want_cats), "Redis read model: " + diff_counts(r_cats, want_cats)
    print(
        f"orders={len(orders)} duplicates={duplicates} sold keys={len(want_sold)} "
        f"category keys={len(want_cats)} replay windows={windows}"
    )
