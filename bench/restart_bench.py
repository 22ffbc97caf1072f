"""Restart benchmark: time to ready and RSS of a worker after N orders, memory store vs RocksDB.

For each N the orders tables' changelogs are written as the orders agent would write them: the
same fold (``popularity.plan_updates`` + ``writes_by_partition``) over batches of
``BUNDLESTREAM_BATCH_SIZE`` orders per partition, one record per touched key per batch, straight
to the changelog topics. That is the state a worker has after N orders, built in seconds instead
of the agent's ~1,500 orders/s (a million orders would take 11+ minutes per run). The orders
themselves are real where the data has them (Olist: 98,666 orders of one store, the history the
issue measured at 58.7 s to restart on the memory store), synthetic past that (64 stores, 1-4
lines, 30 categories). Then, one topic set and consumer group per N:

  * ``memory``: a worker on the memory store starts; it replays every changelog from offset 0;
  * ``rocksdb new``: a RocksDB worker on an empty data dir (a new machine; no standby): the same
    full replay, into RocksDB;
  * ``rocksdb restart``: that worker stopped cleanly (SIGTERM) and started on the same data dir;
  * ``rocksdb kill -9``: killed and started on the same data dir (includes the group's wait for
    the dead member's 10 s session timeout before it rebalances).

Time to ready: process spawn to /healthz ok with every partition assigned and no rebalance. RSS:
the worker's VmRSS when ready and its peak (VmHWM). "read" is the records Faust's recovery had
to read from the changelogs (from its own log tables). Medians over ``--repeats`` runs (one run
for N >= 1M unless ``--repeats-large``).

    .venv/bin/python bench/restart_bench.py                           # 10k, 100k, 1M
    .venv/bin/python bench/restart_bench.py --sizes 10000,100000 --repeats 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.partitioner import DefaultPartitioner

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tests.shared_data import shared_data

sys.path.insert(0, str(REPO / "tests" / "integration"))

import harness as h

from core.settings import Settings, get_settings
from deploy import local
from models import OrderEvent
from popularity import CategoryTally, OrderAtOffset, SoldCount, plan_updates, writes_by_partition

OLIST = shared_data("olist")
ORDERS_TABLES = ("sold-counts", "category-transactions", "store-orders", "processed-orders")
MIB = 1024 * 1024


# ------------------------------------------------------------------------------------------------
# Orders: real Olist first, synthetic past it
# ------------------------------------------------------------------------------------------------


def olist_orders(limit: int) -> list[OrderEvent]:
    from ingest import OrderStream, load_categories

    categories = load_categories(
        OLIST / "olist_products_dataset.csv.gz", OLIST / "product_category_name_translation.csv.gz"
    )
    stream = OrderStream(
        OLIST / "olist_order_items_dataset.csv.gz",
        "olist",
        store_id="olist-demo",
        categories=categories,
    )
    out: list[OrderEvent] = []
    for order in stream:
        out.append(order)
        if len(out) >= limit:
            break
    return out


def synthetic_orders(count: int, seed: int = 8) -> Iterator[OrderEvent]:
    rng = random.Random(seed)
    categories = [f"cat{i}" for i in range(30)]
    for n in range(count):
        store = f"syn-{rng.randrange(64)}"
        lines = []
        for _ in range(rng.choice((1, 1, 2, 2, 3, 4))):
            product = rng.randrange(2000)
            lines.append(
                {
                    "product_id": f"p{product}",
                    "quantity": rng.randint(1, 3),
                    "price": 9.5,
                    "category": categories[product % 30],
                }
            )
        yield OrderEvent.model_validate({"order_id": f"s{n}", "store_id": store, "lines": lines})


def history(count: int, real: list[OrderEvent]) -> tuple[Iterator[OrderEvent], str]:
    """``count`` orders: the real ones first, then synthetic; and a label saying which."""
    used = real[:count]
    rest = count - len(used)

    def chain() -> Iterator[OrderEvent]:
        yield from used
        yield from synthetic_orders(rest)

    label = f"Olist {len(used):,}" + (f" + synthetic {rest:,}" if rest else "")
    return chain(), label


# ------------------------------------------------------------------------------------------------
# Changelogs written as the orders agent writes them
# ------------------------------------------------------------------------------------------------


def changelog_records(
    orders: Iterator[OrderEvent], partitions: int, batch_size: int
) -> Iterator[tuple[str, int, bytes, bytes]]:
    """(table, partition, key, value) in the agent's write order, batch by batch per partition."""
    partitioner = DefaultPartitioner()
    all_parts = list(range(partitions))
    state: dict[str, dict[str, object]] = {t: {} for t in ORDERS_TABLES}
    next_offset = [0] * partitions
    pending: dict[int, list[OrderAtOffset]] = {p: [] for p in all_parts}

    def flush(partition: int) -> Iterator[tuple[str, int, bytes, bytes]]:
        batch, pending[partition] = pending[partition], []
        updates = plan_updates(
            batch,
            read_sold=lambda k: SoldCount.from_json(state["sold-counts"].get(k)),
            read_category=lambda k: CategoryTally.from_json(state["category-transactions"].get(k)),
            read_seen=state["processed-orders"].get,
            read_store_orders=lambda s: CategoryTally.from_json(state["store-orders"].get(s)),
        )
        for part, writes in writes_by_partition(updates).items():
            for table, keys, values in (
                ("sold-counts", writes.sold, lambda k: updates.sold[k].to_json()),
                (
                    "category-transactions",
                    writes.categories,
                    lambda k: updates.categories[k].to_json(),
                ),
                ("store-orders", writes.stores, lambda k: updates.store_orders[k].to_json()),
                ("processed-orders", writes.seen, lambda k: updates.seen[k][1]),
            ):
                for key in keys:
                    value = values(key)
                    state[table][key] = value
                    yield table, part, orjson.dumps(key), orjson.dumps(value)

    for order in orders:
        partition = partitioner(order.store_id.encode(), all_parts, all_parts)
        pending[partition].append(OrderAtOffset(partition, next_offset[partition], order))
        next_offset[partition] += 1
        if len(pending[partition]) >= batch_size:
            yield from flush(partition)
    for partition in all_parts:
        if pending[partition]:
            yield from flush(partition)


