"""Orders agent: order events -> sold counts per (store, product), tallies per (store, category).

Thin wiring: decode (or dead-letter), fold the batch with ``popularity.plan_updates``, write the
tables (one write per touched key per batch, their changelog records sent as whole record batches
by ``agents.table_writes``), refresh the Redis read model, then expire order ids older than the
dedupe window (``popularity.retention``; deletes and tombstones via ``agents.expiry``).

A batch holds several partitions. Reads name the key's partition (``agents.stores.read_value``);
writes happen while an event of the key's own partition is current, because Faust sends a
changelog record to the current event's partition.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from faust.types import CollectionT, EventT

from models import OrderEvent
from models.codec import Decoded, Rejected, decode
from popularity import (
    CategoryTally,
    ExpiryIndex,
    OrderAtOffset,
    Retention,
    SeenOrder,
    SoldCount,
    plan_updates,
    split_key,
    writes_by_partition,
)

from . import performance, readmodel, stock
from .app import app, settings
from .batching import as_current_event, last_event_per_partition, send_batch_writes
from .dead_letters import send_dead_letter
from .expiry import active_partitions, delete_expired, rebuild_flag, scan_table
from .stores import read_value
from .table_writes import TableBatch, kafka_producer
from .tables import category_transactions, processed_orders, sold_counts, store_orders
from .topics import orders_dlq, orders_topic

log = logging.getLogger(__name__)

# Expired ids deleted per partition per batch: twice what a batch can add, so expiry keeps up
# with intake while one batch's deletes stay a bounded amount of work.
EXPIRE_PER_BATCH = max(1_000, 2 * settings.batch_size)
# An order time this far past the wall clock is capped: it may not expire a partition's ids early.
MAX_FUTURE_S = 24 * 3600.0

dedupe_index = ExpiryIndex(settings.dedupe_retention_s)
_dedupe_flag = rebuild_flag()
# store -> processed-orders keys written before order times were stored (a bare offset): they
# join the index, at the partition's watermark, with the store's first order after the upgrade.
_legacy_keys: dict[str, list[str]] = {}


async def rebuild_dedupe_index() -> None:
    """Index every remembered order id of the partitions this worker owns, from the table."""
    actives = active_partitions(processed_orders)
    dedupe_index.clear()
    _legacy_keys.clear()
    indexed = 0
    async for chunk in scan_table(processed_orders):
        for key, raw in chunk:
            seen = SeenOrder.from_json(raw)
            if seen is None:
                continue
            if seen.partition is None or seen.time_s is None:
                _legacy_keys.setdefault(split_key(key)[0], []).append(key)
            elif seen.partition in actives:
                dedupe_index.observe(seen.partition, key, seen.time_s)
                indexed += 1
    _dedupe_flag.rebuilt(actives)
    log.info(
        "dedupe index rebuilt: %d order ids on partitions %s (%d stores with legacy ids)",
        indexed,
        sorted(actives),
        len(_legacy_keys),
    )


def _stored_order_time(raw: Any, indexed_time: int) -> int | None:
    seen = SeenOrder.from_json(raw)
    if seen is None:
        return None
    return (
        indexed_time if seen.time_s is None else seen.time_s
    )  # legacy: the time it was indexed at


def _reader(
    table: CollectionT, partition_of: Callable[[str], int], parse: Callable[[Any], Any]
) -> Callable[[str], Any]:
    """A key's value parsed, read from the table partition of the key's store."""

    def read(key: str) -> Any:
        return parse(read_value(table, key, partition_of(key)))

    return read


async def process_order_batch(events: list[EventT]) -> None:
    if _dedupe_flag.needs_rebuild(active_partitions(processed_orders)):
        await rebuild_dedupe_index()
    batch: list[OrderAtOffset] = []
    for event in events:
        result = decode(OrderEvent, event.message.value)
        if isinstance(result, Decoded):
            batch.append(OrderAtOffset(event.message.partition, event.message.offset, result.value))
        else:
            await send_dead_letter(orders_dlq, event, result)
    if not batch:
        return
    anchor = last_event_per_partition(events)
    store_partition = {item.order.store_id: item.partition for item in batch}
    by_key = lambda key: store_partition[split_key(key)[0]]
    by_store = store_partition.__getitem__
    watermarks = {p: mark for p in anchor if (mark := dedupe_index.watermark(p)) is not None}
    updates = plan_updates(
        batch,
        read_sold=_reader(sold_counts, by_key, SoldCount.from_json),
        read_category=_reader(category_transactions, by_key, CategoryTally.from_json),
        read_seen=_reader(processed_orders, by_key, SeenOrder.from_json),
        read_store_orders=_reader(store_orders, by_store, CategoryTally.from_json),
        retention=Retention(
            settings.dedupe_retention_s, watermarks, now_s=time.time(), max_future_s=MAX_FUTURE_S
        ),
    )
    if updates.rejected:  # refused by the fold (a bound on remembered refunds): kept aside
        by_offset = {(e.message.partition, e.message.offset): e for e in events}
        for item, reason in updates.rejected:
            rejected = Rejected("limit_exceeded", reason, [])
            await send_dead_letter(orders_dlq, by_offset[(item.partition, item.offset)], rejected)
    table_writes = TableBatch()
    for partition, writes in writes_by_partition(updates).items():
        with as_current_event(anchor[partition]):
            for key in writes.sold:
                table_writes.set(sold_counts, partition, key, updates.sold[key].to_json())
            for key in writes.categories:
                table_writes.set(
                    category_transactions, partition, key, updates.categories[key].to_json()
                )
            for store in writes.stores:
                table_writes.set(
                    store_orders, partition, store, updates.store_orders[store].to_json()
                )
            # processed-order markers last: a crash before them is covered by the watermarks
            for key in writes.seen:
                table_writes.set(
                    processed_orders, partition, key, updates.seen_value(key).to_json()
                )
    await table_writes.send(kafka_producer(app.producer))
    # labels for rebuilding the Redis read model from the tables after an outage
    readmodel.record_labels(updates, anchor)
    await readmodel.write_popularity(updates)
    await performance.on_orders_applied(updates, anchor, store_partition)
    await stock.on_orders_applied(updates, anchor, store_partition)
    if updates.duplicate_orders:
        log.info("dropped %d duplicate orders", updates.duplicate_orders)
    if updates.applied_cancellations or updates.applied_refunds:
        log.info(
            "applied %d cancellations and %d refunds (%d of orders not seen yet, kept)",
            updates.applied_cancellations,
            updates.applied_refunds,
            updates.unmatched_adjustments,
        )
    if updates.expired_duplicates:
        log.info(
            "counted %d orders again: their first copy was past the dedupe window",
            updates.expired_duplicates,
        )
    await expire_order_ids(updates.seen_times, updates.watermarks, anchor, store_partition)
    await send_batch_writes(app.producer, table_writes)


async def expire_order_ids(
    seen_times: dict[str, int],
    watermarks: dict[int, int],
    anchor: dict[int, EventT],
    store_partition: dict[str, int],
) -> None:
    """Index the ids just remembered, then delete (with tombstones) the ones past the window."""
    for key, time_s in seen_times.items():
        dedupe_index.observe(store_partition[split_key(key)[0]], key, time_s)
    for partition, mark in watermarks.items():
        dedupe_index.advance(partition, mark)
    for store in [s for s in store_partition if s in _legacy_keys]:
        partition = store_partition[store]
        watermark = dedupe_index.watermark(partition)
        if watermark is not None:
            for key in _legacy_keys.pop(store):
                dedupe_index.observe(partition, key, watermark)
    deleted = 0
    for partition, event in anchor.items():
        deleted += await delete_expired(
            processed_orders, dedupe_index, partition, event, EXPIRE_PER_BATCH, _stored_order_time
        )
    if deleted:
        log.info(
            "expired %d order ids past the dedupe window (%d remembered)",
            deleted,
            dedupe_index.size(),
        )


@app.agent(orders_topic, name="orders")
async def orders_agent(stream) -> None:
    async for events in stream.take_events(settings.batch_size, within=settings.batch_within_s):
        await process_order_batch(list(events))
