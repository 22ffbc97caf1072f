"""Bounded dedupe state: 1M synthetic orders over 90 days of order time through the orders agent's logic.

The loop is the orders agent's without Kafka (``agents.orders.process_order_batch``): per batch,
``popularity.plan_updates`` with the dedupe window, the processed-orders writes, the expiry index
(``popularity.retention.ExpiryIndex``) and the bounded expiry pass that deletes expired ids (here
from a dict standing in for the table; in the worker each delete is a table delete + tombstone).

Input: ``--orders`` orders (default 1,000,000) spread evenly over ``--days`` days (default 90) of
order time, ``--stores`` stores hashed onto ``--partitions`` partitions, arriving in order-time order
with up to 10 minutes of jitter. ``--redeliveries`` (default 2%) of orders arrive a second time
(a webhook redelivery) 1 minute to 4 hours later; ``--late`` (default 0.05%) arrive again 8-20 days
later (past a 7-day window: counted again, by design).

Printed: every ``--every`` days, the ids remembered (the processed-orders table size), the index
size, tombstones so far, duplicates dropped, copies counted again (late copies past the window:
their first copy's id was already deleted, so they count as new); at the end the window's
expected size, the CPU time of each batch's expiry pass (the event-loop time it would take on a
free core; the worker additionally yields every 500 deletes) and of rebuilding the index from the
table (what a restarted worker does). CPU time, not wall time, because a shared machine's load
inflates the wall clock; both are printed. Exit status 1 when the state is not flat after the window fills.

    .venv/bin/python bench/dedupe_bench.py [--orders 1000000] [--days 90] [--retention-days 7]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from models import OrderEvent
from models.orders import OrderLine
from popularity import CategoryTally, OrderAtOffset, Retention, SeenOrder, SoldCount, plan_updates
from popularity.retention import ExpiryIndex, should_delete

DAY = 24 * 3600
T0 = 1_735_689_600  # 2025-01-01T00:00:00Z


def synthetic_orders(
    n: int, days: int, stores: int, redeliveries: float, late: float, seed: int
) -> list[tuple[float, str, str]]:
    """(arrival time, store, order id) sorted by arrival; copies carry the original's order time."""
    rng = random.Random(seed)
    span = days * DAY
    out: list[tuple[float, str, str, float]] = []
    for i in range(n):
        created = T0 + span * i / n
        store = f"store-{rng.randrange(stores):03d}"
        oid = f"o{i}"
        out.append((created + rng.uniform(0, 600), store, oid, created))
        roll = rng.random()
        if roll < redeliveries:
            out.append((created + rng.uniform(60, 4 * 3600), store, oid, created))
        elif roll < redeliveries + late:
            out.append((created + rng.uniform(8 * DAY, 20 * DAY), store, oid, created))
    out.sort()
    return [(created, store, oid) for _arrival, store, oid, created in out]


