"""Expansion limits, the upload deadline and /healthz against real workers, Kafka and Redis.

* a gzip bomb of valid rows is refused on the request path with 413 naming the limit, in seconds;
* an upload whose processing outlives a tiny ``upload_deadline_s`` ends in an error BundleSet and
  a dead letter naming the deadline, and the pool serves the next upload;
* /healthz stays ok (and answers promptly) while the full Online Retail history is processed.
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import orjson
import pytest

import topics as registry
from core.settings import Settings, get_settings
from models import BundleSet, DeadLetter
from tests.integration.harness import Worker, admin_headers, isolated_topics, read_topic
from tests.integration.hostile_files import gzip_bomb
from tests.shared_data import shared_data

ONLINE_RETAIL = shared_data("online_retail.csv.gz")
SHOPIFY = shared_data("shopify")
WAIT_S = 90.0
TINY_DEADLINE_S = 1.0


@pytest.fixture(scope="module")
def settings(stack, tmp_path_factory) -> Iterator[Settings]:
    with isolated_topics(get_settings(), tmp_path_factory.mktemp("stack"), partitions=2) as s:
        yield s


def _start(settings: Settings, name: str, **env: str) -> Worker:
    worker = Worker(settings, name=name, extra_env=env).start()
    asyncio.run(worker.wait_ready(timeout_s=90, min_partitions=1))
    return worker


@pytest.fixture(scope="module")
def worker(settings: Settings) -> Iterator[Worker]:
    w = _start(settings, "limits-worker")
    try:
        yield w
    finally:
        print(f"worker exit {w.stop()}; log tail:\n{w.log_tail(3000)}")


# --- data ----------------------------------------------------------------------------------------


def online_retail_catalog() -> bytes:
    """Online Retail ships no catalog: one generic product per StockCode, first description."""
    products: dict[str, tuple[str, str, str]] = {}
    with gzip.open(ONLINE_RETAIL, "rt", encoding="utf-8", errors="replace", newline="") as fh:
        for row in csv.DictReader(fh):
            sku, desc = row["StockCode"], row["Description"]
            try:
                price = float(row["UnitPrice"])
            except ValueError:
                continue
            if sku and desc and price > 0 and sku not in products:
                words = [w for w in desc.lower().split() if w.isalpha()]
                products[sku] = (desc.title(), words[-1] if words else "misc", f"{price:.2f}")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["product_id", "title", "category", "price"])
    writer.writerows([sku, *rest] for sku, rest in products.items())
    return buf.getvalue().encode()


# --- client helpers ---------------------------------------------------------------------------------


async def post_upload(
    worker: Worker,
    store: str,
    catalog: bytes,
    orders: bytes | None = None,
    orders_name: str = "orders.csv",
) -> tuple[int, dict, float]:
    form = aiohttp.FormData()
    form.add_field("store_id", store)
    form.add_field("catalog", catalog, filename="catalog.csv", content_type="text/csv")
    if orders is not None:
        form.add_field(
            "orders", orders, filename=orders_name, content_type="application/octet-stream"
        )
    started = time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        async with session.post(
            worker.url + "/api/v1/uploads", data=form, headers=admin_headers()
        ) as resp:
            return resp.status, await resp.json(content_type=None), time.monotonic() - started


async def health(worker: Worker) -> tuple[int, dict, float]:
    started = time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        async with session.get(worker.url + "/healthz", headers=admin_headers()) as resp:
            return resp.status, await resp.json(content_type=None), time.monotonic() - started


async def wait_bundle_set(settings: Settings, worker: Worker, upload_id: str) -> BundleSet:
    deadline = time.monotonic() + WAIT_S
    name = registry.BUNDLE_SETS.name(settings.topic_prefix)
    while time.monotonic() < deadline:
        assert worker.alive(), worker.log_tail()
        for record in await read_topic(settings, name):
            bundle_set = BundleSet.model_validate(orjson.loads(record.value))
            if bundle_set.upload_id == upload_id:
                return bundle_set
        await asyncio.sleep(0.3)
    raise TimeoutError(f"no bundle set for {upload_id}:\n{worker.log_tail()}")


async def dead_letters(settings: Settings) -> list[DeadLetter]:
    return [
        DeadLetter.model_validate(orjson.loads(r.value))
        for r in await read_topic(settings, registry.UPLOADS_DLQ.name(settings.topic_prefix))
    ]


# --- tests ------------------------------------------------------------------------------------------


def test_gzip_bomb_is_refused_with_413_naming_the_limit_within_seconds(
    settings: Settings, worker: Worker, tmp_path: Path
) -> None:
    limit = settings.max_decompressed_bytes
    bomb = gzip_bomb(tmp_path / "bomb.csv.gz", limit + 64 * 1024 * 1024).read_bytes()
    assert len(bomb) < settings.max_upload_bytes // 8  # small on the wire, huge once inflated

    async def run() -> None:
        status, body, seconds = await post_upload(worker, "bomb-" + uuid.uuid4().hex[:6], bomb)
        assert status == 413, body
        assert f"max_decompressed_bytes={limit}" in body["error"], body
        assert body["errors"][0]["limit"] == "max_decompressed_bytes"
        assert seconds < 15, seconds
        status, payload, _ = await health(worker)
        assert status == 200 and payload["status"] == "ok", payload

    asyncio.run(run())


def test_healthz_stays_ok_while_the_full_online_retail_history_is_processed(
    settings: Settings, worker: Worker
) -> None:
    catalog = online_retail_catalog()
    orders = ONLINE_RETAIL.read_bytes()

    async def run() -> None:
        status, body, _ = await post_upload(
            worker,
            "retail-" + uuid.uuid4().hex[:6],
            catalog,
            orders,
            orders_name="online_retail.csv.gz",
        )
        assert status == 202, body
        upload_id = body["upload_id"]
        pending = asyncio.ensure_future(wait_bundle_set(settings, worker, upload_id))
        answers: list[tuple[int, str, float]] = []
        while not pending.done():
            code, payload, seconds = await health(worker)
            answers.append((code, payload["status"], seconds))
            await asyncio.sleep(0.2)
        bundle_set = await pending
        assert bundle_set.status == "ok", bundle_set.error
        assert len(answers) >= 5, answers  # the upload took a while and health was asked throughout
        assert all(code == 200 and status == "ok" for code, status, _ in answers), answers
        assert max(seconds for *_, seconds in answers) < 2.0, answers
        _, payload, _ = await health(worker)
        print(
            "loop lag during the upload (max since start, ms):",
            payload["checks"]["loop_lag_max_ms"],
        )
        assert payload["checks"]["stalled_streams"] == []

    asyncio.run(run())


def test_an_upload_past_the_deadline_gets_an_error_set_and_a_dead_letter(
    isolated_settings: Settings,
) -> None:
    deadline_settings = (
        isolated_settings  # a worker of its own: the module's worker keeps the 20 s deadline
    )
    slow = _start(
        deadline_settings, "deadline-worker", BUNDLESTREAM_UPLOAD_DEADLINE_S=str(TINY_DEADLINE_S)
    )
    catalog = online_retail_catalog()

    async def run() -> None:
        store = "slow-" + uuid.uuid4().hex[:6]
        status, body, _ = await post_upload(
            slow, store, catalog, ONLINE_RETAIL.read_bytes(), orders_name="online_retail.csv.gz"
        )
        assert status == 202, body
        upload_id = body["upload_id"]
        started = time.monotonic()
        bundle_set = await wait_bundle_set(deadline_settings, slow, upload_id)
        assert bundle_set.status == "error"
        assert f"upload_deadline_s={TINY_DEADLINE_S:g}" in bundle_set.error, bundle_set.error
        assert time.monotonic() - started < 30
        letters = [
            d for d in await dead_letters(deadline_settings) if d.reason_code == "deadline_exceeded"
        ]
        assert letters and "upload_deadline_s" in letters[-1].reason
        assert letters[-1].errors == [{"limit": "upload_deadline_s", "value": TINY_DEADLINE_S}]
        # the killed child was replaced: a small upload right after still gets its bundles
        status, body, _ = await post_upload(
            slow,
            store,
            (SHOPIFY / "products_export.csv").read_bytes(),
            (SHOPIFY / "orders_export.csv").read_bytes(),
        )
        assert status == 202, body
        after = await wait_bundle_set(deadline_settings, slow, body["upload_id"])
        assert after.status == "ok", after.error
        code, payload, _ = await health(slow)
        assert code == 200 and payload["status"] == "ok", payload

    try:
        asyncio.run(run())
    finally:
        print(f"deadline worker exit {slow.stop()}; log tail:\n{slow.log_tail(3000)}")


def test_a_nested_multipart_part_is_refused_with_422_and_the_worker_keeps_serving(
    worker: Worker,
) -> None:
    async def run() -> None:
        inner = aiohttp.MultipartWriter("mixed")
        inner.append(b"product_id,title,price\np1,Mug,3.50\n", {"Content-Type": "text/csv"})
        outer = aiohttp.MultipartWriter("form-data")
        outer.append("nested-shop").set_content_disposition("form-data", name="store_id")
        outer.append(inner).set_content_disposition("form-data", name="catalog")
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            async with session.post(
                worker.url + "/api/v1/uploads", data=outer, headers=admin_headers()
            ) as resp:
                status, body = resp.status, await resp.json(content_type=None)
        assert status == 422, body
        assert "nested multipart" in body["error"]
        status, _, _ = await health(worker)
        assert status == 200

    asyncio.run(run())
