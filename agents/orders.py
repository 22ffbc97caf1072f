"""Orders agent: order events -> sold counts per (store, product), tallies per (store, category).

Thin wiring: decode (or dead-letter), fold the batch with ``popularity.plan_updates``, write the
tables (one write per touched key per batch), refresh the Redis read model.
"""

from __future__ import annotations

import logging

from faust.types import EventT

from models import OrderEvent
from models.codec import Decoded, decode
from popularity import CategoryTally, OrderAtOffset, SoldCount, plan_updates, writes_by_partition

from . import readmodel
from .app import app, settings
from .batching import as_current_event, last_event_per_partition
from .dead_letters import send_dead_letter
from .tables import category_transactions, processed_orders, sold_counts, store_orders
from .topics import orders_dlq, orders_topic

log = logging.getLogger(__name__)

async def process_order_batch(events: list[EventT]) -> None:
    batch: list[OrderAtOffset] = []
    for event in events:
        result = decode(OrderEvent, event.message.value)
        if isinstance(result, Decoded):
            batch.append(OrderAtOffset(event.message.partition, event.message.offset, result.value))
        else:
            await send_dead_letter(orders_dlq, event, result)
    if not batch:
        return
    updates = plan_updates(
        batch,
        read_sold=lambda k: SoldCount.from_json(sold_counts.get(k)),
        read_category=lambda k: CategoryTally.from_json(category_transactions.get(k)),
        read_seen=processed_orders.get,
        read_store_orders=lambda store: CategoryTally.from_json(store_orders.get(store)),
    )
    anchor = last_event_per_partition(events)
    for partition, writes in writes_by_partition(updates).items():
        with as_current_event(anchor[partition]):
            for key in writes.sold:
                sold_counts[key] = updates.sold[key].to_json()
            for key in writes.categories:
                category_transactions[key] = updates.categories[key].to_json()
            for store in writes.stores:
                store_orders[store] = updates.store_orders[store].to_json()
            # processed-order markers last: a crash before them is covered by the watermarks
            for key in writes.seen:
                processed_orders[key] = updates.seen[key][1]
    # labels for rebuilding the Redis read model from the tables after an outage
    readmodel.record_labels(updates, anchor)
    await readmodel.write_popularity(updates)
    if updates.duplicate_orders:
        log.info("dropped %d duplicate orders", updates.duplicate_orders)


@app.agent(orders_topic, name="orders")
async def orders_agent(stream) -> None:
    async for events in stream.take_events(settings.batch_size, within=settings.batch_within_s):
        await process_order_batch(list(events))
