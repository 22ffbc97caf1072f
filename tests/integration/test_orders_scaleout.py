"""Scale-out: two workers in one consumer group split the partitions and end with the exact counts
that one worker alone gets from the same input (and both equal the ground truth)."""

from __future__ import annotations

import asyncio
import time

import pytest
from harness import (
    Worker,
    Workers,
    changelog_counts,
    diff_counts,
    online_retail_orders,
    produce_orders,
    read_table,
    wait_consumed,
    with_duplicates,
)

from core.settings import Settings
from popularity import ground_truth


async def wait_split(
    pair: list[Worker], solo: Worker, timeout_s: float = 90.0
) -> tuple[list[int], int]:
    """Until both workers are ready, not rebalancing, and their assignments add up to one worker's.

    The solo worker's count is re-read each time: on a fresh broker a worker can report ready
    before every new changelog topic is in its metadata, and it grows to the full count later."""
    solo_partitions = 0
    deadline = time.monotonic() + timeout_s
    last: list[int] = []
    while time.monotonic() < deadline:
        health = [await w.health() for w in pair]
        for w in pair:
            if not w.alive():
                raise RuntimeError(f"{w.name} died:\n{w.log_tail()}")
        if all(
            h and h.get("status") == "ok" and not h["checks"].get("rebalancing") for h in health
        ):
            last = [h["checks"]["assigned_partitions"] for h in health]  # type: ignore[index]
            solo_health = await solo.health()
            solo_partitions = solo_health["checks"]["assigned_partitions"] if solo_health else 0
            if all(n > 0 for n in last) and sum(last) == solo_partitions:
                return last, solo_partitions
        await asyncio.sleep(0.5)
    raise TimeoutError(
        f"workers did not split {solo_partitions} partitions in {timeout_s:.0f} s: {last}\n"
        + "\n".join(w.log_tail(1500) for w in pair)
    )


@pytest.mark.timeout(200)
async def test_two_workers_split_partitions_and_match_one_worker(
    isolated_settings: Settings, workers: Workers
) -> None:
    pair_settings = isolated_settings
    solo_settings = pair_settings.model_copy(update={"app_id": pair_settings.app_id + "-solo"})
    orders = with_duplicates(online_retail_orders(600), every=20, gap=50)
    assert len({o.store_id for o in orders}) >= 10

    solo = workers.start(solo_settings, name="solo")
    first = workers.start(pair_settings, name="pair-a")
    await solo.wait_ready(timeout_s=90)
    await first.wait_ready(timeout_s=90)
    second = workers.start(pair_settings, name="pair-b")
    split, solo_partitions = await wait_split([first, second], solo)
    assert all(0 < n < solo_partitions for n in split), split

    await produce_orders(pair_settings, orders)  # the same topic feeds both consumer groups
    await asyncio.gather(
        wait_consumed(pair_settings, timeout_s=120, workers=[first, second]),
        wait_consumed(solo_settings, timeout_s=120, workers=[solo]),
    )
    # still split at the end (no worker took over the other's partitions after a failure)
    assert [(await w.health())["checks"]["assigned_partitions"] for w in (first, second)] == split

    pair_counts = await changelog_counts(pair_settings)
    solo_counts = await changelog_counts(solo_settings)
    want_sold, want_cats = ground_truth(orders)
    assert not diff_counts(pair_counts[0], solo_counts[0]), diff_counts(
        pair_counts[0], solo_counts[0]
    )
    assert not diff_counts(pair_counts[1], solo_counts[1]), diff_counts(
        pair_counts[1], solo_counts[1]
    )
    assert not diff_counts(pair_counts[0], want_sold), diff_counts(pair_counts[0], want_sold)
    assert not diff_counts(pair_counts[1], want_cats), diff_counts(pair_counts[1], want_cats)
    assert await read_table(pair_settings, "processed-orders") == await read_table(
        solo_settings, "processed-orders"
    )
    print(f"solo partitions={solo_partitions} split={split}")
