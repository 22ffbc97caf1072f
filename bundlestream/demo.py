"""``bundlestream demo``: the README's first command, end to end on real data.

Starts a worker on the local stack and creates the demo's API keys (a key for each demo store and
a gateway key, with the admin key from ``BUNDLESTREAM_ADMIN_TOKEN`` or a generated one). Then:

1. **A UK gift shop** (UCI Online Retail, real product names): a recent slice of its history is
   split 80/20 by time; the older part is uploaded as the store's catalog + order history and the
   bundle set is printed as a merchant reads it (products, prices, discount, why each was
   chosen); the newer part is replayed through Kafka as live orders and the bundles' live
   performance is printed from ``GET /api/v1/stores/{store}/bundles/performance``.
2. **The Olist marketplace** for the chat demo: its order history replayed through Kafka (live
   popularity per category), then its catalog + history uploaded.

The worker keeps running afterwards (Ctrl-C stops it) so the chat demo and config pages work
with the printed keys.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from core.settings import REPO_ROOT, Settings, get_settings

if TYPE_CHECKING:
    from models.bundles import BundleSet
    from models.orders import OrderEvent
    from models.performance import StorePerformance

DATA_DIR = REPO_ROOT.parent / "shared" / "data"
OLIST = DATA_DIR / "olist"
DEMO_STORE = "olist-demo"
ONLINE_RETAIL = DATA_DIR / "online_retail.csv.gz"
SHOP_STORE = "uk-gift-shop"
# The newest 6,000 orders (2011-09-26 to 2011-12-09, the shop's Christmas season): 4,800 to learn
# from and 1,200 to replay, so the replay and the wait for its counts stay short on 2 cores.
SHOP_SLICE_ORDERS = 6000
# Olist orders replayed for the chat demo's live popularity (its first 5,000 by file order; the
# whole 98,666 with --limit 0, several minutes on 2 cores).
OLIST_REPLAY_ORDERS = 5_000


# The admin key the demo's own requests use (set once in run_demo; the worker gets the same one).
_demo_token: str | None = None


def _http(
    method: str, url: str, token: str | None = None, body: Any = None, timeout: float = 5.0
) -> tuple[int, Any]:
    """One JSON request; the key goes in the Authorization header, never in the URL."""
    import urllib.error
    import urllib.request

    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = orjson.dumps(body) if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, orjson.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, orjson.loads(exc.read() or b"null")
        except orjson.JSONDecodeError:
            return exc.code, None
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, None


def _http_get(url: str, timeout: float = 5.0) -> tuple[int, Any]:
    return _http("GET", url, _demo_token, timeout=timeout)


@dataclass(frozen=True)
class DemoKey:
    label: str
    scope: str
    key: str


def demo_key_plan(store: str, shop: str | None = None) -> list[tuple[str, str, str]]:
    """(label, scope, name) of the keys the demo creates besides the admin key."""
    plan = [
        ("store", f"store:{store}", f"demo: store {store}"),
        ("gateway", "gateway", "demo: chat gateway"),
    ]
    if shop is not None:
        plan.append(("shop", f"store:{shop}", f"demo: store {shop}"))
    return plan


def create_key(base: str, admin_token: str, scope: str, name: str) -> str:
    """Create one key through the admin API; returns the secret (shown once, stored as a hash)."""
    status, body = _http("POST", f"{base}/api/v1/keys", admin_token, {"scope": scope, "name": name})
    answer = body if isinstance(body, dict) else {}
    secret = answer.get("key") or answer.get("secret")
    if status not in (200, 201) or not isinstance(secret, str) or not secret:
        reason = answer.get("error") or body
        raise SystemExit(f"creating the {scope} key failed: HTTP {status} {reason or ''}".rstrip())
    return str(secret)


def wait_key_usable(base: str, key: str, store: str, timeout_s: float = 30.0) -> None:
    """A created key reaches every worker through the key registry; wait (bounded) until it works."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status, _ = _http("GET", f"{base}/api/v1/stores/{store}/popularity?limit=1", key)
        if status == 200:
            return
        time.sleep(0.3)
    raise SystemExit(
        f"the new store key was not accepted within {timeout_s:.0f}s (see the worker log)"
    )