def make_order(created: float, store: str, oid: str) -> OrderEvent:
    # model_construct: what is measured is the dedupe state, not pydantic validation
    line = OrderLine.model_construct(
        product_id="p1", quantity=1, price=1.0, category="c", title=None
    )
    return OrderEvent.model_construct(
        order_id=oid,
        store_id=store,
        lines=[line],
        created_at=datetime.fromtimestamp(created, tz=UTC),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--retention-days", type=float, default=7.0)
    parser.add_argument("--stores", type=int, default=200)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument(
        "--batch", type=int, default=2000, help="events per batch (the worker's batch_size)"
    )
    parser.add_argument("--redeliveries", type=float, default=0.02)
    parser.add_argument("--late", type=float, default=0.0005)
    parser.add_argument("--every", type=int, default=5, help="print every N days of order time")
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args()

    retention_s = int(args.retention_days * DAY)
    expire_per_batch = max(1_000, 2 * args.batch)
    stream = synthetic_orders(
        args.orders, args.days, args.stores, args.redeliveries, args.late, args.seed
    )
    print(
        f"{args.orders:,} orders + {len(stream) - args.orders:,} copies over {args.days} days, "
        f"{args.stores} stores on {args.partitions} partitions, window {args.retention_days:g} days, "
        f"batches of {args.batch}"
    )

    index = ExpiryIndex(retention_s)
    seen: dict[str, list[int]] = {}
    sold: dict[str, list[int]] = {}
    stores: dict[str, list[int]] = {}
    cats: dict[str, list[int]] = {}
    offsets = [0] * args.partitions
    tombstones = duplicates = applied = 0
    expire_ms: list[float] = []  # CPU time of each batch's expiry pass (this thread only)
    expire_wall_ms: list[float] = []
    next_print = args.every
    rows: list[tuple[int, int]] = []
    print(
        f"{'day':>5} {'orders in':>10} {'ids kept':>10} {'index':>10} {'tombstones':>11} {'dropped':>8} {'again':>6}"
    )
    started = time.perf_counter()
    consumed = 0
    distinct: set[str] = set()
    for start in range(0, len(stream), args.batch):
        batch: list[OrderAtOffset] = []
        for created, store, oid in stream[start : start + args.batch]:
            partition = zlib.crc32(store.encode()) % args.partitions
            batch.append(
                OrderAtOffset(partition, offsets[partition], make_order(created, store, oid))
            )
            distinct.add(oid)
            offsets[partition] += 1
        partitions = {item.partition for item in batch}
        marks = {p: m for p in partitions if (m := index.watermark(p)) is not None}
        updates = plan_updates(
            batch,
            read_sold=lambda k: SoldCount.from_json(sold.get(k)),
            read_category=lambda k: CategoryTally.from_json(cats.get(k)),
            read_seen=lambda k: SeenOrder.from_json(seen.get(k)),
            read_store_orders=lambda s: CategoryTally.from_json(stores.get(s)),
            retention=Retention(retention_s, marks),
        )
        sold.update({k: v.to_json() for k, v in updates.sold.items()})
        cats.update({k: v.to_json() for k, v in updates.categories.items()})
        stores.update({k: v.to_json() for k, v in updates.store_orders.items()})
        for key in updates.seen:
            seen[key] = updates.seen_value(key).to_json()
        duplicates += updates.duplicate_orders
        applied += updates.applied_orders
        # the expiry pass, timed: index the new ids, advance, delete what is past the window
        tick, cpu_tick = time.perf_counter(), time.thread_time()
        for key, time_s in updates.seen_times.items():
            index.observe(updates.seen[key][0], key, time_s)
        for partition, mark in updates.watermarks.items():
            index.advance(partition, mark)
        for partition in partitions:
            horizon = index.horizon(partition)
            for key, _t in index.take_expired(partition, expire_per_batch):
                stored = SeenOrder.from_json(seen.get(key))
                if should_delete(stored.time_s if stored else None, horizon, stored is not None):
                    del seen[key]
                    tombstones += 1
        expire_ms.append((time.thread_time() - cpu_tick) * 1000)
        expire_wall_ms.append((time.perf_counter() - tick) * 1000)
        consumed += len(batch)
        day = (max(index.watermark(p) or T0 for p in partitions) - T0) / DAY
        if day >= next_print or start + args.batch >= len(stream):
            rows.append((int(day), len(seen)))
            print(
                f"{day:5.0f} {consumed:>10,} {len(seen):>10,} {index.size():>10,} {tombstones:>11,} "
                f"{duplicates:>8,} {applied - len(distinct):>6,}"
            )
            next_print += args.every
    elapsed = time.perf_counter() - started

    # a restart: rebuild the index from the table, as agents.orders.rebuild_dedupe_index does
    tick, cpu_tick = time.perf_counter(), time.thread_time()
    rebuilt = ExpiryIndex(retention_s)
    for key, raw in seen.items():
        value = SeenOrder.from_json(raw)
        assert value is not None and value.partition is not None and value.time_s is not None
        rebuilt.observe(value.partition, key, value.time_s)
    rebuild_s, rebuild_cpu_s = time.perf_counter() - tick, time.thread_time() - cpu_tick

    per_day = args.orders / args.days
    expected = per_day * (args.retention_days + index.bucket_s / DAY)
    filled = [kept for day, kept in rows if day >= args.retention_days + 2 and day < args.days]
    spread = (max(filled) - min(filled)) / max(filled) if filled else 1.0
    print(
        f"\nwindow: {args.retention_days:g} days x {per_day:,.0f} orders/day = {per_day * args.retention_days:,.0f} ids "
        f"(+ up to one bucket of {index.bucket_s / 3600:.1f} h: <= {expected:,.0f})"
    )
    print(
        f"after the window filled: {min(filled):,} .. {max(filled):,} ids kept (spread {spread:.1%}); "
        f"without expiry: {args.orders:,}"
    )
    ordered, wall = sorted(expire_ms), sorted(expire_wall_ms)
    pick = lambda xs, q: xs[min(len(xs) - 1, int(len(xs) * q))]
    print(
        f"expiry pass per batch, CPU: median {pick(ordered, 0.5):.2f} ms, p99 {pick(ordered, 0.99):.2f} ms, "
        f"max {ordered[-1]:.2f} ms (wall: median {pick(wall, 0.5):.2f}, p99 {pick(wall, 0.99):.2f}, "
        f"max {wall[-1]:.2f}); <= {expire_per_batch:,} deletes per partition per batch"
    )
    print(
        f"index rebuild from the table ({len(seen):,} ids, a restart): {rebuild_cpu_s * 1000:.0f} ms CPU, "
        f"{rebuild_s * 1000:.0f} ms wall (the worker yields to the loop every 5,000 entries)"
    )
    print(f"copies counted again (first copy past the window): {applied - args.orders:,}")
    print(
        f"total {elapsed:.1f} s for {consumed:,} events ({consumed / elapsed:,.0f}/s through the pure logic)"
    )
    flat = bool(filled) and spread < 0.05 and max(filled) <= expected
    print("state flat after the window fills: " + ("yes" if flat else "NO"))
    return 0 if flat else 1


if __name__ == "__main__":
    raise SystemExit(main())
