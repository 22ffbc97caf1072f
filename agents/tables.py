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
# (store, order_id) -> [first offset, source partition, order time, {contents, cancellation,
# refunds}] (the order's ledger, ``popularity.SeenOrder``); older shapes (three numbers, or the
# bare offset written before the dedupe window) still read.
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
# store -> the store's latest ok BundleSet (JSON text), the bundles live folds measure and
# re-gate: written by the uploads agent, on the store's partition (uploads and orders topics are
# keyed by store with the same partition count, so the orders agent reads it locally).
published_bundles = app.Table(
    "published-bundles",
    default=None,
    partitions=settings.partitions,
    key_type=str,
    help="Latest ok bundle set per store, for live performance and stock re-gating.",
)
# store -> live performance of the store's published set (``popularity.performance``
# PerformanceState as a JSON object: counts, per-day counts, the orders a refund may change, and
# the (partition, offset) watermark); replaced whole when a new set is published.
bundle_performance = app.Table(
    "bundle-performance",
    default=None,
    partitions=settings.partitions,
    key_type=str,
    help="Live whole/partial bundle orders and revenue since the store's set was published.",
)
# store -> live stock of the components of the store's published bundles (``popularity.stock``):
# the upload's set, the levels, and the (partition, offset) watermarks of the orders and
# inventory topics. Written by the orders agent's stock hook and the stock agent, always while
# an event of the store's partition is current (both topics are keyed by store).
stock_levels = app.Table(
    "stock-levels",
    default=None,
    partitions=settings.partitions,
    key_type=str,
    help="Stock of each published bundle component per store, for re-gating bundle sets.",
)