def usage_text(base: str, store: str, keys: list[DemoKey], admin_from_env: bool) -> str:
    """How to use the demo's keys: a curl line and what to paste into which page."""
    by_label = {k.label: k for k in keys}
    lines = ["", "== API keys (copy them now: created keys are stored only as hashes)"]
    for k in keys:
        shown = "your BUNDLESTREAM_ADMIN_TOKEN" if k.label == "admin" and admin_from_env else k.key
        lines.append(f"  {k.label:<8} {k.scope:<22} {shown}")
    store_key = by_label["store"].key
    lines += [
        "  use a key as a bearer token, e.g.:",
        f"    curl -H 'Authorization: Bearer {store_key}' '{base}/api/v1/stores/{store}/popularity?limit=3'",
        f'  chat demo: open {base}/demo?store={store} and paste the store key into the page\'s "API key" field',
        f"  config:    open {base}/config and paste the admin key",
    ]
    shop = by_label.get("shop")
    if shop is not None:
        shop_store = shop.scope.removeprefix("store:")
        lines.append(
            f"  gift shop: curl -H 'Authorization: Bearer {shop.key}' "
            f"'{base}/api/v1/stores/{shop_store}/bundles/performance'"
        )
    lines += [
        "  keys live on the api-keys topic: `bundlestream keys list`, `bundlestream keys revoke ID`",
    ]
    return "\n".join(lines)


