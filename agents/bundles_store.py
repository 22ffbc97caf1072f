"""Bundles created by bulk add (docs/design.md, Composite flow): Redis-backed, atomic, plus attach
statistics.

Bundles live in Redis (one JSON value per bundle) because any worker's HTTP server may receive
the click: the add is an optimistic transaction (WATCH the bundle key, plan with the pure
``composite.bulk_add.plan_bulk_add``, MULTI/SET/EXEC, retry on a concurrent write), so two
concurrent adds to one bundle both land and each product is added once. Every successful add is
published to bundle-adds; the ``bundle-attach-stats`` agent folds those into a table of times
each (store, product) was added in a bundle, mirrored to Redis for readers. Per store only the
``attach_stats_max_per_store`` most-added products are kept (``popularity.retention.TopN``): an
evicted product is deleted from the table (tombstone) and from the Redis zset.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, cast

import orjson
from redis.exceptions import WatchError

from agents import redis_keys
from composite.bulk_add import BulkAddResult, plan_bulk_add
from models.catalog import Product
from models.chat import AddBulkRequest, BundleAdded
from models.codec import Decoded, decode
from models.common import utcnow
from popularity import key_of
from popularity.aggregate import SEP
from popularity.retention import TopN

from . import readmodel
from .app import app, settings
from .chat_topics import bundle_adds_topic
from .expiry import active_partitions, rebuild_flag, scan_table
from .tables import bundle_attach_stats

log = logging.getLogger(__name__)

MAX_TX_RETRIES = 20
BUNDLE_TTL_S = redis_keys.BUNDLE.ttl_s


class BundleConflict(Exception):
    """The bundle exists under another store (HTTP 409), or retries ran out under contention."""


def bundle_key(bundle_id: str) -> str:
    return readmodel.rkey("bundle", bundle_id)


def bundle_document(
    result: BulkAddResult,
    previous: dict[str, Any] | None,
    catalog: dict[str, Product],
    store_id: str,
    now: datetime,
) -> dict[str, Any]:
    """What GET /api/v1/bundles/{id} returns: every product with the name and price it was added at."""
    items = {i["product_id"]: i for i in (previous or {}).get("products", [])}
    for pid in result.bundle_product_ids:
        if pid not in items and pid in catalog:
            p = catalog[pid]
            items[pid] = {
                "product_id": pid,
                "name": p.title or pid,
                "price": p.price,
                "category": p.category,
            }
    products = [items[pid] for pid in result.bundle_product_ids if pid in items]
    return {
        "bundle_id": result.bundle_id,
        "store_id": store_id,
        "user_id": (previous or {}).get("user_id") or result.record.user_id,
        "product_ids": result.bundle_product_ids,
        "products": products,
        "total_price": result.response.total_price,
        "currency": result.response.currency,
        "created_at": (previous or {}).get("created_at") or now.isoformat(),
        "updated_at": now.isoformat(),
        "adds": int((previous or {}).get("adds", 0)) + 1,
    }


async def add_bulk(
    request: AddBulkRequest, catalog: dict[str, Product], store_id: str
) -> BulkAddResult:
    """Create or extend the bundle atomically; raises UnknownProductsError / BundleConflict."""
    r = readmodel.redis_client()
    for _ in range(MAX_TX_RETRIES):
        async with r.pipeline(transaction=True) as pipe:
            try:
                previous: dict[str, Any] | None = None
                if request.bundle_id:
                    await pipe.watch(bundle_key(request.bundle_id))
                    raw = await pipe.get(bundle_key(request.bundle_id))
                    previous = orjson.loads(raw) if raw else None
                    if previous is not None and previous.get("store_id") != store_id:
                        raise BundleConflict(
                            f"bundle {request.bundle_id} belongs to store {previous.get('store_id')!r}, not {store_id!r}"
                        )
                now = utcnow()
                result = plan_bulk_add(
                    request,
                    catalog,
                    previous["product_ids"] if previous else None,
                    store_id=store_id,
                    now=now,
                )
                doc = bundle_document(result, previous, catalog, store_id, now)
                if not request.bundle_id:
                    # a fresh uuid: SET NX guards the (theoretical) collision without a WATCH
                    if await r.set(
                        bundle_key(result.bundle_id), orjson.dumps(doc), nx=True, ex=BUNDLE_TTL_S
                    ):
                        return result
                    continue
                pipe.multi()
                pipe.set(bundle_key(result.bundle_id), orjson.dumps(doc), ex=BUNDLE_TTL_S)
                await pipe.execute()
                return result
            except WatchError:
                continue
    raise BundleConflict(f"bundle {request.bundle_id} is being changed concurrently; retry")


async def read_bundle(bundle_id: str) -> dict[str, Any] | None:
    raw = await readmodel.redis_client().get(bundle_key(bundle_id))
    return orjson.loads(raw) if raw else None


async def publish_added(record: BundleAdded) -> None:
    await bundle_adds_topic.send(key=record.bundle_id.encode(), value=record.to_bytes(), force=True)


async def session_store(session_id: str) -> str | None:
    """The store a chat session talks to (written by the chat agent with every reply)."""
    # redis-py types replies as bytes | str; this client decodes them (decode_responses=True)
    return cast(
        str | None,
        await readmodel.redis_client().get(readmodel.rkey("session-store", session_id)),
    )


# ---- attach statistics -----------------------------------------------------------------------


def store_key(value: bytes) -> bytes:
    """Repartition key: bundle-adds is keyed by bundle_id, the stats by store (one writer per store)."""
    try:
        store = orjson.loads(value).get("store_id")
    except (orjson.JSONDecodeError, AttributeError, TypeError):
        store = None
    return (store if isinstance(store, str) and store else "_invalid").encode()


attach_top = TopN(settings.attach_stats_max_per_store)
_attach_flag = rebuild_flag()


async def rebuild_attach_index() -> None:
    """Reload the per-store counts from the table (after a restart or a rebalance)."""
    attach_top.clear()
    async for chunk in scan_table(bundle_attach_stats):
        for key, count in chunk:
            store, _, product = key.partition(SEP)
            if product and isinstance(count, int):
                attach_top.load(store, product, count)
    _attach_flag.rebuilt(active_partitions(bundle_attach_stats))
    log.info("attach statistics index rebuilt: %d products", attach_top.size())


async def count_attach(added: BundleAdded) -> None:
    """Count each product of the add once, keep the top N per store (table and Redis)."""
    counts: dict[str, int] = {}
    evicted: list[str] = []
    for pid in dict.fromkeys(added.product_ids):
        count, out = attach_top.increment(added.store_id, pid)
        counts[pid] = count
        evicted.extend(out)
    kept = attach_top.members(added.store_id)
    evicted = [pid for pid in dict.fromkeys(evicted) if pid not in kept]  # (N smaller than one add)
    counts = {pid: count for pid, count in counts.items() if pid in kept}
    for pid in evicted:
        key = key_of(added.store_id, pid)
        if key in bundle_attach_stats:
            del bundle_attach_stats[key]  # a table delete: a tombstone on the changelog
    for pid, count in counts.items():
        bundle_attach_stats[key_of(added.store_id, pid)] = count
    # never raises or waits for an unavailable Redis: the catch-up rewrites it from the table
    await readmodel.write_attach_counts(
        added.store_id, counts, evicted, settings.attach_stats_max_per_store
    )


@app.agent(bundle_adds_topic, name="bundle-attach-stats")
async def attach_stats_agent(stream) -> None:
    async for event in stream.group_by(store_key, name="by-store").events():
        result = decode(BundleAdded, event.message.value)
        if not isinstance(result, Decoded):
            log.warning("bundle-adds record not a BundleAdded: %s", result.reason)
            continue
        if _attach_flag.needs_rebuild(active_partitions(bundle_attach_stats)):
            await rebuild_attach_index()
        await count_attach(result.value)


async def read_attach_stats(store_id: str, limit: int) -> list[dict[str, Any]]:
    # withscores: (member, score) pairs, members decoded to str by the client
    top = cast(
        list[tuple[str, float]],
        await readmodel.redis_client().zrevrange(
            readmodel.rkey("attach", store_id), 0, limit - 1, withscores=True
        ),
    )
    return [{"product_id": pid, "times_added": int(n)} for pid, n in top]
