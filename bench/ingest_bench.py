"""Order-ingestion benchmark against the real local broker (``bundlestream dev up``).

One run:
  1. publishes N order events to a fresh topic set (before any timing): UCI Online Retail invoices
     (real line counts, ~21 lines per order; cycled with new order ids past the ~20k invoices), or
     synthetic orders with web-shop line counts (``--source synthetic``, mean ~2.5 lines);
  2. ceiling: a plain aiokafka consumer reads the same topic from the start and decodes every
     value into a dict with orjson (events/s, median of ``--repeats``);
  3. the orders agent: a worker with a fresh app id consumes the topic; the clock starts at the
     first processed event (worker boot, group join and table recovery are excluded) and stops
     when every event is reflected in the tables: the processed-orders changelog holds one record
     per distinct order, so the sum of its end offsets counts applied orders exactly. With
     ``--max-seconds`` the rate is taken over what was applied by then (said in the output);
  4. prints both rates, their ratio, the worker's peak RSS (/proc VmHWM) and this process's maxrss,
     and checks the final counts against ``popularity.ground_truth``-equivalent sums.

    .venv/bin/python bench/ingest_bench.py                     # 100k Online Retail events
    .venv/bin/python bench/ingest_bench.py --source synthetic --events 200000 --batch-size 5000

Figures (2 shared CPUs, load average 2-6 from other jobs; Kafka 3.9.1 local; 2026-11-22):
  Online Retail (25 lines/event), 100k, defaults:  ceiling 29,539 ev/s, agent 38 ev/s (0.13%; capped 120 s)
  Online Retail 30k, defaults (batch 2000/0.25 s):  ceiling 36,761, agent 227 ev/s (0.62%)
  Online Retail 30k, batch 2000/within 1.0 s:       ceiling 35,588, agent 557 ev/s (1.57%), counts exact
  Online Retail 30k, batch 10000/within 1.0 s:      ceiling 32,246, agent 663 ev/s (2.05%), counts exact
  synthetic (2.1 lines/event) 50k, defaults:        ceiling 38,397, agent 550 ev/s (1.43%)
  synthetic 50k, batch 10000/within 1.0 s:          ceiling 51,745, agent 779 ev/s (1.51%), counts exact
  Worker peak RSS 190-540 MiB. Target (>= 10%) not reached; see the profile (``--profile``).

With issue 9's levers (inline drain, batched metrics, sensor-free reads, batch send before ack;
2026-12-03, load 3-5 from other sessions; the README has the table per lever):
  synthetic 30k, defaults:      1,133-1,562 ev/s wall, 2,107-2,256 ev per worker CPU-s, exact
  Online Retail 10k, defaults:  356 ev/s (8,537 lines/s), 650 ev per worker CPU-s, exact

A batch's table writes sent as whole changelog record batches (``agents/table_writes.py``;
2026-12-04, alternating with ``b23da8d`` via ``--worker-tree``, load 2.7-4):
  synthetic 30k, defaults:      2,393-3,484 ev/s wall, 4,360-5,172 ev per worker CPU-s, exact
                                (b23da8d: 1,605-2,019 wall, 2,455-2,817 per CPU-s)
  Online Retail 10k, defaults:  494 ev/s (11,857 lines/s), 867 ev per worker CPU-s, exact
                                (b23da8d: 480 ev/s, 786 per CPU-s)
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gzip
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "integration"))

import harness as h

from core.settings import get_settings
from deploy import local
from deploy.topics_admin import delete_topics, ensure_topics
from models.upgrade import PATH
from popularity.aggregate import UNCATEGORIZED


def online_retail_invoices(path: Path = h.ONLINE_RETAIL) -> list[tuple[str, str, list[dict]]]:
    """(invoice, country store, lines) for every sale invoice; no pydantic here (bench setup speed)."""
    invoices: dict[str, tuple[str, str, list[dict]]] = {}
    with gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="") as handle:
        for row in csv.DictReader(handle):
            inv = row["InvoiceNo"]
            if inv.startswith("C") or not row["StockCode"]:
                continue
            try:
                qty, price = int(row["Quantity"]), float(row["UnitPrice"])
            except ValueError:
                continue
            if qty <= 0 or price < 0:
                continue
            entry = invoices.get(inv)
            if entry is None:
                store = "or-" + row["Country"].lower().replace(" ", "-")
                entry = invoices[inv] = (inv, store, [])
            if len(entry[2]) < 1000:
                entry[2].append(
                    {
                        "product_id": row["StockCode"],
                        "quantity": qty,
                        "price": price,
                        "title": row["Description"][:200] or None,
                        "category": h.category_of(row["Description"]),
                    }
                )
    return list(invoices.values())


def synthetic_invoices(n: int, seed: int = 1) -> list[tuple[str, str, list[dict]]]:
    """Web-shop-like orders: 50 stores, 5,000 products in 40 categories, 1-12 lines (mean ~2.5)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        lines = []
        for _ in range(min(12, 1 + int(rng.expovariate(1 / 1.5)))):
            pid = int(rng.paretovariate(1.2)) % 5000
            lines.append(
                {
                    "product_id": f"p{pid}",
                    "quantity": rng.randint(1, 3),
                    "price": 5.0 + pid % 97,
                    "title": f"Product {pid}",
                    "category": f"cat{pid % 40}",
                }
            )
        out.append((f"s{i}", f"store-{rng.randrange(50)}", lines))
    return out