def start_worker(settings: Settings, log_path: Path) -> subprocess.Popen:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
    return subprocess.Popen(
        [sys.executable, "-m", "bundlestream.cli", "worker", "--loglevel", "warn"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=worker_env(os.environ),
        cwd=REPO_ROOT,
    )


# The Olist catalog (32,951 products) + its 98,666-order history take ~10 s to parse and generate
# on a quiet 2-core machine, twice that when it is busy; the demo worker allows 50 s unless told.
DEMO_UPLOAD_DEADLINE_S = "50"


def worker_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The demo worker's environment: the caller's, with a longer upload deadline by default
    (kept below the stall alarm, which must outlast it)."""
    env = dict(environ)
    if "BUNDLESTREAM_UPLOAD_DEADLINE_S" not in env and "BUNDLESTREAM_STALL_AFTER_S" not in env:
        env["BUNDLESTREAM_UPLOAD_DEADLINE_S"] = DEMO_UPLOAD_DEADLINE_S
    return env


def wait_healthy(base: str, proc: subprocess.Popen, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"worker exited with code {proc.returncode}; see its log")
        status, body = _http_get(f"{base}/healthz")
        if (
            status == 200
            and body
            and body["checks"].get("assigned_partitions", 0) > 0
            and not body["checks"].get("rebalancing")
        ):
            return
        time.sleep(0.5)
    raise SystemExit(f"worker not healthy after {timeout_s:.0f}s")


def print_popularity(base: str, store: str, categories: int = 8, per_category: int = 3) -> int:
    _, body = _http_get(f"{base}/api/v1/stores/{store}/popularity?limit=1")
    if not body:
        return 0
    tallies: dict[str, int] = body["category_transactions"]
    total = sum(tallies.values())
    print(
        f"\n  live popularity, store {store}: {len(tallies)} categories, {total:,} category-orders"
    )
    for category, orders in list(tallies.items())[:categories]:
        _, top = _http_get(
            f"{base}/api/v1/stores/{store}/popularity?category={category}&limit={per_category}"
        )
        names = ", ".join(
            f"{p['product_id'][:8]}… ({p['orders']})" for p in (top or {}).get("products", [])
        )
        print(f"  {category:<28} {orders:>7,} orders   top: {names}")
    return total


def olist_catalog_csv(target: Path) -> tuple[Path, int]:
    """The Olist marketplace as a generic catalog CSV (the upload format any store can send)."""
    from ingest.olist import build_olist_catalog

    catalog = build_olist_catalog(
        OLIST / "olist_products_dataset.csv.gz",
        OLIST / "olist_order_items_dataset.csv.gz",
        OLIST / "olist_sellers_dataset.csv.gz",
        OLIST / "product_category_name_translation.csv.gz",
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            [
                "product_id",
                "title",
                "category",
                "tags",
                "description",
                "price",
                "cost",
                "inventory",
                "created_at",
                "rating",
                "partner_id",
                "partner_name",
                "status",
                "currency",
            ]
        )
        for p in catalog.products:
            writer.writerow(
                [
                    p.product_id,
                    p.title,
                    p.category,
                    "|".join(p.tags),
                    p.description,
                    f"{p.price:.2f}",
                    "" if p.cost is None else f"{p.cost:.2f}",
                    "" if p.inventory is None else p.inventory,
                    p.created_at.isoformat() if p.created_at else "",
                    "" if p.rating is None else p.rating,
                    p.partner.partner_id if p.partner else "",
                    p.partner.name if p.partner else "",
                    p.status,
                    p.currency,
                ]
            )
    return target, len(catalog.products)


async def replay_orders(settings: Settings, limit: int | None) -> tuple[int, int]:
    from ingest.olist import load_categories
    from ingest.orders import open_orders
    from ingest.publisher import publish_orders

    categories = load_categories(
        OLIST / "olist_products_dataset.csv.gz", OLIST / "product_category_name_translation.csv.gz"
    )
    stream = open_orders(
        OLIST / "olist_order_items_dataset.csv.gz",
        "olist",
        store_id=DEMO_STORE,
        categories=categories,
    )

    def progress(stats: Any) -> None:
        print(
            f"\r  published {stats.sent:,} orders ({stats.rate:,.0f}/s)",
            end="",
            file=sys.stderr,
            flush=True,
        )

    stats = await publish_orders(settings, stream, limit=limit, progress=progress)
    print(file=sys.stderr)
    return stats.sent, len(stream.report.bad_rows) if hasattr(stream.report, "bad_rows") else 0


async def publish_upload(
    settings: Settings,
    store: str,
    catalog: Path,
    catalog_format: str,
    orders: Path,
    orders_format: str,
) -> str:
    """One store upload (catalog + order history, large files by reference) on the uploads topic."""
    from aiokafka import AIOKafkaProducer

    import topics
    from ingest.publisher import producer_config
    from ingest.uploads import build_upload_event

    event = build_upload_event(store, catalog, catalog_format, orders, orders_format, settings)
    producer = AIOKafkaProducer(**producer_config(settings))
    await producer.start()
    try:
        await producer.send_and_wait(
            topics.UPLOADS.name(settings.topic_prefix), key=store.encode(), value=event.to_bytes()
        )
    finally:
        await producer.stop()
    return event.upload_id


async def publish_demo_upload(settings: Settings, catalog_csv: Path) -> str:
    return await publish_upload(
        settings,
        DEMO_STORE,
        catalog_csv,
        "generic",
        OLIST / "olist_order_items_dataset.csv.gz",
        "olist",
    )


# -- the gift shop (UCI Online Retail) ------------------------------------------------------------


@dataclass
class ShopFiles:
    """The gift shop's upload (catalog, training export) and the orders to replay live."""

    catalog_csv: Path
    train_export: Path
    products: int
    train_orders: int
    holdout: list[OrderEvent]
    first_day: datetime  # the slice's first order
    cutoff: datetime  # the first held-out order
    last_day: datetime


SHOP_CACHE_FORMAT = 1


def _shop_stamp(source: Path, max_orders: int | None) -> dict[str, Any]:
    stat = source.stat()
    return {
        "format": SHOP_CACHE_FORMAT,
        "source": str(source.resolve()),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "max_orders": max_orders,
    }


def _cached_shop(folder: Path, stamp: dict[str, Any]) -> ShopFiles | None:
    """The files a previous run prepared from the same source and slice, if all are there."""
    from models.orders import OrderEvent

    try:
        saved = orjson.loads((folder / "stamp.json").read_bytes())
        if saved.get("stamp") != stamp:
            return None
        with open(folder / "holdout.jsonl", "rb") as fh:
            holdout = [OrderEvent.model_validate_json(line) for line in fh if line.strip()]
        files = ShopFiles(
            folder / "catalog.csv",
            folder / "orders_train.csv.gz",
            int(saved["products"]),
            int(saved["train_orders"]),
            holdout,
            datetime.fromisoformat(saved["first_day"]),
            datetime.fromisoformat(saved["cutoff"]),
            datetime.fromisoformat(saved["last_day"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not (files.catalog_csv.is_file() and files.train_export.is_file() and holdout):
        return None
    return files


def prepare_shop(folder: Path, max_orders: int | None, source: Path = ONLINE_RETAIL) -> ShopFiles:
    """Parse the shop's export with the upload's own parser, take the slice, split it 80/20 by
    time, and write the catalog (from the whole history) and the training part as upload files.
    A second run on the same source and slice reuses the files (a stamp names what they came
    from)."""
    from bundlestream.demo_retail import (
        derive_catalog,
        pick_slice,
        split_slice,
        write_catalog,
        write_training_export,
    )
    from evaluation.loaders import load_orders

    stamp = _shop_stamp(source, max_orders)
    cached = _cached_shop(folder, stamp)
    if cached is not None:
        return cached
    orders = load_orders(source, "online_retail", store_id=SHOP_STORE).orders
    catalog = derive_catalog(orders)
    chosen = pick_slice(orders, max_orders)
    part = split_slice(chosen)
    if not part.train or not part.holdout:
        raise SystemExit(f"{len(chosen)} orders are too few to split into a past and a future")
    train_ids = {o.order_id for o in part.train}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "stamp.json").unlink(missing_ok=True)  # no stale stamp over half-written files
    write_catalog(catalog, folder / "catalog.csv")
    write_training_export(source, train_ids, folder / "orders_train.csv.gz")
    with open(folder / "holdout.jsonl", "wb") as fh:
        for order in part.holdout:
            fh.write(order.to_bytes() + b"\n")
    files = ShopFiles(
        folder / "catalog.csv",
        folder / "orders_train.csv.gz",
        len(catalog),
        len(train_ids),
        part.holdout,
        chosen[0].created_at,
        part.holdout[0].created_at,
        chosen[-1].created_at,
    )
    summary = {
        "stamp": stamp,
        "products": files.products,
        "train_orders": files.train_orders,
        "first_day": files.first_day.isoformat(),
        "cutoff": files.cutoff.isoformat(),
        "last_day": files.last_day.isoformat(),
    }
    (folder / "stamp.json").write_bytes(orjson.dumps(summary))
    return files


def wait_bundle_set(
    base: str, token: str | None, store: str, upload_id: str, timeout_s: float
) -> BundleSet | None:
    """The store's bundle set once it answers ``upload_id`` (BundleSet), or None at the deadline."""
    from models.bundles import BundleSet

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status, body = _http("GET", f"{base}/api/v1/stores/{store}/bundles", token)
        if status == 200 and isinstance(body, dict) and body.get("upload_id") == upload_id:
            return BundleSet.model_validate(body)
        time.sleep(0.5)
    return None


async def replay_live(settings: Settings, orders: list[OrderEvent]) -> int:
    """Publish orders on the orders topic (keyed by store), as the webhook path would."""
    from ingest.publisher import publish_orders

    stats = await publish_orders(settings, orders)
    return stats.sent


def wait_performance(
    base: str, token: str | None, store: str, upload_id: str, orders: int, timeout_s: float
) -> tuple[int, StorePerformance | None]:
    """(HTTP status, StorePerformance or None): polls until the endpoint has counted ``orders``
    orders since ``upload_id`` was published, or the deadline. An answer that is not JSON (a
    worker without the route) ends the wait at once; a JSON error (nothing counted yet) does not."""
    from models.performance import StorePerformance

    deadline = time.monotonic() + timeout_s
    status: int = 0
    latest: StorePerformance | None = None
    while time.monotonic() < deadline:
        status, body = _http("GET", f"{base}/api/v1/stores/{store}/bundles/performance", token)
        if status == 200 and isinstance(body, dict):
            latest = StorePerformance.model_validate(body)
            if latest.upload_id == upload_id and latest.orders_since_published >= orders:
                return status, latest
        elif body is None and status not in (0, 503):
            return status, None  # not a JSON answer: the route is not there
        time.sleep(1.0)
    return status, latest


def run_gift_shop(settings: Settings, base: str, args: argparse.Namespace) -> bool:
    """Upload the gift shop's past, print its bundles, replay its future, print their performance."""
    from bundlestream.demo_retail import format_bundle_set, format_performance
    from evaluation.live_hit_rate import as_live_orders
    from models.common import utcnow

    max_orders = args.shop_orders or None
    which = f"the newest {max_orders:,} orders" if max_orders else "the whole history"
    print(f"\n== a UK gift shop (UCI Online Retail, {which}): store {SHOP_STORE}")
    started = time.monotonic()
    shop = prepare_shop(settings.cache_dir / "demo" / SHOP_STORE, max_orders)
    print(
        f"  {shop.products:,} products; orders {shop.first_day:%Y-%m-%d} to {shop.last_day:%Y-%m-%d}: "
        f"{shop.train_orders:,} before {shop.cutoff:%Y-%m-%d %H:%M} are uploaded, the "
        f"{len(shop.holdout):,} after are replayed as live orders ({time.monotonic() - started:.0f} s)"
    )
    upload_id = asyncio.run(
        publish_upload(
            settings, SHOP_STORE, shop.catalog_csv, "generic", shop.train_export, "online_retail"
        )
    )
    bundle_set = wait_bundle_set(base, _demo_token, SHOP_STORE, upload_id, args.timeout)
    if bundle_set is None:
        print(
            f"  no bundle set for upload {upload_id} after {args.timeout:.0f}s (see the worker log)"
        )
        return False
    print(f"\n== the bundles of {SHOP_STORE} (upload {upload_id}, status {bundle_set.status})")
    for line in format_bundle_set(bundle_set):
        print(f"  {line}")
    # each run's orders get their own ids, so a second demo on the same broker is not deduplicated
    live = as_live_orders(shop.holdout, SHOP_STORE, utcnow(), suffix=f"@demo{secrets.token_hex(3)}")
    print(f"\n== replaying {len(live):,} later orders of the shop through Kafka as live orders")
    sent = asyncio.run(replay_live(settings, live))
    status, performance = wait_performance(
        base, _demo_token, SHOP_STORE, upload_id, sent, args.timeout
    )
    if performance is None:
        print(
            f"  live performance is not served by this worker (GET .../bundles/performance: "
            f"HTTP {status}); {sent:,} orders were published"
        )
        return True
    print(f"\n== live performance of {SHOP_STORE}'s bundles")
    for line in format_performance(performance, bundle_set):
        print(f"  {line}")
    return True


def print_bundle_set(base: str, upload_id: str, timeout_s: float) -> bool:
    from bundlestream.demo_retail import format_bundle_set

    bundle_set = wait_bundle_set(base, _demo_token, DEMO_STORE, upload_id, timeout_s)
    if bundle_set is None:
        print(
            f"\n  no bundle set for upload {upload_id} after {timeout_s:.0f}s (see the worker log)"
        )
        return False
    print(f"\n  bundle set for upload {upload_id}: status {bundle_set.status}")
    for line in format_bundle_set(bundle_set):
        print(f"  {line}")
    return True


def run_demo(args: argparse.Namespace) -> int:
    from deploy.errors import TopicMismatchError
    from deploy.topics_admin import ensure_topics

    global _demo_token
    settings = get_settings()
    base = f"http://{settings.web_host}:{settings.web_port}"
    admin_from_env = settings.admin_token is not None
    admin_token = (
        settings.admin_token.get_secret_value()
        if settings.admin_token
        else secrets.token_urlsafe(32)
    )
    os.environ["BUNDLESTREAM_ADMIN_TOKEN"] = admin_token  # the demo worker's bootstrap admin key
    _demo_token = admin_token
    print(f"== topics on {settings.kafka_bootstrap}")
    try:
        ensure_topics(settings)
    except TopicMismatchError as exc:
        print(f"demo stopped: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        print(
            f"demo stopped: cannot reach Kafka at {settings.kafka_bootstrap} ({type(exc).__name__}: {exc}); "
            "run `bundlestream dev up`",
            file=sys.stderr,
        )
        return 1
    log_path = settings.cache_dir / "demo-worker.log"
    print(f"== starting a worker (log: {log_path})")
    worker = start_worker(settings, log_path)
    try:
        wait_healthy(base, worker)
        keys = [DemoKey("admin", "admin", admin_token)]
        for label, scope, name in demo_key_plan(DEMO_STORE, SHOP_STORE):
            keys.append(DemoKey(label, scope, create_key(base, admin_token, scope, name)))
        wait_key_usable(base, keys[1].key, DEMO_STORE)
        usage = usage_text(base, DEMO_STORE, keys, admin_from_env)
        print(usage)
        run_gift_shop(settings, base, args)
        print(
            "\n== the Olist marketplace for the chat demo: store "
            f"{DEMO_STORE} (Olist has no product names, only categories)"
        )
        counted_before = _orders_counted(base)
        if counted_before:
            # Olist's orders are years old: past the dedupe window a second copy counts again,
            # so a history already counted by an earlier run is not replayed
            print(
                f"== the Olist history is counted already ({counted_before:,} orders, an earlier "
                "run): not replayed again"
            )
            sent = 0
        else:
            print(
                "== replaying the Olist order history into Kafka "
                f"({'all' if not args.limit else args.limit} orders)"
            )
            sent, _ = asyncio.run(replay_orders(settings, args.limit or None))
        deadline = time.monotonic() + args.timeout
        counted = _orders_counted(base)
        while counted < sent and time.monotonic() < deadline:
            print(
                f"\r  orders agent has counted {counted:,} of {sent:,} orders",
                end="",
                file=sys.stderr,
                flush=True,
            )
            time.sleep(2.0)
            counted = _orders_counted(base)
        print(file=sys.stderr)
        print_popularity(base, DEMO_STORE)
        print(
            f"\n== the orders agent has counted {counted:,} orders of {DEMO_STORE} in all "
            f"({sent:,} published by this run)"
        )
        print("== uploading the Olist catalog + order history as a store upload (by reference)")
        catalog_csv, n_products = olist_catalog_csv(
            settings.cache_dir / "demo" / "olist_catalog.csv"
        )
        upload_id = asyncio.run(publish_demo_upload(settings, catalog_csv))
        print(f"  upload {upload_id}: {n_products:,} products")
        print_bundle_set(base, upload_id, args.timeout)
        print(
            f"\n== worker running: chat demo {base}/demo   config {base}/config   "
            f"popularity {base}/api/v1/stores/{DEMO_STORE}/popularity   metrics {base}/metrics\n"
            f"   gift shop: bundles {base}/api/v1/stores/{SHOP_STORE}/bundles   "
            f"live performance {base}/api/v1/stores/{SHOP_STORE}/bundles/performance\n"
            f"   merchant page: {base}/stores/{SHOP_STORE} (paste the shop key)"
        )
        print(usage)
        if args.exit:
            return 0
        print("   Ctrl-C stops the worker; `bundlestream dev down` stops Kafka and Redis.")
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        worker.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if worker.poll() is None:
            worker.terminate()
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
    return 0


def _orders_counted(base: str) -> int:
    _, body = _http_get(f"{base}/api/v1/stores/{DEMO_STORE}/popularity?limit=1")
    return int((body or {}).get("orders_counted", 0))


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "demo", help="Run the live demo on real data (needs `bundlestream dev up`)."
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=OLIST_REPLAY_ORDERS,
        help="Replay only the first N Olist orders (0: all 98,666).",
    )
    parser.add_argument(
        "--shop-orders",
        type=int,
        default=SHOP_SLICE_ORDERS,
        help="The gift shop's newest N orders to split 80/20 by time (0: the whole history).",
    )
    parser.add_argument(
        "--timeout", type=float, default=180.0, help="Seconds to wait for each stage."
    )
    parser.add_argument(
        "--exit",
        action="store_true",
        help="Stop the worker at the end instead of serving the pages.",
    )
    parser.set_defaults(handler=run_demo)
