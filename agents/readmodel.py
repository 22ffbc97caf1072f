"""Redis read model: what HTTP readers see, written by agents, rebuilt from the tables.

Agents write absolute values (not increments), so a replayed batch rewrites the same numbers and
readers on any worker see the same answer regardless of which worker owns the store's partition.

Redis is not the truth. Every call has a short timeout (``redis_timeout_s``); an HTTP reader
whose call fails answers 503 ``redis_unavailable`` (``agents.http.common``). An agent whose
read-model write fails neither crashes nor waits: it notes the stores it touched and goes on
counting into its tables, and ``keep_read_model_current`` rewrites the read model of every store
this worker owns from the tables once Redis answers again. A worker also starts in that state,
so a restart during an outage needs no manual step either. Product titles and categories come
from the order lines, not from the count tables, so the orders agent keeps them in the
``product-labels`` table (written only when a product is new or renamed) for that rebuild.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis.asyncio as aioredis
from aiokafka.partitioner import murmur2
from faust.types import EventT
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from agents import redis_keys
from popularity import PopularityUpdates, split_key
from popularity.readmodel_plan import (
    ReadModelState,
    StoreWrites,
    attach_counts,
    chunks,
    label_changes,
    popularity_writes,
    rebuild_updates,
)

from .app import app, settings
from .batching import as_current_event
from .tables import bundle_attach_stats, category_transactions, sold_counts, store_orders

log = logging.getLogger(__name__)

# Errors that mean "Redis is not answering" (as opposed to a bug such as a wrong command).
UNAVAILABLE: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError, OSError)
STORES_PER_PASS_CHUNK = 200

_client: aioredis.Redis | None = None


def client_options() -> dict[str, Any]:
    """Short timeouts and one immediate retry (a pooled connection may have died with a restarted
    Redis); a call therefore gives up after about 2 x ``redis_timeout_s``, never hangs."""
    return {
        "socket_timeout": settings.redis_timeout_s,
        "socket_connect_timeout": settings.redis_timeout_s,
        "retry": Retry(NoBackoff(), 1),
    }


def url_with_timeouts() -> str:
    """``redis_url`` carrying the timeouts, for clients built elsewhere (the upload pool's children)."""
    parts = urlsplit(settings.redis_url)
    query = dict(parse_qsl(parts.query))
    query.setdefault("socket_timeout", str(settings.redis_timeout_s))
    query.setdefault("socket_connect_timeout", str(settings.redis_timeout_s))
    return urlunsplit(parts._replace(query=urlencode(query)))


def redis_client() -> aioredis.Redis:
    global _client
    if _client is None:
        _client = aioredis.from_url(settings.redis_url, decode_responses=True, **client_options())
    return _client


def rkey(family: str | redis_keys.RedisKey, *parts: str) -> str:
    """A key of a registered family (``agents.redis_keys``); an unregistered one raises."""
    spec = family if isinstance(family, redis_keys.RedisKey) else redis_keys.spec_named(family)
    return spec.key(settings.topic_prefix, *parts)


def family_prefix(spec: redis_keys.RedisKey) -> str:
    """``<prefix>:<name>`` for a writer that appends its own last part (the embedding cache)."""
    return f"{settings.topic_prefix}:{spec.name}"


# ---- outage bookkeeping --------------------------------------------------------------------

state = ReadModelState(pending_max=settings.redis_pending_writes_max)
# Agents' read-model writes and the catch-up pass go through this lock, so a pass that read a
# table value never lands after a newer value an agent wrote.
_write_lock = asyncio.Lock()

# ``product-labels``: (store, product) -> [category, title] as the order lines last named them.
product_labels = app.Table(
    "product-labels",
    default=None,
    partitions=settings.partitions,
    key_type=str,
    help="Category and title per (store, product), for rebuilding the read model.",
)


def redis_failing() -> bool:
    """A Redis call failed and the read model has not caught up since."""
    return state.failing


def _fell_behind(what: str, exc: BaseException) -> None:
    if not state.behind:
        log.warning(
            "Redis unavailable (%s: %s): read model behind; agents keep counting into their tables",
            what,
            exc,
        )
    state.fell_behind(f"{what}: {type(exc).__name__}: {exc}"[:300], time.monotonic())


def note_unavailable(what: str, exc: BaseException) -> None:
    """Any Redis call that failed (a reader, /healthz) means the read model may now miss writes:
    agents stop trying and the catch-up rewrites it once Redis answers."""
    _fell_behind(what, exc)


async def write_or_defer(what: str, write: Callable[[], Awaitable[Any]]) -> None:
    """A read-model write no table can rebuild (chat reply, latest bundle set, upload status):
    done now, or kept (bounded, ``redis_pending_writes_max``) and replayed once Redis is back."""
    if state.behind:
        state.defer(write)
        return
    try:
        await write()
    except UNAVAILABLE as exc:
        _fell_behind(what, exc)
        state.defer(write)


# ---- popularity (orders agent) -------------------------------------------------------------


def record_labels(updates: PopularityUpdates, anchor: dict[int, EventT]) -> None:
    """Keep each product's category and title in ``product-labels`` (only when new or changed),
    on the changelog partition of the product's counts. Read and written while an event of that
    partition is current: the RocksDB store reads the database of the current event's partition."""
    by_partition: dict[int, list[str]] = {}
    for key, sold in updates.sold.items():
        by_partition.setdefault(sold.partition, []).append(key)
    for partition, keys in by_partition.items():
        event = anchor.get(partition)
        if event is None:
            continue
        part = PopularityUpdates(
            sold={k: updates.sold[k] for k in keys},
            titles=updates.titles,
            product_categories=updates.product_categories,
        )
        with as_current_event(event):
            for key, label in label_changes(part, product_labels.get).items():
                product_labels[key] = label


def _zset_write(pipe: Any, key: str, scores: dict[str, int]) -> None:
    """Positive counts are written, zeros removed: a product whose every order was cancelled
    leaves the ranking instead of sitting at its end with a 0."""
    live = {member: n for member, n in scores.items() if n > 0}
    gone = [member for member, n in scores.items() if n <= 0]
    if live:
        pipe.zadd(key, live)
    if gone:
        pipe.zrem(key, *gone)


def _queue_store(pipe: Any, store: str, w: StoreWrites) -> None:
    if w.orders:
        _zset_write(pipe, rkey(redis_keys.POPULARITY, store), w.orders)
        _zset_write(pipe, rkey(redis_keys.UNITS, store), w.units)
    for category, mapping in w.by_category.items():
        _zset_write(pipe, rkey(redis_keys.POPULARITY_BY_CATEGORY, store, category), mapping)
    if w.product_categories:
        pipe.hset(rkey(redis_keys.PRODUCT_CATEGORIES, store), mapping=w.product_categories)
    if w.titles:
        pipe.hset(rkey(redis_keys.TITLES, store), mapping=w.titles)
    if w.category_orders:
        tallies = rkey(redis_keys.CATEGORY_TRANSACTIONS, store)
        live = {c: n for c, n in w.category_orders.items() if n > 0}
        gone = [c for c, n in w.category_orders.items() if n <= 0]
        if live:
            pipe.hset(tallies, mapping=live)
        if gone:
            pipe.hdel(tallies, *gone)
    if w.store_orders is not None:
        pipe.set(rkey(redis_keys.STORE_ORDERS, store), w.store_orders)


async def _send_popularity(by_store: dict[str, StoreWrites]) -> None:
    pipe = redis_client().pipeline(transaction=False)
    for store, w in by_store.items():
        _queue_store(pipe, store, w)
    await pipe.execute()


async def write_popularity(updates: PopularityUpdates) -> None:
    """One command per (store, structure) per batch. Never raises for an unavailable Redis and
    never waits for one: the stores are noted and rebuilt from the tables later."""
    if not updates.sold and not updates.categories and not updates.store_orders:
        return
    by_store = popularity_writes(updates)
    async with _write_lock:
        if state.behind:
            state.touched("popularity", by_store)
            return
        try:
            await _send_popularity(by_store)
        except UNAVAILABLE as exc:
            _fell_behind("orders read model", exc)
            state.touched("popularity", by_store)


async def read_popularity(store: str, category: str | None, limit: int) -> dict[str, Any]:
    r = redis_client()
    zkey = rkey("popcat", store, category) if category else rkey("pop", store)
    # withscores: (member, score) pairs, members decoded to str by the client
    top = cast(list[tuple[str, float]], await r.zrevrange(zkey, 0, limit - 1, withscores=True))
    ids = [pid for pid, _ in top]
    titles, units, cats = ({}, [], [])
    if ids:
        pipe = r.pipeline(transaction=False)
        pipe.hmget(rkey("titles", store), ids)
        pipe.zmscore(rkey("units", store), ids)
        pipe.hmget(rkey("prodcat", store), ids)
        titles_list, units, cats = await pipe.execute()
        titles = dict(zip(ids, titles_list))
    tallies = await r.hgetall(rkey("cattx", store))
    orders_counted = int(await r.get(rkey("orders", store)) or 0)
    return {
        "store_id": store,
        "category": category,
        "orders_counted": orders_counted,
        "products": [
            {
                "product_id": pid,
                "title": titles.get(pid) or "",
                "category": cats[i] if cats else None,
                "orders": int(score),
                "units": int(units[i] or 0) if units else 0,
            }
            for i, (pid, score) in enumerate(top)
        ],
        "category_transactions": dict(
            sorted(((c, int(n)) for c, n in tallies.items()), key=lambda kv: -kv[1])
        ),
    }


# ---- attach statistics (bundle-attach-stats agent) ------------------------------------------


async def write_attach_counts(
    store: str, counts: dict[str, int], evicted: list[str] | None = None, keep: int | None = None
) -> None:
    """Mirror a store's attach counts (and evictions, and the top-``keep`` bound); like
    ``write_popularity``, never raises or waits for an unavailable Redis."""
    if not counts and not evicted:
        return
    async with _write_lock:
        if state.behind:
            state.touched("attach", [store])
            return
        try:
            zkey = rkey(redis_keys.ATTACH_STATS, store)
            pipe = redis_client().pipeline(transaction=False)
            if counts:
                pipe.zadd(zkey, counts)
            if evicted:
                pipe.zrem(zkey, *evicted)
            if keep is not None:
                # the hard bound, whatever happened before (a lowered setting, an older worker)
                pipe.zremrangebyrank(zkey, 0, -(keep + 1))
            await pipe.execute()
        except UNAVAILABLE as exc:
            _fell_behind("attach statistics read model", exc)
            state.touched("attach", [store])


# ---- webhook event-id dedupe ----------------------------------------------------------------


async def remember_webhook(store_id: str, event_id: str) -> bool:
    """True the first time this delivery is seen within the dedupe TTL (across workers)."""
    key = rkey(redis_keys.WEBHOOK_SEEN, "webhook", store_id, event_id)
    return bool(await redis_client().set(key, "1", nx=True, ex=redis_keys.WEBHOOK_SEEN.ttl_s))


# ---- catch-up from the tables ----------------------------------------------------------------


def _tables_ready() -> bool:
    recovery = getattr(app.tables, "recovery", None)
    completed = getattr(recovery, "completed", None)
    return (
        app.assignor is not None
        and not app.rebalancing
        and not getattr(app, "in_recovery", False)
        and (completed is None or completed.is_set())
    )


def _active_partitions(table: Any) -> frozenset[int]:
    topic = table.changelog_topic.get_topic_name()
    return frozenset(tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic)


def _owns_store(store: str, partitions: frozenset[int]) -> bool:
    """Stores key every input topic and the attach repartition topic (Kafka's default partitioner)."""
    return (murmur2(store.encode()) & 0x7FFFFFFF) % settings.partitions in partitions


async def _keys_by_store(table: Any, stores: set[str] | None) -> dict[str, list[str]]:
    """The table's keys grouped by store, read in chunks that yield to the event loop (a full pass
    at start covers every key this worker holds, which may be millions)."""
    from .expiry import scan_table

    out: dict[str, list[str]] = {}
    async for chunk in scan_table(table):
        for key, _value in chunk:
            store = split_key(key)[0]
            if stores is None or store in stores:
                out.setdefault(store, []).append(key)
    return out


async def _rewrite_popularity(stores: set[str] | None, partitions: frozenset[int]) -> int:
    """Rewrite the popularity read model of ``stores`` (None: every owned store); returns stores written."""
    sold_keys = await _keys_by_store(sold_counts, stores)
    category_keys = await _keys_by_store(category_transactions, stores)
    written = 0
    for chunk in chunks(
        set(sold_keys) | set(category_keys) | (stores or set()), STORES_PER_PASS_CHUNK
    ):
        async with _write_lock:
            # values read under the lock: no agent write can land between this read and the send
            updates = rebuild_updates(
                ((k, sold_counts.get(k)) for s in chunk for k in sold_keys.get(s, ())),
                (
                    (k, category_transactions.get(k))
                    for s in chunk
                    for k in category_keys.get(s, ())
                ),
                ((s, store_orders.get(s)) for s in chunk),
                product_labels.get,
                set(partitions),
            )
            by_store = popularity_writes(updates)
            if by_store:
                await _send_popularity(by_store)
        written += len(by_store)
        await asyncio.sleep(0)
    return written


async def _rewrite_attach(stores: set[str] | None, partitions: frozenset[int]) -> int:
    async with _write_lock:
        counts = attach_counts(
            bundle_attach_stats.items(), stores, lambda s: _owns_store(s, partitions)
        )
        if counts:
            # replaced, not merged: products evicted from the table while Redis was away go too
            pipe = redis_client().pipeline(transaction=True)
            for store, mapping in counts.items():
                pipe.delete(rkey(redis_keys.ATTACH_STATS, store))
                pipe.zadd(rkey(redis_keys.ATTACH_STATS, store), mapping)
            await pipe.execute()
    return len(counts)


async def catch_up(partitions: frozenset[int], attach_partitions: frozenset[int]) -> dict[str, int]:
    """One full pass: every owned store from the tables, then deferred writes, then the stores
    the agents touched meanwhile; the read model is current when nothing is left."""
    await redis_client().ping()
    state.dirty.clear()  # the full pass covers them; touches from here on are noted again
    stores = await _rewrite_popularity(None, partitions)
    attach = await _rewrite_attach(None, attach_partitions)
    replayed = 0
    while state.pending:
        write = state.pending[0]
        await write()
        state.pending.popleft()
        replayed += 1
    while (picked := state.take_dirty(STORES_PER_PASS_CHUNK)) is not None:
        family, chosen = picked
        if family == "attach":
            await _rewrite_attach(set(chosen), attach_partitions)
        else:
            await _rewrite_popularity(set(chosen), partitions)
    state.caught_up((partitions, attach_partitions))
    return {"stores": stores, "attach_stores": attach, "replayed_writes": replayed}


@app.task
async def keep_read_model_current() -> None:
    """Rewrite the read model from the tables at start, after every rebalance and after an outage."""
    while True:
        await asyncio.sleep(settings.redis_resync_interval_s)
        if not _tables_ready():
            continue
        partitions = _active_partitions(sold_counts)
        attach_partitions = _active_partitions(bundle_attach_stats)
        if not state.needs_full_pass((partitions, attach_partitions)):
            continue
        started = time.monotonic()
        try:
            done = await catch_up(partitions, attach_partitions)
        except UNAVAILABLE as exc:
            _fell_behind("catch-up", exc)
            continue
        except Exception:
            log.exception("read model catch-up failed; retrying")
            state.fell_behind("catch-up failed (see log)", time.monotonic())
            continue
        log.info(
            "read model rewritten from the tables in %.2f s: %s", time.monotonic() - started, done
        )