def build_events(source: str, n: int) -> list[tuple[bytes, bytes, str, str, list[dict]]]:
    """(key, value, store, order id, lines) for n events with distinct order ids."""
    base = (
        online_retail_invoices()
        if source == "online_retail"
        else synthetic_invoices(min(n, 50_000))
    )
    events = []
    for i in range(n):
        inv, store, lines = base[i % len(base)]
        order_id = f"{inv}-{i // len(base)}"
        value = orjson.dumps(
            {
                "order_id": order_id,
                "store_id": store,
                "lines": lines,
                "currency": "GBP",
                "created_at": "2011-01-01T00:00:00+00:00",
                "source": "replay",
                "schema_version": PATH.current,  # what the webhooks and the replay write
            }
        )
        events.append((store.encode(), value, store, order_id, lines))
    return events


def expected_totals(
    events: list[tuple[bytes, bytes, str, str, list[dict]]],
) -> tuple[int, int, int]:
    """(total units, total product-orders, total category-orders) for the exactness check."""
    units = product_orders = category_orders = 0
    for _key, _value, _store, _oid, lines in events:
        units += sum(line["quantity"] for line in lines)
        product_orders += len({line["product_id"] for line in lines})
        category_orders += len(
            {(line["category"] or UNCATEGORIZED).strip() or UNCATEGORIZED for line in lines}
        )
    return units, product_orders, category_orders


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def ceiling(settings, topic: str, n: int) -> tuple[float, float]:
    """(events/s, events per CPU-second) of a plain aiokafka consumer decoding values into dicts."""
    partitions = sorted(await h.end_offsets(settings, topic))
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen = 0
        started, cpu_started = time.perf_counter(), own_cpu()
        deadline = time.monotonic() + 600
        while seen < n and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=1000, max_records=100_000)
            for records in batch.values():
                for record in records:
                    if isinstance(orjson.loads(record.value), dict):
                        seen += 1
        elapsed, cpu = time.perf_counter() - started, own_cpu() - cpu_started
        if seen < n:
            raise RuntimeError(f"ceiling consumer read {seen}/{n} events")
        return n / elapsed, n / max(cpu, 1e-9)
    finally:
        await consumer.stop()


