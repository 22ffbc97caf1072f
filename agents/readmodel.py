"""Redis read model: what HTTP readers see, written by agents, rebuildable from the topics.

Agents write absolute values (not increments), so a replayed batch rewrites the same numbers and
readers on any worker see the same answer regardless of which worker owns the store's partition.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from popularity import PopularityUpdates, split_key

from .app import settings

_client: aioredis.Redis | None = None


def redis_client() -> aioredis.Redis:
    global _client
    if _client is None:
        _client = aioredis.from_url(settings.redis_url, decode_responses=True)
    return _client


def rkey(*parts: str) -> str:
    return ":".join((settings.topic_prefix, *parts))


async def write_popularity(updates: PopularityUpdates) -> None:
    """One command per (store, structure) per batch, however many products the batch touched."""
    if not updates.sold and not updates.categories and not updates.store_orders:
        return
    orders: dict[str, dict[str, int]] = {}
    units: dict[str, dict[str, int]] = {}
    by_category: dict[tuple[str, str], dict[str, int]] = {}
    product_categories: dict[str, dict[str, str]] = {}
    titles: dict[str, dict[str, str]] = {}
    for key, sold in updates.sold.items():
        store, product = split_key(key)
        orders.setdefault(store, {})[product] = sold.orders
        units.setdefault(store, {})[product] = sold.units
        category = updates.product_categories.get(key)
        if category:
            by_category.setdefault((store, category), {})[product] = sold.orders
            product_categories.setdefault(store, {})[product] = category
        title = updates.titles.get(key)
        if title:
            titles.setdefault(store, {})[product] = title
    tallies: dict[str, dict[str, int]] = {}
    for key, tally in updates.categories.items():
        store, category = split_key(key)
        tallies.setdefault(store, {})[category] = tally.orders
    pipe = redis_client().pipeline(transaction=False)
    for store, mapping in orders.items():
        pipe.zadd(rkey("pop", store), mapping)
        pipe.zadd(rkey("units", store), units[store])
    for (store, category), mapping in by_category.items():
        pipe.zadd(rkey("popcat", store, category), mapping)
    for store, mapping in product_categories.items():
        pipe.hset(rkey("prodcat", store), mapping=mapping)
    for store, mapping in titles.items():
        pipe.hset(rkey("titles", store), mapping=mapping)
    for store, mapping in tallies.items():
        pipe.hset(rkey("cattx", store), mapping=mapping)
    for store, tally in updates.store_orders.items():
        pipe.set(rkey("orders", store), tally.orders)
    await pipe.execute()


async def read_popularity(store: str, category: str | None, limit: int) -> dict[str, Any]:
    r = redis_client()
    zkey = rkey("popcat", store, category) if category else rkey("pop", store)
    top = await r.zrevrange(zkey, 0, limit - 1, withscores=True)
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
            {"product_id": pid, "title": titles.get(pid) or "", "category": cats[i] if cats else None,
             "orders": int(score), "units": int(units[i] or 0) if units else 0}
            for i, (pid, score) in enumerate(top)
        ],
        "category_transactions": dict(sorted(((c, int(n)) for c, n in tallies.items()), key=lambda kv: -kv[1])),
    }


async def remember_once(key: str, ttl_s: int) -> bool:
    """True the first time ``key`` is seen within ``ttl_s`` (webhook event-id dedupe across workers)."""
    return bool(await redis_client().set(rkey("once", key), "1", nx=True, ex=ttl_s))
