"""Uploads end to end through the real broker, Redis and a worker subprocess.

One worker serves the whole module (its own topic prefix and app id); every test uses its own
store ids, so tests do not see each other's tallies or bundle sets. Waits are bounded; a missing
answer fails with the worker's log tail.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import gzip
import io
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import aiohttp
import orjson
import pytest
import redis

import topics as registry
from core.settings import Settings, get_settings
from models import BundleSet, DeadLetter, GenerationMetrics, OrderEvent, UploadEvent, UploadFile
from tests.integration.harness import (
    Worker,
    admin_headers,
    changelog_topic,
    isolated_topics,
    produce_orders,
    produce_raw,
    read_topic,
    ready_worker,
    redis_counts,
)
from tests.shared_data import shared_data

SHOPIFY = shared_data("shopify")
ONLINE_RETAIL = shared_data("online_retail.csv.gz")
MAX_UPLOAD = 2 * 1024 * 1024
WAIT_S = 60.0

GENERIC_CATALOG_HEADER = [
    "product_id",
    "title",
    "category",
    "tags",
    "description",
    "price",
    "cost",
    "inventory",
    "created_at",
]


async def read_table(settings: Settings, table: str) -> dict:
    """Latest value per key by record timestamp: rolling-cost keys are global (not per store), so
    uploads of different stores write the same key to different changelog partitions."""
    latest: dict = {}
    for record in sorted(
        await read_topic(settings, changelog_topic(settings, table)), key=lambda r: r.timestamp
    ):
        key = orjson.loads(record.key)
        if record.value is None:
            latest.pop(key, None)
        else:
            latest[key] = orjson.loads(record.value)
    return latest


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def settings(stack, tmp_path_factory) -> Iterator[Settings]:
    with isolated_topics(
        get_settings(), tmp_path_factory.mktemp("stack"), partitions=4, max_upload_bytes=MAX_UPLOAD
    ) as s:
        yield s


@pytest.fixture(scope="module")
def worker(settings: Settings) -> Iterator[Worker]:
    with ready_worker(settings, "uploads-worker") as w:
        yield w


@pytest.fixture
def rds(settings: Settings) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    yield client
    client.close()


# --- data ----------------------------------------------------------------------------------------


def csv_text(header: list[str], rows: list[list[object]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def online_retail_slice(invoices: int, country: str = "France") -> tuple[str, str, int]:
    """A real store: the first ``invoices`` non-cancelled invoices of one Online Retail country,
    as generic catalog and orders CSVs (category from the description's last word)."""
    products: dict[str, list[object]] = {}
    order_rows: list[list[object]] = []
    seen: list[str] = []
    with gzip.open(ONLINE_RETAIL, "rt", encoding="utf-8", errors="replace", newline="") as fh:
        for row in csv.DictReader(fh):
            inv = row["InvoiceNo"]
            if row["Country"] != country or inv.startswith(("C", "A")):
                continue
            try:
                qty, price = int(row["Quantity"]), float(row["UnitPrice"])
            except ValueError:
                continue
            if qty <= 0 or price <= 0 or not row["Description"]:
                continue
            if inv not in seen:
                if len(seen) >= invoices:
                    break
                seen.append(inv)
            sku = row["StockCode"]
            words = [w for w in row["Description"].lower().split() if w.isalpha()]
            category = words[-1] if words else "misc"
            products.setdefault(
                sku,
                [
                    sku,
                    row["Description"].title(),
                    category,
                    category,
                    row["Description"],
                    price,
                    round(price * 0.55, 2),
                    100,
                    "2010-11-01T00:00:00",
                ],
            )
            when = (
                datetime.strptime(row["InvoiceDate"], "%m/%d/%Y %H:%M")
                if "/" in row["InvoiceDate"]
                else datetime.fromisoformat(row["InvoiceDate"])
            )
            order_rows.append([inv, sku, qty, price, when.replace(tzinfo=UTC).isoformat()])
    return (
        csv_text(GENERIC_CATALOG_HEADER, list(products.values())),
        csv_text(["order_id", "product_id", "quantity", "price", "created_at"], order_rows),
        len(seen),
    )


MUG_WORDS = [
    "stoneware",
    "porcelain",
    "enamel",
    "glass",
    "bamboo",
    "ceramic",
    "travel",
    "espresso",
    "latte",
    "tea",
    "camping",
    "insulated",
]
TEA_WORDS = ["green", "black", "oolong", "white", "herbal", "rooibos", "chai", "mint"]


def cold_catalog(prefix: str = "") -> str:
    rows: list[list[object]] = []
    for i, w in enumerate(MUG_WORDS):
        rows.append(
            [
                f"{prefix}mug-{i}",
                f"{w.title()} Mug",
                "mugs",
                f"mug, {w}, kitchen",
                f"A {w} mug for coffee and tea, dishwasher safe",
                12 + 3 * i,
                4 + i,
                20,
                "2024-05-01T00:00:00",
            ]
        )
    for i, w in enumerate(TEA_WORDS):
        rows.append(
            [
                f"{prefix}tea-{i}",
                f"{w.title()} Tea",
                "tea",
                f"tea, {w}, loose leaf",
                f"Loose leaf {w} tea, 100 g tin, brew in a mug",
                9 + 2 * i,
                3 + i * 0.5,
                50,
                "2024-05-01T00:00:00",
            ]
        )
    for i, w in enumerate(["oak", "walnut", "maple", "cherry"]):
        rows.append(
            [
                f"{prefix}coaster-{i}",
                f"{w.title()} Coaster Set",
                "coasters",
                f"coaster, {w}",
                f"Four {w} wood coasters for mugs and cups",
                15 + i,
                5,
                30,
                "2024-05-01T00:00:00",
            ]
        )
    return csv_text(GENERIC_CATALOG_HEADER, rows)


def few_orders(n: int, prefix: str = "") -> str:
    base = datetime(2024, 6, 1, tzinfo=UTC)
    rows = []
    for i in range(n):
        rows.append(
            [
                f"o{i}",
                f"{prefix}mug-{i % 3}",
                1,
                12 + 3 * (i % 3),
                (base + timedelta(days=i)).isoformat(),
            ]
        )
        rows.append(
            [
                f"o{i}",
                f"{prefix}tea-{i % 2}",
                2,
                9 + 2 * (i % 2),
                (base + timedelta(days=i)).isoformat(),
            ]
        )
    return csv_text(["order_id", "product_id", "quantity", "price", "created_at"], rows)


# --- client helpers ---------------------------------------------------------------------------------


async def post_upload(
    worker: Worker,
    store: str,
    catalog: bytes | str | None,
    orders: bytes | str | None = None,
    **fields: str,
) -> tuple[int, dict]:
    form = aiohttp.FormData()
    form.add_field("store_id", store)
    for k, v in fields.items():
        form.add_field(k, v)
    if catalog is not None:
        form.add_field(
            "catalog",
            catalog.encode() if isinstance(catalog, str) else catalog,
            filename="catalog.csv",
            content_type="text/csv",
        )
    if orders is not None:
        form.add_field(
            "orders",
            orders.encode() if isinstance(orders, str) else orders,
            filename="orders.csv",
            content_type="text/csv",
        )
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        async with session.post(
            worker.url + "/api/v1/uploads", data=form, headers=admin_headers()
        ) as resp:
            return resp.status, await resp.json(content_type=None)


async def http_get(worker: Worker, path: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        async with session.get(worker.url + path, headers=admin_headers()) as resp:
            return resp.status, await resp.json(content_type=None)


async def wait_read_model(
    worker: Worker, path: str, upload_id: str, timeout_s: float = WAIT_S
) -> tuple[int, dict]:
    """GET ``path`` until it answers with ``upload_id`` (bounded). A freshly started worker holds
    its read-model writes until its first pass over the tables (``redis_resync_interval_s``),
    so the topic record can be out before Redis has it."""
    deadline = time.monotonic() + timeout_s
    status, body = await http_get(worker, path)
    while time.monotonic() < deadline and not (
        status == 200 and body.get("upload_id") == upload_id
    ):
        await asyncio.sleep(0.2)
        status, body = await http_get(worker, path)
    return status, body


def topic(settings: Settings, spec: registry.TopicSpec) -> str:
    return spec.name(settings.topic_prefix)


async def bundle_sets(settings: Settings) -> dict[str, BundleSet]:
    return {
        bs.upload_id: bs
        for bs in (
            BundleSet.model_validate(orjson.loads(r.value))
            for r in await read_topic(settings, topic(settings, registry.BUNDLE_SETS))
        )
    }


async def wait_bundle_sets(
    settings: Settings, worker: Worker, upload_ids: list[str], timeout_s: float = WAIT_S
) -> dict[str, BundleSet]:
    """Until every upload id has its BundleSet on the bundle-sets topic (bounded)."""
    deadline = time.monotonic() + timeout_s
    found: dict[str, BundleSet] = {}
    while time.monotonic() < deadline:
        if not worker.alive():
            raise RuntimeError(f"worker died:\n{worker.log_tail()}")
        found = await bundle_sets(settings)
        if all(u in found for u in upload_ids):
            return {u: found[u] for u in upload_ids}
        await asyncio.sleep(0.3)
    missing = [u for u in upload_ids if u not in found]
    raise TimeoutError(f"no bundle set for {missing} after {timeout_s:.0f} s:\n{worker.log_tail()}")


async def upload_dead_letters(settings: Settings) -> list[DeadLetter]:
    return [
        DeadLetter.model_validate(orjson.loads(r.value))
        for r in await read_topic(settings, topic(settings, registry.UPLOADS_DLQ))
    ]


def inline_event(
    store: str,
    catalog: str,
    orders: str | None = None,
    upload_id: str | None = None,
    catalog_format: str = "generic",
    orders_format: str = "generic",
) -> UploadEvent:
    files = [
        UploadFile(
            kind="catalog", format=catalog_format, filename="catalog.csv", inline_text=catalog
        )
    ]
    if orders is not None:
        files.append(
            UploadFile(
                kind="orders", format=orders_format, filename="orders.csv", inline_text=orders
            )
        )
    return UploadEvent(upload_id=upload_id or uuid.uuid4().hex, store_id=store, files=files)


async def publish(settings: Settings, *events: UploadEvent) -> None:
    await produce_raw(
        settings,
        [(e.store_id.encode(), e.to_bytes()) for e in events],
        topic=topic(settings, registry.UPLOADS),
    )


def assert_valid_bundles(bs: BundleSet, catalog_ids: set[str]) -> None:
    assert bs.status == "ok", bs.error
    assert 1 <= len(bs.bundles) <= 10
    for b in bs.bundles:
        ids = [p.product_id for p in b.products]
        assert set(ids) <= catalog_ids, ids
        assert len(ids) == len(set(ids))
        assert b.pricing.bundle_price <= b.pricing.list_price + 1e-6


# --- tests ---------------------------------------------------------------------------------------------


def test_shopify_samples_via_http_end_as_a_bundle_set_on_the_topic_in_redis_and_via_get(
    settings: Settings, worker: Worker, rds: redis.Redis
) -> None:
    async def run() -> None:
        store = "shop-" + uuid.uuid4().hex[:6]
        status, body = await post_upload(
            worker,
            store,
            (SHOPIFY / "products_export.csv").read_bytes(),
            (SHOPIFY / "orders_export.csv").read_bytes(),
        )
        assert status == 202, body
        upload_id = body["upload_id"]
        bs = (await wait_bundle_sets(settings, worker, [upload_id]))[upload_id]
        assert bs.store_id == store
        assert bs.status == "ok", bs.error
        assert bs.bundles, bs.metrics.model_dump()
        assert bs.metrics.catalog_size > 0
        status, latest = await wait_read_model(worker, f"/api/v1/stores/{store}/bundles", upload_id)
        assert status == 200 and latest["upload_id"] == upload_id
        assert BundleSet.model_validate(latest) == bs
        assert (
            orjson.loads(rds.get(f"{settings.topic_prefix}:bundles:{store}"))["upload_id"]
            == upload_id
        )
        status, up = await http_get(worker, f"/api/v1/uploads/{upload_id}")
        assert status == 200 and up["status"] == "done" and up["bundles"] == len(bs.bundles)
        metrics = [
            GenerationMetrics.model_validate(orjson.loads(r.value))
            for r in await read_topic(settings, topic(settings, registry.GENERATION_METRICS))
        ]
        assert any(m.csv_upload_id == upload_id for m in metrics)
        summary = orjson.loads(rds.get(f"{settings.topic_prefix}:catalog:{store}"))
        assert (
            summary["summary"]["upload_id"] == upload_id
            and summary["summary"]["products"] == bs.metrics.catalog_size
        )
        status, _ = await http_get(worker, "/api/v1/stores/nobody-here/bundles")
        assert status == 404

    asyncio.run(run())


def test_generic_csv_store_gets_mined_bundles(settings: Settings, worker: Worker) -> None:
    async def run() -> None:
        catalog, orders, invoices = online_retail_slice(300)
        assert invoices == 300
        store = "fr-" + uuid.uuid4().hex[:6]
        status, body = await post_upload(worker, store, catalog, orders)
        assert status == 202, body
        bs = (await wait_bundle_sets(settings, worker, [body["upload_id"]]))[body["upload_id"]]
        ids = {row[0] for row in csv.reader(io.StringIO(catalog))} - {"product_id"}
        assert_valid_bundles(bs, ids)
        assert not bs.metrics.cold_start and bs.metrics.transactions == 300
        assert bs.metrics.combos_evaluated, "a store with history runs combos"
        assert (
            any(b.support is not None for b in bs.bundles)
            or bs.metrics.policy_gates.total_candidates > 0
        )

    asyncio.run(run())


@pytest.mark.parametrize("orders", [0, 5])
def test_cold_start_with_few_orders_yields_cold_start_bundles(
    settings: Settings, worker: Worker, orders: int
) -> None:
    async def run() -> None:
        store = f"cold{orders}-" + uuid.uuid4().hex[:6]
        event = inline_event(store, cold_catalog(), few_orders(orders) if orders else None)
        await publish(settings, event)
        bs = (await wait_bundle_sets(settings, worker, [event.upload_id]))[event.upload_id]
        ids = {row[0] for row in csv.reader(io.StringIO(cold_catalog()))} - {"product_id"}
        assert_valid_bundles(bs, ids)
        assert bs.metrics.cold_start and bs.metrics.transactions == orders
        assert 1 <= len(bs.bundles) <= 4
        assert all(b.cold_start for b in bs.bundles)

    asyncio.run(run())


def test_rolling_cost_table_is_written_and_the_next_upload_sees_it(
    settings: Settings, worker: Worker
) -> None:
    async def run() -> None:
        catalog, orders, _ = online_retail_slice(150, country="Germany")
        store = "roll-" + uuid.uuid4().hex[:6]
        first = inline_event(store, catalog, orders)
        await publish(settings, first)
        a = (await wait_bundle_sets(settings, worker, [first.upload_id]))[first.upload_id]
        assert a.status == "ok" and a.metrics.combos_evaluated
        second = inline_event(store, catalog, orders)
        await publish(settings, second)
        b = (await wait_bundle_sets(settings, worker, [second.upload_id]))[second.upload_id]
        assert a.metrics.time_budget and b.metrics.time_budget
        # the second upload's cost per combo is the rolling mean that now includes the first's runs
        assert (
            b.metrics.time_budget.rolling_cost_per_combo_ms
            != a.metrics.time_budget.rolling_cost_per_combo_ms
        )
        table = (await read_table(settings, "rolling-costs"))[store]  # one record per store
        combos_b = {(r.objective, r.type) for r in b.metrics.combos_evaluated}
        for run_ in a.metrics.combos_evaluated:  # both uploads' combos are in the store's record
            key = f"{run_.objective.value}:{run_.type.value}"
            expected = 2 if (run_.objective, run_.type) in combos_b else 1
            combo = table["combos"][key]
            assert combo["runs"] == expected, (key, table)
            assert len(combo["recent"]) == min(50, combo["runs"]), (key, combo)
        recent = table["recent"]
        window = recent[-len(b.metrics.combos_evaluated) :]
        assert window == pytest.approx([r.duration_ms for r in b.metrics.combos_evaluated])

    asyncio.run(run())


def test_live_category_tallies_lower_alpha(settings: Settings, worker: Worker) -> None:
    """1000 orders touching 'mugs' published BEFORE the upload: alpha for mug-anchored bundles
    drops from 0.6/(1+e^-3) ~ 0.57 to 0.6/(1+e^7) ~ 0.0005; a control store keeps ~0.57."""

    async def run() -> None:
        mature, control = "mature-" + uuid.uuid4().hex[:6], "control-" + uuid.uuid4().hex[:6]
        base = datetime(2024, 1, 1, tzinfo=UTC)
        history = [
            OrderEvent.model_validate(
                {
                    "order_id": f"h{i}",
                    "store_id": mature,
                    "created_at": (base + timedelta(minutes=i)).isoformat(),
                    "lines": [
                        {
                            "product_id": f"mug-{i % 12}",
                            "quantity": 1,
                            "price": 12.0,
                            "category": "mugs",
                        }
                    ],
                }
            )
            for i in range(1000)
        ]
        await produce_orders(settings, history)
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            _, cats = await redis_counts(settings, [mature])
            if cats.get((mature, "mugs")) == 1000:
                break
            await asyncio.sleep(0.3)
        else:
            raise TimeoutError(f"tallies not live: {cats}\n{worker.log_tail()}")
        ev_m, ev_c = inline_event(mature, cold_catalog()), inline_event(control, cold_catalog())
        await publish(settings, ev_m, ev_c)
        sets = await wait_bundle_sets(settings, worker, [ev_m.upload_id, ev_c.upload_id])
        mug_m = [
            b for b in sets[ev_m.upload_id].bundles if b.score_components.anchor_category == "mugs"
        ]
        mug_c = [
            b for b in sets[ev_c.upload_id].bundles if b.score_components.anchor_category == "mugs"
        ]
        assert mug_m and mug_c, (sets[ev_m.upload_id].bundles, sets[ev_c.upload_id].bundles)
        for b in mug_m:
            assert b.score_components.anchor_category_transactions == 1000
            assert b.score_components.alpha < 0.6 and b.score_components.alpha < 0.01
            assert b.score_components.beta == pytest.approx(0.8 - b.score_components.alpha)
        for b in mug_c:
            assert b.score_components.alpha > 0.55

    asyncio.run(run())


def test_malformed_and_hostile_uploads_end_as_4xx_or_dlq_and_error_set_nothing_lost(
    settings: Settings, worker: Worker
) -> None:
    async def run() -> None:
        store = "hostile-" + uuid.uuid4().hex[:6]
        good_orders = few_orders(3)
        # --- HTTP: refused before any topic ---------------------------------------------------
        refusals = {
            "missing columns": (csv_text(["product_id", "colour"], [["a", "red"]]), 422),
            "non-CSV bytes": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 40, 422),
            "huge file": ("product_id,title,price\n" + "x,y,1\n" * (MAX_UPLOAD // 6 + 10), 413),
        }
        dlq_before = len(await upload_dead_letters(settings))
        for what, (catalog, expected) in refusals.items():
            status, body = await post_upload(worker, store, catalog, good_orders)
            assert status == expected, (what, status, body)
            assert body.get("error"), (what, body)
        status, body = await post_upload(worker, store, None, good_orders)
        assert status == 422 and "catalog" in body["error"]
        status, body = await post_upload(
            worker, store, cold_catalog(), csv_text(["when", "what"], [["x", "y"]])
        )
        assert status == 422 and "orders" in body["error"], body
        # --- bad rows and formula cells: accepted, bad rows counted with line numbers -------------
        hostile = cold_catalog().rstrip("\n").split("\n")
        hostile.append(
            "bad-1,Broken,mugs,x,y,-5,1,3,2024-05-01T00:00:00"
        )  # negative price (line 26)
        hostile.append(
            "bad-2,Broken,mugs,x,y,twelve,1,3,2024-05-01T00:00:00"
        )  # wrong type (line 27)
        hostile.append(
            'evil-1,"=HYPERLINK(""http://evil"")",mugs,"@SUM(1)",+cmd,14,5,9,2024-05-01T00:00:00'
        )
        status, body = await post_upload(worker, store, "\n".join(hostile) + "\n", good_orders)
        assert status == 202, body
        mixed_id = body["upload_id"]
        # --- unusable uploads straight onto the topic (what a buggy producer could send) -------------
        all_bad = inline_event(
            store,
            csv_text(
                GENERIC_CATALOG_HEADER,
                [
                    ["n1", "Neg", "mugs", "", "", -1, 1, 1, ""],
                    ["n2", "Nan", "mugs", "", "", "abc", 1, 1, ""],
                ],
            ),
        )
        no_cols = inline_event(store, csv_text(["sku", "name"], [["a", "b"]]))
        outside = UploadEvent(
            upload_id=uuid.uuid4().hex,
            store_id=store,
            files=[UploadFile(kind="catalog", format="generic", uri="file:///etc/passwd")],
        )
        binary = inline_event(store, "\x00\x01\x02 not a csv \x00\n")
        await publish(settings, all_bad, no_cols, outside, binary)
        await produce_raw(
            settings,
            [
                (store.encode(), b"{not json"),
                (store.encode(), b'{"store_id": "x"}'),
                (store.encode(), b""),
            ],
            topic=topic(settings, registry.UPLOADS),
        )
        unusable = [all_bad.upload_id, no_cols.upload_id, outside.upload_id, binary.upload_id]
        sets = await wait_bundle_sets(settings, worker, [mixed_id, *unusable])
        mixed = sets[mixed_id]
        assert mixed.status == "ok", mixed.error
        assert mixed.metrics.bad_row_count >= 2
        lines = {r.line for r in mixed.metrics.bad_rows}
        assert {len(hostile) - 2, len(hostile) - 1} <= lines, mixed.metrics.bad_rows
        for b in mixed.bundles:
            for p in b.products:
                assert not p.title.startswith(("=", "+", "-", "@")), p.title
                assert p.product_id not in {"bad-1", "bad-2"}
        for uid in unusable:
            assert sets[uid].status == "error" and sets[uid].error and not sets[uid].bundles, sets[
                uid
            ]
        assert (
            "price" in sets[no_cols.upload_id].error or "missing" in sets[no_cols.upload_id].error
        )
        assert (
            "upload store" in sets[outside.upload_id].error
            or "outside" in sets[outside.upload_id].error
        )
        # dead letters: 4 unusable + 3 undecodable/invalid, exactly; nothing lost, nothing doubled
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            letters = (await upload_dead_letters(settings))[dlq_before:]
            if len(letters) >= 7:
                break
            await asyncio.sleep(0.3)
        codes = sorted(dl.reason_code for dl in letters)
        assert codes == sorted(
            ["unusable_upload"] * 4 + ["undecodable", "invalid_schema", "undecodable"]
        ), codes
        # inputs vs outputs: every record on the uploads topic is a bundle set, a dead letter or both
        inputs = [
            r
            for r in await read_topic(settings, topic(settings, registry.UPLOADS))
            if r.key == store.encode()
        ]
        decoded_ids = set()
        for r in inputs:
            with contextlib.suppress(Exception):
                decoded_ids.add(UploadEvent.model_validate(orjson.loads(r.value)).upload_id)
        all_sets = await bundle_sets(settings)
        assert decoded_ids <= set(all_sets), decoded_ids - set(all_sets)
        assert len(inputs) == len(decoded_ids) + 3
        assert len([s for s in all_sets.values() if s.store_id == store]) == len(decoded_ids)

    asyncio.run(run())


def test_upload_by_reference_and_embedding_cache_in_redis(
    settings: Settings, worker: Worker, rds: redis.Redis
) -> None:
    """A catalog above inline_upload_bytes travels by URI; embeddings land in Redis by hash."""

    async def run() -> None:
        catalog, orders, _ = online_retail_slice(400, country="United Kingdom")
        assert len(catalog.encode()) + len(orders.encode()) > 0
        store = "ref-" + uuid.uuid4().hex[:6]
        padded = catalog + "".join(
            f"pad-{i},Pad {i},padding,,{'x' * 200},1.0,0.5,0,\n" for i in range(1400)
        )
        assert len(padded.encode()) > settings.inline_upload_bytes
        status, body = await post_upload(worker, store, padded, orders)
        assert status == 202, body
        assert any(f["by_reference"] for f in body["files"]), body
        bs = (await wait_bundle_sets(settings, worker, [body["upload_id"]]))[body["upload_id"]]
        assert bs.status == "ok", bs.error
        cold = inline_event("emb-" + uuid.uuid4().hex[:6], cold_catalog("e"))
        await publish(settings, cold)
        await wait_bundle_sets(settings, worker, [cold.upload_id])
        keys = list(rds.scan_iter(f"{settings.topic_prefix}:emb:*", count=1000))
        assert keys, "cold start embeddings are cached in Redis"

    asyncio.run(run())