async def applied_orders(settings) -> int:
    ends = await h.end_offsets(settings, h.changelog_topic(settings, "processed-orders"))
    return sum(ends.values())


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process from /proc (the machine may be shared: CPU-s normalise for that)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def start_profiler(pid: int, seconds: float, out: Path) -> subprocess.Popen | None:
    """py-spy (``pip install py-spy``) sampling the worker; raw folded stacks for ``summarise``."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(exe).exists():
        print("py-spy not installed: no profile")
        return None
    return subprocess.Popen(
        [
            exe,
            "record",
            "-p",
            str(pid),
            "-d",
            str(int(seconds)),
            "-f",
            "raw",
            "-r",
            "50",
            "-o",
            str(out),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def summarise(folded: Path, top: int = 25) -> None:
    """Inclusive share of the samples per function, the worker's idle loop excluded."""
    inclusive: Counter[str] = Counter()
    total = 0
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if frames and frames[-1].startswith(("select (", "EpollSelector.select")):
            continue  # waiting for I/O: not CPU
        total += int(count)
        for frame in set(frames):
            inclusive[frame.split(" (")[0] + " (" + frame.split(" (")[-1].split("/")[-1]] += int(
                count
            )
    print(f"profile: {total} busy samples; inclusive share per function:")
    for name, count in inclusive.most_common(top):
        print(f"  {count / max(total, 1):6.1%}  {name}")


async def agent_run(
    settings, n: int, env: dict[str, str], max_seconds: float, profile: Path | None = None
) -> dict:
    # applied orders are counted from the processed-orders changelog: a dedupe window longer than
    # the Online Retail year keeps expiry tombstones out of that count
    env = {"BUNDLESTREAM_DEDUPE_RETENTION_S": str(400 * 86400), **env}
    worker = h.Worker(settings, name="bench", extra_env=env).start()
    profiler = None
    try:
        await worker.wait_ready(timeout_s=180)
        if profile is not None:
            profiler = start_profiler(worker.pid, min(max_seconds, 60), profile)
        first_at = None
        peak_rss = 0
        deadline = time.monotonic() + 300
        while first_at is None:  # the clock starts when the first applied order shows up
            if await applied_orders(settings) > 0:
                first_at = time.perf_counter()
                cpu_at = cpu_seconds(worker.pid)
            elif time.monotonic() > deadline:
                raise TimeoutError(f"no event processed in 300 s:\n{worker.log_tail()}")
            else:
                await asyncio.sleep(0.05)
        done = 0
        while done < n and time.perf_counter() - first_at < max_seconds:
            if not worker.alive():
                raise RuntimeError(f"worker died:\n{worker.log_tail()}")
            done = await applied_orders(settings)
            peak_rss = max(peak_rss, worker.peak_rss_bytes())
            await asyncio.sleep(0.1)
        elapsed = time.perf_counter() - first_at
        cpu = cpu_seconds(worker.pid) - cpu_at
        peak_rss = max(peak_rss, worker.peak_rss_bytes())
        return {
            "applied": done,
            "elapsed": elapsed,
            "rate": done / elapsed,
            "worker_peak_rss": peak_rss,
            "complete": done >= n,
            "cpu": cpu,
        }
    finally:
        worker.stop(timeout_s=30)
        if profiler is not None:
            profiler.wait(timeout=120)


