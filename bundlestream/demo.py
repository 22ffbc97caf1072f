"""``bundlestream demo``: the README's first command, end to end on real data.

Starts a worker on the local stack, creates the demo's API keys (a store key for the demo store
and a gateway key, with the admin key from ``BUNDLESTREAM_ADMIN_TOKEN`` or a generated one),
replays the real Olist marketplace order history through Kafka, prints live popularity per
category while the orders agent counts, then uploads the Olist catalog + history as a store
upload and prints the bundle set the uploads agent answers with. The worker keeps running
afterwards (Ctrl-C stops it) so the chat demo and config pages work with the printed keys.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from core.settings import REPO_ROOT, Settings, get_settings

DATA_DIR = REPO_ROOT.parent / "shared" / "data"
OLIST = DATA_DIR / "olist"
DEMO_STORE = "olist-demo"


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


def demo_key_plan(store: str) -> list[tuple[str, str, str]]:
    """(label, scope, name) of the keys the demo creates besides the admin key."""
    return [
        ("store", f"store:{store}", f"demo: store {store}"),
        ("gateway", "gateway", "demo: chat gateway"),
    ]


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
        env=os.environ.copy(),
        cwd=REPO_ROOT,
    )


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


async def publish_demo_upload(settings: Settings, catalog_csv: Path) -> str:
    from aiokafka import AIOKafkaProducer

    import topics
    from ingest.publisher import producer_config
    from ingest.uploads import build_upload_event

    event = build_upload_event(
        DEMO_STORE,
        catalog_csv,
        "generic",
        OLIST / "olist_order_items_dataset.csv.gz",
        "olist",
        settings,
    )
    producer = AIOKafkaProducer(**producer_config(settings))
    await producer.start()
    try:
        await producer.send_and_wait(
            topics.UPLOADS.name(settings.topic_prefix),
            key=DEMO_STORE.encode(),
            value=event.to_bytes(),
        )
    finally:
        await producer.stop()
    return event.upload_id


def print_bundle_set(base: str, upload_id: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status, body = _http_get(f"{base}/api/v1/stores/{DEMO_STORE}/bundles")
        if status == 200 and body and body.get("upload_id") == upload_id:
            metrics = body["metrics"]
            budget = metrics.get("time_budget") or {}
            print(
                f"\n  bundle set for upload {upload_id}: status {body['status']}, {len(body['bundles'])} bundles, "
                f"{metrics['transactions']:,} transactions, engine {budget.get('actual_duration_ms', 0):.0f} ms"
            )
            print(f"  objectives: {', '.join(metrics['selected_objectives'])}")
            for b in body["bundles"]:
                names = " + ".join((p["title"] or p["product_id"])[:28] for p in b["products"])
                lift = f" lift {b['lift']:.1f}" if b.get("lift") else ""
                print(
                    f"  [{b['bundle_type']:<9}] {b['objective']:<18} {b['pricing']['bundle_price']:>8.2f} "
                    f"{b['pricing']['currency']} score {b['score']:.2f}{lift}  {names}"
                )
            return True
        time.sleep(1.0)
    print(f"\n  no bundle set for upload {upload_id} after {timeout_s:.0f}s (see the worker log)")
    return False


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
        for label, scope, name in demo_key_plan(DEMO_STORE):
            keys.append(DemoKey(label, scope, create_key(base, admin_token, scope, name)))
        wait_key_usable(base, keys[1].key, DEMO_STORE)
        usage = usage_text(base, DEMO_STORE, keys, admin_from_env)
        print(usage)
        print(
            f"== replaying the Olist order history into Kafka ({'all' if not args.limit else args.limit} orders)"
        )
        sent, _ = asyncio.run(replay_orders(settings, args.limit))
        deadline = time.monotonic() + args.timeout
        counted = _orders_counted(base)
        while counted < sent and time.monotonic() < deadline:
            print(f"  orders agent has counted {counted:,} of {sent:,} orders")
            time.sleep(2.0)
            counted = _orders_counted(base)
        print_popularity(base, DEMO_STORE)
        print(f"\n== {counted:,} of {sent:,} orders counted by the orders agent")
        print("== uploading the Olist catalog + order history as a store upload (by reference)")
        catalog_csv, n_products = olist_catalog_csv(
            settings.cache_dir / "demo" / "olist_catalog.csv"
        )
        upload_id = asyncio.run(publish_demo_upload(settings, catalog_csv))
        print(f"  upload {upload_id}: {n_products:,} products")
        print_bundle_set(base, upload_id, args.timeout)
        print(
            f"\n== worker running: chat demo {base}/demo   config {base}/config   "
            f"popularity {base}/api/v1/stores/{DEMO_STORE}/popularity   metrics {base}/metrics"
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
    parser.add_argument("--limit", type=int, default=None, help="Replay only the first N orders.")
    parser.add_argument(
        "--timeout", type=float, default=180.0, help="Seconds to wait for each stage."
    )
    parser.add_argument(
        "--exit",
        action="store_true",
        help="Stop the worker at the end instead of serving the pages.",
    )
    parser.set_defaults(handler=run_demo)
