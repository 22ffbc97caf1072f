"""Live state in changelog-backed Faust tables. Values are JSON lists (see ``popularity.aggregate``)."""

from __future__ import annotations

from .app import app, settings

# No ``value_type`` on the list-valued tables: Faust decodes a typed value with ``typ.from_data``,
# which ``list`` lacks, so recovery from the changelog failed ("Error in recovery ... from_data")
# and a restarted worker never finished recovery. Untyped JSON values come back as lists.

# (store, product) -> [units, orders, source partition, source offset]
sold_counts = app.Table(
    "sold-counts",
    default=None,
    partitions=settings.partitions,
    key_type=str,
    help="Sold units/orders per (store, product).",
)
# (store, category) -> [orders touching the category, source partition, source offset]
category_transactions = app.Table(
    "category-transactions",
    default=None,
    partitions=settings.partitions,
    key_type=str,
    help="Orders per (store, category); an order counts once per category.",
)
# (store, order_id) -> [first offset, source partition, order time] (``popularity.SeenOrder``);
# entries written before the dedupe window held the bare offset (an int), which still reads.
# No value_type, so that both shapes recover from the changelog.
processed_orders = app.Table(
    "processed-orders",
    default=None,
    partitions=settings.partitions,
    key_type=str,
    help="Processed order ids for idempotency, within the dedupe window.",
)
# store -> [distinct orders counted, source partition, source offset]
store_orders = app.Table(
    "store-orders",
    default=None,
    partitions=settings.partitions,
    key_type=str,
    help="Distinct orders counted per store.",
)
# key_of(store, product) -> times the product was added in a bundle
bundle_attach_stats = app.Table(
    "bundle-attach-stats",
    default=int,
    partitions=settings.partitions,
    key_type=str,
    help="Times each (store, product) was added in a bundle via bulk add.",
)