async def check_exact(settings, totals: tuple[int, int, int]) -> bool:
    sold, cats = await h.changelog_counts(settings)
    got = (sum(u for u, _ in sold.values()), sum(o for _, o in sold.values()), sum(cats.values()))
    print(f"exactness: units/product-orders/category-orders got {got}, want {totals}")
    return got == totals


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--source", choices=["online_retail", "synthetic"], default="online_retail")
    parser.add_argument(
        "--repeats", type=int, default=3, help="ceiling repeats (median); the agent runs once"
    )
    parser.add_argument(
        "--batch-size", type=int, default=None, help="BUNDLESTREAM_BATCH_SIZE for the worker"
    )
    parser.add_argument(
        "--batch-within", type=float, default=None, help="BUNDLESTREAM_BATCH_WITHIN_S"
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=120.0,
        help="cap on the agent measurement; the rate is then over the events applied by then",
    )
    parser.add_argument("--keep-topics", action="store_true")
    parser.add_argument(
        "--worker-tree",
        type=Path,
        default=None,
        help="run the worker from this checkout (e.g. a git worktree of an older commit) to "
        "measure one change against the same bench and broker",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="py-spy the worker (first 60 s of the agent run) into this folded-stacks file",
    )
    args = parser.parse_args()

    base = get_settings()
    local.up(base, log=lambda line: print(f"[stack] {line}"))
    token = uuid.uuid4().hex[:8]
    settings = base.model_copy(
        update={"topic_prefix": f"bench{token}", "app_id": f"benchapp{token}"}
    )
    ensure_topics(settings)
    env: dict[str, str] = {}
    if args.worker_tree:  # the worker runs that tree's code (PYTHONPATH wins over the install)
        env["PYTHONPATH"] = str(args.worker_tree.resolve())
    if args.batch_size:
        env["BUNDLESTREAM_BATCH_SIZE"] = str(args.batch_size)
    if args.batch_within:
        env["BUNDLESTREAM_BATCH_WITHIN_S"] = str(args.batch_within)
    try:
        t0 = time.perf_counter()
        events = build_events(args.source, args.events)
        lines = sum(len(e[4]) for e in events)
        print(
            f"built {len(events)} {args.source} events ({lines / len(events):.1f} lines/event, "
            f"{sum(len(e[1]) for e in events) / len(events):.0f} B/event) in {time.perf_counter() - t0:.1f} s"
        )
        t0 = time.perf_counter()
        await h.produce_raw(settings, ((k, v) for k, v, *_ in events), chunk=5000)
        print(f"published in {time.perf_counter() - t0:.1f} s (not timed)")
        totals = expected_totals(events)
        topic = h.orders_topic(settings)

        runs = [await ceiling(settings, topic, len(events)) for _ in range(args.repeats)]
        ceiling_rate = statistics.median(r[0] for r in runs)
        ceiling_per_cpu = statistics.median(r[1] for r in runs)
        print(
            f"ceiling (aiokafka + orjson -> dict): median {ceiling_rate:,.0f} events/s "
            f"over {args.repeats} runs {[round(r[0]) for r in runs]}; {ceiling_per_cpu:,.0f} events per CPU-second"
        )

        run = await agent_run(settings, len(events), env, args.max_seconds, args.profile)
        scope = (
            "all events"
            if run["complete"]
            else f"{run['applied']} of {len(events)} events (--max-seconds cap)"
        )
        print(
            f"orders agent: {run['rate']:,.0f} events/s ({scope} in {run['elapsed']:.1f} s, "
            f"clock from the first processed event; worker boot excluded) env={env or 'defaults'}"
        )
        agent_per_cpu = run["applied"] / max(run["cpu"], 1e-9)
        per_event = lines / len(events)
        print(
            f"  order lines: {run['rate'] * per_event:,.0f} lines/s, "
            f"{agent_per_cpu * per_event:,.0f} lines per worker CPU-second ({per_event:.1f} per event)"
        )
        print(
            f"  worker CPU {run['cpu']:.1f} s over {run['elapsed']:.1f} s wall: "
            f"{agent_per_cpu:,.0f} events per worker CPU-second; "
            f"machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        )
        print(
            f"ratio agent/ceiling: {run['rate'] / ceiling_rate:.2%} by wall clock, "
            f"{agent_per_cpu / ceiling_per_cpu:.2%} per CPU-second (target >= 10%)"
        )
        print(
            f"peak memory: worker {run['worker_peak_rss'] / 2**20:.0f} MiB RSS (VmHWM), "
            f"bench process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB maxrss"
        )
        if args.profile is not None and args.profile.exists():
            summarise(args.profile)
        if run["complete"]:
            ok = await check_exact(settings, totals)
            print("counts exact" if ok else "COUNTS NOT EXACT")
            return 0 if ok else 1
        return 0
    finally:
        if not args.keep_topics:
            delete_topics(settings, settings.topic_prefix)
            delete_topics(settings, settings.app_id)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
