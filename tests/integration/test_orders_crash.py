"""Crash test: ``kill -9`` the worker mid-stream, restart, and the counts are exact.

With cancellations and refunds: some orders are cancelled (after their order, or before it),
some partly refunded, some adjustments re-delivered, some name orders that never come. The
counts must end as if the cancelled orders and refunded units never happened.

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
from collections import Counter

import pytest
from harness import (
    Worker,
    Workers,
    changelog_counts,
    changelog_topic,
    dead_letters,
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
from models import OrderEvent
from popularity import SeenOrder, dedupe_identity, ground_truth, key_of, net_ground_truth, split_key

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


def with_adjustments(
    orders: list[OrderEvent], every_cancel: int = 9, every_refund: int = 13, gap: int = 120
) -> list[OrderEvent]:
    """Cancel every ``every_cancel``-th order (``gap`` positions after it, or, for every other
    one, just before it), refund one unit of the first line of every ``every_refund``-th, deliver
    every fourth adjustment twice, and cancel a few orders that never come."""
    out = list(orders)
    inserts: list[tuple[int, OrderEvent]] = []
    firsts = {}
    for index, order in enumerate(orders):
        firsts.setdefault((order.store_id, order.order_id), (index, order))
    for n, (index, order) in enumerate(firsts.values()):
        fields = {
            "order_id": order.order_id,
            "store_id": order.store_id,
            "created_at": order.created_at,
            "source": "replay",
        }
        adjustment: OrderEvent | None = None
        if n % every_cancel == 0:
            adjustment = OrderEvent.model_validate({**fields, "kind": "cancellation"})
            position = index if n % (2 * every_cancel) == 0 else index + gap
        elif n % every_refund == 0:
            line = order.lines[0]
            adjustment = OrderEvent.model_validate(
                {
                    **fields,
                    "kind": "refund",
                    "refund_id": f"r{n}",
                    "lines": [{"product_id": line.product_id, "quantity": 1, "price": line.price}],
                }
            )
            position = index + gap
        if adjustment is None:
            continue
        inserts.append((position, adjustment))
        if len(inserts) % 4 == 0:
            inserts.append((position + gap, adjustment))
        if n % (5 * every_cancel) == 0:  # an order that never comes
            inserts.append(
                (
                    index,
                    OrderEvent.model_validate(
                        {**fields, "order_id": f"gone-{n}", "kind": "cancellation"}
                    ),
                )
            )
    # insert from the back so earlier positions stay where they were meant to be
    for position, event in sorted(inserts, key=lambda pair: pair[0], reverse=True):
        out.insert(min(position, len(out)), event)
    return out


def latest_fact(ledger: SeenOrder) -> int:
    """The newest source offset an order's ledger holds."""
    offsets = [ledger.offset, ledger.cancelled, *(r.offset for r in ledger.refunds)]
    return max(o for o in offsets if o is not None)


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
        if latest_fact(SeenOrder.from_json(value))
        >= committed.get(store_partition.get(split_key(k)[0], -1), 0)
    )


@pytest.mark.timeout(420)
async def test_kill_9_mid_stream_then_restart_gives_exact_counts(
    isolated_settings: Settings, workers: Workers
) -> None:
    settings = isolated_settings
    orders = with_adjustments(with_duplicates(online_retail_orders(ORDERS), every=25, gap=200))
    identities = [dedupe_identity(o) for o in orders]
    duplicates = len(orders) - len(set(identities))
    assert duplicates >= ORDERS // 30
    kinds = Counter(o.kind for o in orders)
    assert kinds["cancellation"] > ORDERS // 20 and kinds["refund"] > ORDERS // 30, kinds
    stores = {o.store_id for o in orders}
    want_sold, want_cats = ground_truth(orders)
    _sold, _cats, want_stores = net_ground_truth(orders)
    produced = await produce_orders(settings, orders)
    first_offsets: dict[int, list[int]] = {}
    firsts: set[tuple[str, ...]] = set()
    for identity, where in zip(identities, produced):
        if identity not in firsts:
            firsts.add(identity)
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
    # bounded, with room for a loaded 2-core CI machine (up to ~2,000 events are left to apply)
    await wait_consumed(settings, timeout_s=300, workers=[final])

    sold, cats = nonzero(*await changelog_counts(settings))
    assert not diff_counts(sold, want_sold), diff_counts(sold, want_sold)
    assert not diff_counts(cats, want_cats), diff_counts(cats, want_cats)
    store_orders = {
        s: v[0] for s, v in (await read_table(settings, "store-orders")).items() if v[0]
    }
    assert store_orders == want_stores
    # every distinct event is held in its order's ledger (none was lost, none dead-lettered)
    assert not await dead_letters(settings)
    seen = {
        k: SeenOrder.from_json(v)
        for k, v in (await read_table(settings, "processed-orders")).items()
    }
    assert set(seen) == {key_of(o.store_id, o.order_id) for o in orders}
    held = Counter()
    for ledger in seen.values():
        held["order"] += ledger.offset is not None
        held["cancellation"] += ledger.cancelled is not None
        held["refund"] += len(ledger.refunds)
    assert held == Counter(identity[0] for identity in firsts)
    # the read model drops what a cancellation took to zero (no 0 at the end of a ranking)
    r_sold, r_cats = await redis_counts(settings, stores)
    assert not diff_counts(r_sold, want_sold), "Redis read model: " + diff_counts(r_sold, want_sold)
    assert not diff_counts(r_cats, want_cats), "Redis read model: " + diff_counts(r_cats, want_cats)
    print(
        f"events={len(orders)} {dict(kinds)} duplicates={duplicates} sold keys={len(want_sold)} "
        f"category keys={len(want_cats)} replay windows={windows}"
    )


def nonzero(sold: dict, cats: dict) -> tuple[dict, dict]:
    """Counts without the keys a cancellation or refund took down to zero."""
    return {k: v for k, v in sold.items() if v != (0, 0)}, {k: v for k, v in cats.items() if v}
