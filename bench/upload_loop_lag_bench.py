"""How long a real worker's event loop is blocked while it takes hostile and big uploads.

Starts one worker (own topic prefix) on the local stack, polls ``/healthz`` every 100 ms and
sends, one after the other:

1. a gzip bomb: valid catalog rows expanding past ``max_decompressed_bytes`` (must be a 413);
2. the full Online Retail history (7.5 MB .gz by reference) with a catalog derived from it;
3. the Olist catalog (32,951 products) with its order items history.

Per phase: the HTTP answer and its time, the bundle set's wait, the worst event-loop lag the
worker's own monitor saw (``checks.loop_lag_max_recent_ms``: how late a 0.1 s timer fired),
the slowest /healthz answer and every answer that was not 200 ok.

    .venv/bin/python bench/upload_loop_lag_bench.py
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import sys
import time
import uuid
import zlib
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from core.settings import get_settings
from deploy.topics_admin import delete_topics, ensure_topics
from tests.e2e.support import start_worker
from tests.integration.harness import admin_headers
from tests.shared_data import shared_data

DATA = shared_data()
ONLINE_RETAIL = DATA / "online_retail.csv.gz"
OLIST = DATA / "olist"


def gzip_bomb(expanded_bytes: int) -> bytes:
    out = io.BytesIO()
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    out.write(compressor.compress(b"product_id,title,price\n"))
    block = b"p1,a perfectly valid title,1.00\n" * 32768
    for _ in range(expanded_bytes // len(block) + 1):
        out.write(compressor.compress(block))
    out.write(compressor.flush())
    return out.getvalue()


def to_csv(header: list[str], rows: list[list[object]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode()


def online_retail_catalog() -> bytes:
    products: dict[str, list[object]] = {}
    with gzip.open(ONLINE_RETAIL, "rt", encoding="utf-8", errors="replace", newline="") as fh:
        for row in csv.DictReader(fh):
            sku, desc = row["StockCode"], row["Description"]
            try:
                price = float(row["UnitPrice"])
            except ValueError:
                continue
            if sku and desc and price > 0 and sku not in products:
                words = [w for w in desc.lower().split() if w.isalpha()]
                products[sku] = [sku, desc.title(), words[-1] if words else "misc", f"{price:.2f}"]
    return to_csv(["product_id", "title", "category", "price"], list(products.values()))


def olist_catalog() -> bytes:
    from ingest.olist import build_olist_catalog

    catalog = build_olist_catalog(
        OLIST / "olist_products_dataset.csv.gz",
        OLIST / "olist_order_items_dataset.csv.gz",
        OLIST / "olist_sellers_dataset.csv.gz",
    )
    return to_csv(
        ["product_id", "title", "category", "price", "description"],
        [[p.product_id, p.title, p.category, p.price, p.description] for p in catalog.products],
    )


class Poller:
    """/healthz every 100 ms; remembers every answer with its time."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.samples: list[
            tuple[float, int, str, float, float]
        ] = []  # (t, code, status, latency, lag ms)
        self._stop = False

    async def run(self) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            while not self._stop:
                started = time.monotonic()
                try:
                    async with session.get(self.url + "/healthz", headers=admin_headers()) as resp:
                        body = await resp.json(content_type=None)
                        lag = float(body.get("checks", {}).get("loop_lag_max_recent_ms", 0.0))
                        self.samples.append(
                            (
                                started,
                                resp.status,
                                body.get("status", "?"),
                                time.monotonic() - started,
                                lag,
                            )
                        )
                except (TimeoutError, aiohttp.ClientError) as exc:
                    self.samples.append(
                        (started, 0, f"error {exc}", time.monotonic() - started, 0.0)
                    )
                await asyncio.sleep(0.1)

    def stop(self) -> None:
        self._stop = True

    def between(self, start: float, end: float) -> list[tuple[float, int, str, float, float]]:
        # the lag window reaches 10 s back: samples up to 10 s after the phase still describe it
        return [s for s in self.samples if start <= s[0] <= end]


