"""Live stock: orders, cancellations and stock readings re-gate a store's published bundle set.

Thin wiring around ``popularity.stock`` (the fold) and ``bundling.regate`` (which bundles stay).
Two inputs move a store's stock: the orders agent calls ``on_orders_applied`` with every order
and cancellation it applied or replayed, and the stock agent reads the inventory topic (readings
from ``POST /api/v1/webhooks/inventory`` and ``POST /api/v1/stores/{store}/inventory``). Both
topics are keyed by store with the uploads topic's partition count, so the store's
``published-bundles`` and ``stock-levels`` records live on the partition being processed: every
read and write here happens while an event of that partition is current.

The first stock event after an upload sets the levels from that upload's catalog. When the
bundles a shopper can buy change, the re-gated set is written to ``published-bundles``, the Redis
read model (``bundles``), then the bundle-sets and generation-metrics topics, in that order (like
the uploads agent), with ``trigger`` "stock" and the products out of stock in its metrics.

One lock serialises the two agents' folds and publications in a worker, so two changes of one
store are published in the order they were folded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from functools import lru_cache

from faust.types import EventT

import topics as registry
from bundling.regate import bundle_ids, components, restate
from models import BundleSet
from models.codec import Decoded, decode
from models.common import utcnow
from models.inventory import InventoryEvent
from popularity import AppliedOrder, PopularityUpdates
from popularity.stock import Folded, Reading, StockState, apply_orders, apply_readings, from_catalog

from . import catalogs, readmodel
from .app import app
from .batching import as_current_event
from .dead_letters import send_dead_letter
from .tables import published_bundles, stock_levels
from .topics import faust_topic
from .upload_topics import bundle_sets_topic, generation_metrics_topic

log = logging.getLogger(__name__)

inventory_topic = faust_topic(registry.INVENTORY)
inventory_dlq = faust_topic(registry.INVENTORY_DLQ)

_lock = asyncio.Lock()
# A published set changes far less often than it is read (once per store per batch): parse once.
_PARSED_SETS = 256
# Attempts to start the levels from a catalog while a new upload replaces the published set meanwhile.
START_ATTEMPTS = 3


@lru_cache(maxsize=_PARSED_SETS)
def _bundle_set(raw: str) -> BundleSet:
    return BundleSet.model_validate_json(raw)


async def catalog_inventory(store: str, product_ids: Iterable[str]) -> dict[str, int | None]:
    """Each component's units in the store's latest catalog (None: not tracked or not listed;
    a product that is not active has none to sell)."""
    view = await catalogs.catalog_for(store)
    out: dict[str, int | None] = {}
    for pid in sorted(product_ids):
        product = view.by_id.get(pid) if view is not None else None
        if product is None:
            out[pid] = None
        else:
            out[pid] = product.inventory if product.status == "active" else 0
    return out


def _still_published(store: str, raw: str, event: EventT) -> bool:
    with as_current_event(event):
        if published_bundles.get(store) == raw:
            return True
    log.info("store %s: a new upload replaced the bundle set; the re-gated one is dropped", store)
    return False


async def _publish(bundle_set: BundleSet, replaces: str, event: EventT) -> bool:
    """Read model, topics, then ``published-bundles``, unless an upload replaced the set meanwhile.

    The table last: a crash before it leaves the set to re-gate again on the replay, so the
    topics get it at least once. Sent at once (``force``), not when the source offset commits:
    the orders agent acknowledges its events in batches."""
    store = bundle_set.store_id
    value = bundle_set.to_bytes()
    text = value.decode()

    async def store_result() -> None:
        await readmodel.redis_client().set(readmodel.rkey("bundles", store), text)

    if not _still_published(store, replaces, event):
        return False
    await readmodel.write_or_defer("re-gated bundle set", store_result)
    if not _still_published(store, replaces, event):
        return False
    key = store.encode()
    await bundle_sets_topic.send(key=key, value=value, force=True)
    await generation_metrics_topic.send(key=key, value=bundle_set.metrics.to_bytes(), force=True)
    with as_current_event(event):
        published_bundles[store] = text
    return True


async def _current_state(store: str, event: EventT) -> tuple[str, StockState, bool] | None:
    """(published set JSON, its stock state, started now), started from the catalog after an upload."""
    for _ in range(START_ATTEMPTS):
        with as_current_event(event):
            raw = published_bundles.get(store)
            if raw is None:
                return None
            published = _bundle_set(raw)
            state = StockState.from_json(stock_levels.get(store))
            if state is not None and state.upload_id == published.upload_id:
                return raw, state, False
            inventory = await catalog_inventory(store, components(published))
            if published_bundles.get(store) == raw:  # no newer upload landed during the read
                return raw, from_catalog(published.upload_id, raw, inventory, state), True
    log.warning("store %s: published set kept changing; levels not started this time", store)
    return None


async def restock(
    store: str,
    event: EventT,
    touches: Callable[[set[str]], bool],
    fold: Callable[[StockState], Folded],
) -> BundleSet | None:
    """Fold one store's stock events while ``event`` (of the store's partition) is current;
    publish and return the re-gated set when the bundles a shopper can buy changed."""
    async with _lock:
        with as_current_event(event):
            raw = published_bundles.get(store)
            if raw is None:
                return None  # no published set: nothing to track
            held = StockState.from_json(stock_levels.get(store))
            published = _bundle_set(raw)
            # the upload's components, also those a re-gated set no longer shows
            if held is not None and held.upload_id == published.upload_id:
                tracked = set(held.products)
            else:
                tracked = components(published)
            if not touches(tracked):
                return None  # none of its products: nothing to remember
        current = await _current_state(store, event)
        if current is None:
            return None
        raw, state, started = current
        folded = fold(state)
        with as_current_event(event):
            if folded.changed or started:
                stock_levels[store] = folded.state.to_json()
            published = _bundle_set(raw)
            fresh = restate(
                _bundle_set(folded.state.original), published, folded.state.levels(), utcnow()
            )
        if fresh is None:
            return None
        log.info(
            "store %s: bundle set of upload %s re-gated by stock: %d of %d bundles (%s), "
            "out of stock: %s",
            store,
            fresh.upload_id,
            len(fresh.bundles),
            len(_bundle_set(folded.state.original).bundles),
            ", ".join(bundle_ids(fresh)) or "none",
            ", ".join(fresh.metrics.stock_outs) or "none",
        )
        return fresh if await _publish(fresh, raw, event) else None


def _orders_fold(applied: list[AppliedOrder]) -> Callable[[StockState], Folded]:
    return lambda state: apply_orders(state, applied)


def _touches_orders(applied: list[AppliedOrder]) -> Callable[[set[str]], bool]:
    return lambda tracked: any(pid in tracked for order in applied for pid in order.units)


async def on_orders_applied(
    updates: PopularityUpdates, anchor: dict[int, EventT], store_partition: dict[str, int]
) -> None:
    """The orders agent's hook: every order (and cancellation) of the batch moves its store's stock."""
    by_store: dict[str, list[AppliedOrder]] = {}
    for order in updates.applied:
        by_store.setdefault(order.store_id, []).append(order)
    for store, applied in by_store.items():
        event = anchor[store_partition[store]]
        try:
            await restock(store, event, _touches_orders(applied), _orders_fold(applied))
        except Exception:  # stock must never stop order counting; the next event re-gates
            log.exception("stock of store %s not updated from %d orders", store, len(applied))


def readings_of(inventory: InventoryEvent) -> list[Reading]:
    return [
        Reading(
            tuple(level.item_ids),
            level.location_id,
            level.available,
            int(level.updated_at.timestamp()),
        )
        for level in inventory.levels
    ]


async def process_inventory(event: EventT) -> BundleSet | None:
    result = decode(InventoryEvent, event.message.value)
    if not isinstance(result, Decoded):
        await send_dead_letter(inventory_dlq, event, result)
        return None
    inventory = result.value
    readings = readings_of(inventory)
    partition, offset = event.message.partition, event.message.offset

    def touches(tracked: set[str]) -> bool:
        return any(item in tracked for reading in readings for item in reading.item_ids)

    return await restock(
        inventory.store_id,
        event,
        touches,
        lambda state: apply_readings(state, partition, offset, readings),
    )


@app.agent(inventory_topic, name="stock")
async def stock_agent(stream) -> None:
    async for event in stream.events():
        try:
            await process_inventory(event)
        except Exception:
            log.exception(
                "inventory record %s[%d]@%d failed",
                event.message.topic,
                event.message.partition,
                event.message.offset,
            )