async def write_changelogs(settings: Settings, orders: Iterator[OrderEvent]) -> int:
    """Create the orders tables' changelog topics (compacted, like Faust's) and fill them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(
                    h.changelog_topic(settings, t),
                    settings.partitions,
                    settings.replication_factor,
                    topic_configs={"cleanup.policy": "compact"},
                )
                for t in ORDERS_TABLES
            ]
        )
    finally:
        await admin.close()
    producer = h.producer(
        settings, linger_ms=20, max_batch_size=1024 * 1024, compression_type="lz4"
    )
    await producer.start()
    sent = 0
    try:
        futures = []
        for table, partition, key, value in changelog_records(
            orders, settings.partitions, settings.batch_size
        ):
            futures.append(
                await producer.send(
                    h.changelog_topic(settings, table), key=key, value=value, partition=partition
                )
            )
            sent += 1
            if len(futures) >= 20_000:
                await asyncio.gather(*futures)
                futures = []
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return sent


# ------------------------------------------------------------------------------------------------
# Runs
# ------------------------------------------------------------------------------------------------


@dataclass
class Result:
    ready_s: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)
    peak: list[int] = field(default_factory=list)
    read: list[int] = field(default_factory=list)


async def measure(worker: h.Worker, timeout_s: float, result: Result) -> None:
    await worker.wait_ready(timeout_s=timeout_s, min_partitions=worker.settings.partitions)
    result.ready_s.append(time.monotonic() - worker.started_at)
    result.rss.append(worker.rss_bytes())
    result.peak.append(worker.peak_rss_bytes())
    result.read.append(worker.recovery().records_read)


async def run_size(
    base: Settings,
    count: int,
    real: list[OrderEvent],
    repeats: int,
    work: Path,
    timeout_s: float,
    memory_repeats: int,
) -> list[tuple[str, str, Result, int]]:
    rows: list[tuple[str, str, Result, int]] = []
    with h.isolated_topics(base, work / f"n{count}") as settings:
        orders, label = history(count, real)
        started = time.monotonic()
        records = await write_changelogs(settings, orders)
        print(
            f"N={count:,} ({label}): {records:,} changelog records written in "
            f"{time.monotonic() - started:.0f} s",
            flush=True,
        )

        memory = Result()
        for run in range(memory_repeats):
            worker = h.Worker(
                settings,
                name=f"mem-{count}-{run}",
                extra_env={"BUNDLESTREAM_TABLE_STORE": "memory://"},
            ).start()
            try:
                await measure(worker, timeout_s, memory)
            finally:
                worker.stop()
                shutil.rmtree(worker.data_dir or "", ignore_errors=True)
            print(
                f"  memory run {run + 1}: {memory.ready_s[-1]:.1f} s, read {memory.read[-1]:,}",
                flush=True,
            )
        if memory.ready_s:
            rows.append((label, "memory: start (replays from 0)", memory, records))

        new, restart, killed = Result(), Result(), Result()
        worker = h.Worker(
            settings, name=f"rocks-{count}", extra_env={"BUNDLESTREAM_TABLE_STORE": "rocksdb://"}
        ).start()
        try:
            await measure(worker, timeout_s, new)
            print(f"  rocksdb new: {new.ready_s[-1]:.1f} s, read {new.read[-1]:,}", flush=True)
            for run in range(repeats):
                worker.restart()
                await measure(worker, timeout_s, restart)
                print(
                    f"  rocksdb restart {run + 1}: {restart.ready_s[-1]:.1f} s, read {restart.read[-1]:,}",
                    flush=True,
                )
            worker.kill()
            worker.start()
            await measure(worker, timeout_s, killed)
            print(
                f"  rocksdb kill -9: {killed.ready_s[-1]:.1f} s, read {killed.read[-1]:,}",
                flush=True,
            )
        finally:
            worker.stop()
            shutil.rmtree(worker.data_dir or "", ignore_errors=True)
        rows.append((label, "rocksdb: new worker, empty disk", new, records))
        rows.append((label, "rocksdb: clean restart", restart, records))
        rows.append((label, "rocksdb: kill -9 restart", killed, records))
    return rows


def print_table(rows: list[tuple[int, str, str, Result, int]]) -> None:
    def med(values: list[float]) -> float:
        return statistics.median(values) if values else float("nan")

    print()
    print(
        "| orders | data | store and case | runs | ready s (median) | min-max s | RSS MiB | peak RSS MiB "
        "| changelog records | records read |"
    )
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for count, label, case, r, records in rows:
        print(
            f"| {count:,} | {label} | {case} | {len(r.ready_s)} | {med(r.ready_s):.1f} | "
            f"{min(r.ready_s):.1f}-{max(r.ready_s):.1f} | {med(r.rss) / MIB:.0f} | {med(r.peak) / MIB:.0f} | "
            f"{records:,} | {int(med(r.read)):,} |"
        )


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs per case (memory start, RocksDB restart)"
    )
    parser.add_argument("--repeats-large", type=int, default=1, help="runs per case for N >= 1M")
    parser.add_argument(
        "--memory-repeats",
        type=int,
        default=None,
        help="memory-store runs per N (default: as --repeats; 0 skips the memory store)",
    )
    parser.add_argument(
        "--timeout", type=float, default=1200.0, help="longest wait for one worker to be ready"
    )
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/bundlestream-restart-bench"))
    args = parser.parse_args()

    base = get_settings()
    local.up(base, log=lambda line: print(f"[stack] {line}"))
    sizes = [int(s) for s in args.sizes.split(",") if s]
    real = olist_orders(max(sizes))
    print(f"{len(real):,} real Olist orders; load average {os.getloadavg()[0]:.1f}", flush=True)
    rows: list[tuple[int, str, str, Result, int]] = []
    for count in sizes:
        repeats = args.repeats_large if count >= 1_000_000 else args.repeats
        memory_repeats = (
            repeats if args.memory_repeats is None else min(args.memory_repeats, repeats)
        )
        for label, case, result, records in await run_size(
            base, count, real, repeats, args.work_dir, args.timeout, memory_repeats
        ):
            rows.append((count, label, case, result, records))
        print_table(rows)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
