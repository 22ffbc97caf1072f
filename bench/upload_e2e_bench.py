"""Upload -> bundle set through Kafka, no LLM: publish an UploadEvent, time until its BundleSet
arrives on the bundle-sets topic (parse + tables + engine + produce, as a real worker does it).

Two stores: up to 1,000 orders (the first 1,000 Online Retail invoices, generic CSVs) and the
whole Online Retail history (541,909 lines, gzip by reference). Median of repeats; the worker's
peak RSS is printed. Needs the local stack (``bundlestream dev up``); makes its own topics.

    .venv/bin/python bench/upload_e2e_bench.py [--repeats-small 7] [--repeats-full 3]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gzip
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import topics as registry
from core.settings import Settings, get_settings
from deploy.topics_admin import delete_topics, ensure_topics
from ingest.uploads import build_upload_event
from models import BundleSet, UploadEvent
from tests.integration.harness import Worker
from tests.shared_data import shared_data

ONLINE_RETAIL = shared_data("online_retail.csv.gz")
CATALOG_HEADER = ["product_id", "title", "category", "description", "price", "cost", "inventory"]


def write_inputs(folder: Path, small_invoices: int) -> tuple[Path, Path, Path, int]:
    """Generic catalog of every StockCode (category = last word of the description), and the
    first ``small_invoices`` non-cancelled invoices as a generic orders CSV."""
    products: dict[str, list[object]] = {}
    small_rows: list[list[object]] = []
    invoices: set[str] = set()
    with gzip.open(ONLINE_RETAIL, "rt", encoding="utf-8", errors="replace", newline="") as fh:
        for row in csv.DictReader(fh):
            sku, desc = row["StockCode"], row["Description"]
            try:
                price, qty = float(row["UnitPrice"]), int(row["Quantity"])
            except ValueError:
                continue
            if sku and desc and price > 0 and sku not in products:
                words = [w for w in desc.lower().split() if w.isalpha()]
                cat = words[-1] if words else "misc"
                products[sku] = [sku, desc.title(), cat, desc, price, round(price * 0.55, 3), 100]
            inv = row["InvoiceNo"]
            if inv[:1] in ("C", "A") or qty <= 0 or price <= 0:
                continue
            if inv not in invoices and len(invoices) >= small_invoices:
                continue
            invoices.add(inv)
            small_rows.append([inv, sku, qty, price, row["InvoiceDate"].replace(" ", "T")])
    catalog = folder / "catalog.csv"
    with open(catalog, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(CATALOG_HEADER)
        w.writerows(products.values())
    small_catalog = folder / "small_catalog.csv"
    used = {r[1] for r in small_rows}
    with open(small_catalog, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(CATALOG_HEADER)
        w.writerows(v for k, v in products.items() if k in used)
    orders = folder / "orders_small.csv"
    with open(orders, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["order_id", "product_id", "quantity", "price", "created_at"])
        w.writerows(small_rows)
    return catalog, small_catalog, orders, len(invoices)


async def time_upload(
    settings: Settings, event: UploadEvent, timeout_s: float = 120.0
) -> tuple[float, BundleSet]:
    out_topic = registry.BUNDLE_SETS.name(settings.topic_prefix)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_wait_ms=5,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True, linger_ms=0
    )
    await consumer.start()
    await producer.start()
    try:
        tps = [
            TopicPartition(out_topic, p)
            for p in sorted(consumer.partitions_for_topic(out_topic) or range(settings.partitions))
        ]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)
        started = time.perf_counter()
        await producer.send_and_wait(
            registry.UPLOADS.name(settings.topic_prefix),
            key=event.store_id.encode(),
            value=event.to_bytes(),
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=50)
            for msgs in batch.values():
                for m in msgs:
                    bs = BundleSet.model_validate(orjson.loads(m.value))
                    if bs.upload_id == event.upload_id:
                        return (time.perf_counter() - started) * 1000, bs
        raise TimeoutError(f"no bundle set for {event.upload_id} in {timeout_s} s")
    finally:
        await producer.stop()
        await consumer.stop()


async def run(args: argparse.Namespace) -> None:
    token = uuid.uuid4().hex[:10]
    folder = Path(tempfile.mkdtemp(prefix="bs-upload-bench-"))
    settings = get_settings().model_copy(
        update={
            "topic_prefix": f"bench{token}",
            "app_id": f"benchapp{token}",
            "upload_store_dir": folder / "store",
        }
    )
    catalog, small_catalog, small_orders, n_small = write_inputs(folder, args.small_orders)
    ensure_topics(settings)
    worker = Worker(settings, name="bench-worker").start()
    try:
        await worker.wait_ready(timeout_s=90)
        cases = [
            (
                f"{n_small} orders (generic CSVs)",
                small_catalog,
                "generic",
                small_orders,
                "generic",
                args.repeats_small,
            ),
            (
                "Online Retail, whole history (gzip by reference)",
                catalog,
                "generic",
                ONLINE_RETAIL,
                "online_retail",
                args.repeats_full,
            ),
        ]
        print(
            f"{'case':55s} {'median ms':>10s} {'min ms':>9s} {'max ms':>9s}  runs  bundles  txns  cold"
        )
        for label, cat, cat_fmt, orders, orders_fmt, repeats in cases:
            times, last = [], None
            for i in range(
                repeats + 1
            ):  # the first run warms the worker (imports, JIT-free caches)
                ev = build_upload_event(
                    f"bench-{label[:4].strip()}-{i}", cat, cat_fmt, orders, orders_fmt, settings
                )
                ms, last = await time_upload(settings, ev)
                if i:
                    times.append(ms)
            assert last is not None and last.status == "ok", last.error if last else None
            print(
                f"{label:55s} {statistics.median(times):10.1f} {min(times):9.1f} {max(times):9.1f}  {len(times):4d}"
                f"  {len(last.bundles):7d}  {last.metrics.transactions:5d}  {last.metrics.cold_start}"
                f"   (engine {last.metrics.time_budget.actual_duration_ms:.0f} ms, parse {last.metrics.parse_ms:.0f} ms)"
            )
        print(f"worker peak RSS: {worker.peak_rss_bytes() / 2**20:.0f} MiB")
    finally:
        worker.stop()
        for prefix in (settings.topic_prefix, settings.app_id):
            delete_topics(settings, prefix)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small-orders", type=int, default=1000)
    ap.add_argument("--repeats-small", type=int, default=7)
    ap.add_argument("--repeats-full", type=int, default=3)
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
