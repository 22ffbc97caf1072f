"""Write the committed sample payloads of every topic's value type (never edit them by hand).

    .venv/bin/python tests/data/payloads/generate.py

``v<SCHEMA_VERSION>/<Model>.jsonl``: records exactly as the current code writes them (one JSON
value per line), built by the real code paths from the real data in ``../shared/data``: order
histories through the ingest parsers, an upload of the Shopify sample exports through the
bundling engine, chat turns on the Olist catalog through the composite engine, bulk adds of the
options it offered, the default config, an API key record and the dead letter of a record from a newer worker.

``v0/``: the version 1 records without any ``schema_version`` field (the envelope before the
field existed, which is also what an external producer that omits it writes). Both are read by the current
models through ``models.upgrade``; the tests check that every committed sample still decodes.

When ``SCHEMA_VERSION`` goes up, run this again: it writes only the new ``v<n>/`` and leaves the
committed older directories as they are, which then are the "previous version" samples the new
upcasters must read. Timestamps that would be "now" are pinned so that reruns are stable; only
measured durations (``*_ms``) change between runs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import sys
from collections.abc import Iterable
from pathlib import Path

import orjson
from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

import topics
from bundling.budget import RollingCosts
from bundling.uploads import generate, parse_upload
from composite.bulk_add import InMemoryBundleStore, add_bulk
from composite.discovery import build_index
from composite.reply import handle_turn
from core.settings import get_settings
from ingest.olist import OlistCatalog, build_olist_catalog, load_categories
from ingest.orders import OrderStream
from ingest.uploads import build_upload_event, resolve_upload_file
from models import (
    SCHEMA_VERSION,
    AddBulkRequest,
    ApiKeyRecord,
    BundleAdded,
    BundleSet,
    ChatTurn,
    CompositeReply,
    ConfigDocument,
    DeadLetter,
    GenerationMetrics,
    OrderEvent,
    SessionState,
    UploadEvent,
)
from models.codec import Rejected, decode
from models.inventory import InventoryEvent
from security.keys import KEY_PREFIX, hash_key
from tests.shared_data import shared_data

DATA = shared_data()
OUT = Path(__file__).resolve().parent
NOW = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC)
# Enough orders for the orders agent to count per store and partition, small enough to commit.
ORDERS_PER_SOURCE = {"online_retail": 60, "olist": 40, "shopify": 1000}


def order_samples() -> list[OrderEvent]:
    """The first orders of three real histories, each its own store (so several partitions)."""
    olist = DATA / "olist"
    categories = load_categories(
        olist / "olist_products_dataset.csv.gz", olist / "product_category_name_translation.csv.gz"
    )
    sources = [
        (
            "online_retail",
            OrderStream(
                DATA / "online_retail.csv.gz", "online_retail", store_id="sample-online-retail"
            ),
        ),
        (
            "olist",
            OrderStream(
                olist / "olist_order_items_dataset.csv.gz",
                "olist",
                store_id="sample-olist",
                categories=categories,
            ),
        ),
        (
            "shopify",
            OrderStream(
                DATA / "shopify" / "orders_export.csv", "shopify_orders", store_id="sample-shopify"
            ),
        ),
    ]
    out: list[OrderEvent] = []
    for name, stream in sources:
        out.extend(itertools.islice(stream, ORDERS_PER_SOURCE[name]))
        stream.table.close()
    return out


def upload_samples() -> tuple[UploadEvent, list[BundleSet], list[GenerationMetrics]]:
    """The Shopify sample exports as one inline upload, and the engine's answer to it."""
    settings = get_settings()
    shopify = DATA / "shopify"
    upload = build_upload_event(
        "sample-shopify",
        shopify / "products_export.csv",
        None,
        shopify / "orders_export.csv",
        None,
        settings,
    )
    upload = upload.model_copy(
        update={"upload_id": "sample-upload-1", "submitted_at": NOW, "requested_by": "generate.py"}
    )
    parsed = parse_upload(upload, lambda f: resolve_upload_file(f, settings))
    bundle_set, _runs = generate(upload, parsed, {}, RollingCosts())
    metrics = bundle_set.metrics.model_copy(update={"created_at": NOW})
    bundle_set = bundle_set.model_copy(update={"metrics": metrics, "generated_at": NOW})
    return upload, [bundle_set], [metrics]


def olist_catalog() -> OlistCatalog:
    olist = DATA / "olist"
    return build_olist_catalog(
        olist / "olist_products_dataset.csv.gz",
        olist / "olist_order_items_dataset.csv.gz",
        olist / "olist_sellers_dataset.csv.gz",
        translation=olist / "product_category_name_translation.csv.gz",
    )


def chat_samples(catalog: OlistCatalog) -> tuple[list[ChatTurn], list[CompositeReply]]:
    """A composite session (probe, then options) and a category search, on the Olist catalog."""
    config = ConfigDocument(updated_at=NOW)
    index = build_index(catalog.products)
    script = [
        ("sample-session-1", "plan a date night"),
        ("sample-session-1", "saturday, budget $150, no dietary restrictions"),
        ("sample-session-2", "show me flowers under $50"),
    ]
    turns = [
        ChatTurn(
            turn_id=f"turn-{n}",
            session_id=session,
            store_id="sample-olist",
            user_id="shopper-1",
            text=text,
            sent_at=NOW + dt.timedelta(seconds=30 * n),
        )
        for n, (session, text) in enumerate(script, start=1)
    ]
    states: dict[str, SessionState] = {}
    replies = []
    for turn in turns:
        state, reply = asyncio.run(
            handle_turn(
                states.get(turn.session_id),
                turn,
                index,
                catalog.sold_counts,
                config,
                None,
                now=turn.sent_at,
            )
        )
        states[turn.session_id] = state
        replies.append(reply.model_copy(update={"created_at": turn.sent_at}))
    return turns, replies