async def post_upload(
    session: aiohttp.ClientSession,
    url: str,
    store: str,
    catalog: bytes,
    orders: tuple[str, bytes] | None = None,
) -> tuple[int, dict, float]:
    form = aiohttp.FormData()
    form.add_field("store_id", store)
    form.add_field("catalog", catalog, filename="catalog.csv", content_type="text/csv")
    if orders is not None:
        form.add_field(
            "orders", orders[1], filename=orders[0], content_type="application/octet-stream"
        )
    started = time.monotonic()
    async with session.post(url + "/api/v1/uploads", data=form, headers=admin_headers()) as resp:
        return resp.status, await resp.json(content_type=None), time.monotonic() - started


async def wait_done(
    session: aiohttp.ClientSession, url: str, upload_id: str, timeout_s: float = 180.0
) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        async with session.get(
            f"{url}/api/v1/uploads/{upload_id}", headers=admin_headers()
        ) as resp:
            body = await resp.json(content_type=None)
            if body.get("status") in ("done", "error"):
                return body
        await asyncio.sleep(0.2)
    raise TimeoutError(f"upload {upload_id} not done after {timeout_s:.0f} s")


def report(name: str, poller: Poller, start: float, end: float, extra: str) -> None:
    samples = poller.between(start, end + 10.0)
    bad = [
        (round(t - start, 1), code, status)
        for t, code, status, _, _ in samples
        if code != 200 or status != "ok"
    ]
    worst_lag = max((lag for *_, lag in samples), default=0.0)
    slowest = max((latency for *_, latency, _ in samples), default=0.0)
    print(
        f"{name}\n  {extra}\n  /healthz: {len(samples)} answers, slowest {slowest * 1000:.0f} ms, "
        f"worst event-loop lag {worst_lag:.0f} ms, not ok: {bad or 'none'}"
    )


async def main() -> int:
    token = uuid.uuid4().hex[:10]
    settings = get_settings().model_copy(
        update={
            "topic_prefix": f"lagbench{token}",
            "app_id": f"lagbenchapp{token}",
            "partitions": 2,
        }
    )
    ensure_topics(settings)
    print("preparing inputs (catalogs derived before any clock starts)...", flush=True)
    bomb = gzip_bomb(settings.max_decompressed_bytes + 64 * 1024 * 1024)
    retail_catalog, olist = online_retail_catalog(), olist_catalog()
    worker = await start_worker(settings, "lag-bench")
    poller = Poller(worker.url)
    polling = asyncio.ensure_future(poller.run())
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
            await asyncio.sleep(3.0)
            start = time.monotonic()
            await asyncio.sleep(3.0)
            report("idle (3 s)", poller, start, time.monotonic(), "no uploads")

            start = time.monotonic()
            code, body, took = await post_upload(session, worker.url, "bomb", bomb)
            report(
                f"gzip bomb: {len(bomb) / 2**20:.1f} MiB expanding past {settings.max_decompressed_bytes / 2**20:.0f} MiB",
                poller,
                start,
                time.monotonic(),
                f"answer {code} in {took * 1000:.0f} ms: {body.get('error', body)}",
            )
            await asyncio.sleep(10.0)  # let the lag window forget the previous phase

            for name, catalog, orders in (
                (
                    "full Online Retail history (541,909 rows) + derived catalog",
                    retail_catalog,
                    ("online_retail.csv.gz", ONLINE_RETAIL.read_bytes()),
                ),
                (
                    "Olist catalog (32,951 products) + order items history",
                    olist,
                    (
                        "olist_order_items_dataset.csv.gz",
                        (OLIST / "olist_order_items_dataset.csv.gz").read_bytes(),
                    ),
                ),
            ):
                start = time.monotonic()
                code, body, took = await post_upload(
                    session, worker.url, "big-" + uuid.uuid4().hex[:6], catalog, orders
                )
                answer = f"answer {code} in {took * 1000:.0f} ms"
                if code == 202:
                    done = await wait_done(session, worker.url, body["upload_id"])
                    answer += (
                        f"; bundle set {done['status']} ({done.get('bundles')} bundles, {done.get('error') or ''}) "
                        f"{time.monotonic() - start:.1f} s after the request"
                    )
                else:
                    answer += f": {body}"
                report(name, poller, start, time.monotonic(), answer)
                await asyncio.sleep(10.0)
    finally:
        poller.stop()
        await polling
        worker.stop()
        for prefix in (settings.topic_prefix, settings.app_id):
            try:
                delete_topics(settings, prefix)
            except Exception as exc:
                print(f"deleting {prefix}* failed: {exc}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
