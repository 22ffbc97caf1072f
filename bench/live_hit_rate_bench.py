"""Live vs offline bundle hit rate on Online Retail, through the real Kafka.

The evaluation's own split (``evaluation.split``: orders sorted by time, the newest 20% held out)
cuts the whole Online Retail history in two. The older 80% is uploaded as a store (a catalog
derived from the history + the training orders as an Online Retail export, by reference) and the
worker answers with a bundle set. The held-out 20% are then replayed on the orders topic as live
orders (order times moved to now, so they fall after publication), and the worker's own count is
read from ``GET /api/v1/stores/{store}/bundles/performance``. The offline figure is computed from
the same held-out orders and the same bundle set (``evaluation.live_hit_rate``). A pipeline that
counts exactly gives the same per-bundle numbers on both sides.

Needs the local stack (``bundlestream dev up``, or the ports in BUNDLESTREAM_KAFKA_BOOTSTRAP /
BUNDLESTREAM_REDIS_URL); makes its own topics and worker and deletes them afterwards.

    .venv/bin/python bench/live_hit_rate_bench.py [--orders N] [--timeout 300]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bundlestream.demo import prepare_shop, publish_upload, replay_live, wait_bundle_set
from bundlestream.demo import wait_performance as poll_performance
from bundlestream.demo_retail import bundle_label
from core.settings import get_settings
from deploy.topics_admin import delete_topics, ensure_topics
from evaluation.live_hit_rate import (
    as_live_orders,
    bundle_products,
    comparison_rows,
    live_hit_rates,
    markdown_table,
    offline_hit_rates,
    order_products,
)
from models.common import utcnow
from tests.integration.harness import TEST_ADMIN_TOKEN, Worker


def run(args: argparse.Namespace) -> int:
    token = secrets.token_hex(5)
    folder = Path(tempfile.mkdtemp(prefix="bs-live-hit-rate-"))
    settings = get_settings().model_copy(
        update={
            "topic_prefix": f"bench{token}",
            "app_id": f"benchapp{token}",
            "upload_store_dir": folder / "store",
        }
    )
    store = f"online-retail-{token}"
    started = time.monotonic()
    shop = prepare_shop(folder / "files", args.orders or None)
    holdout = order_products(shop.holdout)
    which = f"newest {args.orders:,} orders" if args.orders else "whole history"
    print(
        f"Online Retail ({which}): {shop.train_orders:,} training orders "
        f"({shop.first_day:%Y-%m-%d} to {shop.cutoff:%Y-%m-%d %H:%M}), {len(holdout):,} held-out "
        f"orders to {shop.last_day:%Y-%m-%d}; catalog {shop.products:,} products "
        f"(prepared in {time.monotonic() - started:.1f} s)"
    )
    ensure_topics(settings)
    # uploads of the whole history take ~3 s on a quiet machine; leave room on a busy one
    worker = Worker(
        settings,
        name="live-hit-rate-bench",
        extra_env={"BUNDLESTREAM_UPLOAD_DEADLINE_S": "120", "BUNDLESTREAM_STALL_AFTER_S": "180"},
    ).start()
    try:
        asyncio.run(worker.wait_ready(timeout_s=120))
        t = time.monotonic()
        upload_id = asyncio.run(
            publish_upload(
                settings, store, shop.catalog_csv, "generic", shop.train_export, "online_retail"
            )
        )
        bundle_set = wait_bundle_set(worker.url, TEST_ADMIN_TOKEN, store, upload_id, args.timeout)
        if bundle_set is None or bundle_set.status != "ok":
            print(f"no ok bundle set for upload {upload_id}:\n{worker.log_tail(3000)}")
            return 1
        print(
            f"bundle set: {len(bundle_set.bundles)} bundles from "
            f"{bundle_set.metrics.transactions:,} orders ({time.monotonic() - t:.1f} s)"
        )
        offline = offline_hit_rates(holdout, bundle_products(bundle_set))
        live_orders = as_live_orders(shop.holdout, store, utcnow())
        t = time.monotonic()
        sent = asyncio.run(replay_live(settings, live_orders))
        status, performance = poll_performance(
            worker.url, TEST_ADMIN_TOKEN, store, upload_id, len(holdout), args.timeout
        )
        if performance is None:
            print(f"GET .../bundles/performance answered HTTP {status}: no live figure")
            return 1
        print(
            f"replayed {sent:,} order events; the endpoint counts "
            f"{performance.orders_since_published:,} orders ({time.monotonic() - t:.1f} s)"
        )
        live = live_hit_rates(performance)
        print()
        names = {b.bundle_id: bundle_label(b, 60) for b in bundle_set.bundles}
        rows = comparison_rows(offline, live, names)
        print(markdown_table(rows, ["measure", "offline (computed)", "live (endpoint)"]))
        counts = {b.bundle_id: (b.orders_partial, b.orders_whole) for b in live.bundles}
        same = all(
            counts.get(b.bundle_id) == (b.orders_partial, b.orders_whole) for b in offline.bundles
        )
        print(f"\nper-bundle counts identical offline and live: {same}")
        return 0 if same and live.orders == offline.orders else 1
    finally:
        worker.stop()
        for prefix in (settings.topic_prefix, settings.app_id):
            delete_topics(settings, prefix)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument(
        "--orders",
        type=int,
        default=0,
        help="Use the newest N orders instead of the whole history (0: all 19,960).",
    )
    ap.add_argument("--timeout", type=float, default=300.0, help="Seconds to wait for each stage.")
    sys.exit(run(ap.parse_args()))


if __name__ == "__main__":
    main()