def bundle_added_samples(catalog: OlistCatalog, reply: CompositeReply) -> list[BundleAdded]:
    """The shopper adds option A of a reply as a new bundle, then one more product to it."""
    by_id = {p.product_id: p for p in catalog.products}
    option = reply.options[0]
    extra = next(
        p.product_id
        for listing in reply.categories
        for p in listing.products
        if p.product_id not in option.product_ids
    )
    store = InMemoryBundleStore()
    first = add_bulk(
        AddBulkRequest(
            product_ids=option.product_ids,
            user_id="shopper-1",
            session_id=reply.session_id,
            option_label=option.label,
        ),
        by_id,
        store,
        store_id=reply.store_id,
        new_id=lambda: "sample-bundle-1",
        now=NOW,
    )
    second = add_bulk(
        AddBulkRequest(product_ids=[extra], bundle_id=first.bundle_id, user_id="shopper-1"),
        by_id,
        store,
        store_id=reply.store_id,
        now=NOW + dt.timedelta(minutes=1),
    )
    return [first.record, second.record]


def api_key_sample() -> ApiKeyRecord:
    """A store key record; the key itself is a fixed example string (only its hash is stored)."""
    key_id = "0123456789ab"
    full = f"{KEY_PREFIX}_{key_id}_sample-secret-never-used"
    return ApiKeyRecord(
        key_id=key_id,
        name="sample store key",
        scope="store:sample-shopify",
        key_hash=hash_key(full),
        created_at=NOW,
    )


def dead_letter_sample(order: OrderEvent) -> DeadLetter:
    """What the orders agent writes for a record from a newer worker: the real decode rejection."""
    raw = orjson.dumps({**order.model_dump(mode="json"), "schema_version": SCHEMA_VERSION + 1})
    rejected = decode(OrderEvent, raw)
    assert isinstance(rejected, Rejected), rejected
    letter = DeadLetter.for_record(
        topic="bundlestream.orders",
        partition=0,
        offset=0,
        key=order.store_id.encode(),
        value=raw,
        reason_code=rejected.reason_code,
        reason=rejected.reason,
        errors=rejected.errors,
    )
    return letter.model_copy(update={"failed_at": NOW})


def inventory_samples(bundle_sets: list[BundleSet]) -> list[InventoryEvent]:
    """A Shopify inventory_levels/update delivery and a store's own levels for bundle components."""
    from webhooks.inventory import inventory_from_json, inventory_from_shopify

    store = bundle_sets[0].store_id
    ids = sorted({p.product_id for bs in bundle_sets for b in bs.bundles for p in b.products})[:3]
    shopify = {
        "inventory_item_id": 271878346596884015,
        "location_id": 24826418,
        "available": 6,
        "updated_at": "2024-09-10T15:14:00-04:00",
    }
    levels = [
        {"product_id": pid, "available": i, "updated_at": NOW.isoformat()}
        for i, pid in enumerate(ids)
    ]
    return [inventory_from_shopify(shopify, store), inventory_from_json({"levels": levels}, store)]


def without_schema_version(value: object) -> object:
    """The pre-versioned envelope: every ``schema_version`` key removed, at every depth."""
    if isinstance(value, dict):
        return {k: without_schema_version(v) for k, v in value.items() if k != "schema_version"}
    if isinstance(value, list):
        return [without_schema_version(v) for v in value]
    return value


def write(directory: Path, model: type[BaseModel], lines: Iterable[bytes]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{model.__name__}.jsonl"
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def main() -> int:
    orders = order_samples()
    upload, bundle_sets, metrics = upload_samples()
    olist = olist_catalog()
    turns, replies = chat_samples(olist)
    samples: dict[type[BaseModel], list[BaseModel]] = {
        OrderEvent: orders,
        UploadEvent: [upload],
        ChatTurn: turns,
        ConfigDocument: [ConfigDocument(updated_by="generate.py", updated_at=NOW)],
        ApiKeyRecord: [api_key_sample()],
        BundleSet: bundle_sets,
        CompositeReply: replies,
        GenerationMetrics: metrics,
        DeadLetter: [dead_letter_sample(orders[0])],
        InventoryEvent: inventory_samples(bundle_sets),
    }
    samples[BundleAdded] = bundle_added_samples(olist, next(r for r in replies if r.options))
    missing = {spec.value.__name__ for spec in topics.ALL_TOPICS} - {m.__name__ for m in samples}
    if missing:
        print(f"no sample for {sorted(missing)}: add one to generate.py", file=sys.stderr)
        return 1
    current = OUT / f"v{SCHEMA_VERSION}"
    for model, records in samples.items():
        encoded = [r.to_bytes() for r in records]
        print(f"{write(current, model, encoded).relative_to(ROOT)}: {len(records)} records")
        if (
            SCHEMA_VERSION == 1
        ):  # v0 has version 1's fields; once v2 exists the committed v0 stays as it is
            pre = write(
                OUT / "v0",
                model,
                (orjson.dumps(without_schema_version(orjson.loads(e))) for e in encoded),
            )
            print(f"{pre.relative_to(ROOT)}: {len(records)} records")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
