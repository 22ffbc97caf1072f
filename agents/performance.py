"""Live bundle performance: wiring of the ``popularity.performance`` fold into the orders agent.

``on_orders_applied`` runs after each orders batch: per store, it reads the store's latest ok
bundle set (``published-bundles``) and its performance record (``bundle-performance``) while an
event of the store's partition is current, folds the batch's applied orders and cancellations,
writes the changed records back on that partition, mirrors each as a ``StorePerformance`` JSON to
Redis (``perf:<store>``, any worker's HTTP server answers from it) and refreshes the Prometheus
gauges of this worker.

``on_published`` starts a new set's record at zero when the uploads agent publishes it.
``resync_performance`` rewrites the read model and the gauges of every owned store from the table
after a restart, a rebalance or a Redis outage.

Prometheus: each worker exports the stores whose partition it owns and that it updated lately,
at most ``performance_metrics_stores`` of them (the most recently updated), each with at most
10 bundles (the bundle-set limit), so the label sets are bounded by that product.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from aiokafka.partitioner import murmur2
from faust.types import EventT
from prometheus_client.core import REGISTRY, GaugeMetricFamily

from bundling.feedback import Adjustment, FeedbackRules, adjustments
from models.bundles import BundleSet
from models.performance import StorePerformance
from popularity import PopularityUpdates
from popularity.performance import (
    PerformanceLimits,
    PerformanceState,
    PublishedSet,
    plan_performance,
    published_from_json,
    store_performance,
)

from . import readmodel, redis_keys
from .app import app, settings
from .batching import as_current_event
from .expiry import active_partitions, rebuild_flag, scan_table
from .tables import bundle_performance, published_bundles

log = logging.getLogger(__name__)


def limits() -> PerformanceLimits:
    return PerformanceLimits(settings.performance_days_kept, settings.performance_orders_kept)


def feedback_rules() -> FeedbackRules:
    return FeedbackRules(
        min_days=settings.feedback_min_days,
        min_orders=settings.feedback_min_orders,
        penalty_below=settings.feedback_penalty_below,
        penalty=settings.feedback_penalty,
        boost_at=settings.feedback_boost_at,
        boost=settings.feedback_boost,
    )


# ---- the fold ------------------------------------------------------------------------------


def _decode_state(store: str, raw: Any) -> PerformanceState | None:
    """The stored record, or None for one this version cannot read (counting starts afresh
    rather than stopping the orders agent)."""
    try:
        return PerformanceState.from_json(raw)
    except (KeyError, TypeError, ValueError, IndexError):
        log.warning("unreadable bundle-performance record of store %s: counting afresh", store)
        return None


def _read_in(anchor: dict[int, EventT], store_partition: dict[str, int], table: Any, store: str):
    event = anchor.get(store_partition[store])
    if event is None:
        return None
    with as_current_event(event):
        return table.get(store)


async def on_orders_applied(
    updates: PopularityUpdates, anchor: dict[int, EventT], store_partition: dict[str, int]
) -> None:
    """Fold the batch's applied orders into each store's performance record (see module doc)."""
    if not updates.applied:
        return
    partitions = dict(store_partition)
    for entry in updates.applied:
        partitions.setdefault(entry.store_id, entry.partition)

    def read_state(store: str) -> PerformanceState | None:
        return _decode_state(store, _read_in(anchor, partitions, bundle_performance, store))

    def read_published(store: str) -> PublishedSet | None:
        return published_from_json(_read_in(anchor, partitions, published_bundles, store))

    changed = plan_performance(updates.applied, read_state, read_published, limits())
    if not changed:
        return
    now = datetime.now(UTC)
    answers: dict[str, StorePerformance] = {}
    for store, state in changed.items():
        event = anchor.get(partitions[store])
        if event is None:
            continue
        with as_current_event(event):
            bundle_performance[store] = state.to_json()
        answers[store] = store_performance(store, state, now)
        gauges.observe(store, partitions[store], answers[store])
    await write_read_model(answers)


async def write_read_model(answers: dict[str, StorePerformance]) -> None:
    """Absolute values, one SET per store; while Redis is down the write waits (bounded), and
    ``resync_performance`` rewrites every owned store once Redis is back."""
    docs = {
        readmodel.rkey(redis_keys.BUNDLE_PERFORMANCE, store): perf.model_dump_json()
        for store, perf in answers.items()
    }
    if not docs:
        return

    async def send() -> None:
        pipe = readmodel.redis_client().pipeline(transaction=False)
        for key, doc in docs.items():
            pipe.set(key, doc)
        await pipe.execute()

    await readmodel.write_or_defer("bundle performance", send)


async def on_published(store: str, bundle_set: BundleSet) -> None:
    """A new ok set of the store: its counts start at zero (the old set's record is replaced).
    Called by the uploads agent while the upload event, on the store's partition, is current."""
    published = published_from_json(bundle_set.to_bytes())
    if published is None:
        return
    state = PerformanceState.fresh(published)
    bundle_performance[store] = state.to_json()
    answer = store_performance(store, state, datetime.now(UTC))
    gauges.observe(store, state_partition(store), answer)
    await write_read_model({store: answer})


def state_partition(store: str) -> int:
    """The store's partition of every keyed topic (Kafka's default partitioner on the store id)."""
    return (murmur2(store.encode()) & 0x7FFFFFFF) % settings.partitions


_resync = rebuild_flag()
_redis_was_failing = True


@app.timer(interval=settings.redis_resync_interval_s)
async def resync_performance() -> None:
    """After a restart, a rebalance or a Redis outage: the read model and the gauges of every
    store this worker owns, from the table (a store's next batch would do it too, but a quiet
    store's gauges would be missing until then)."""
    global _redis_was_failing
    failing = readmodel.redis_failing()
    recovered = _redis_was_failing and not failing
    _redis_was_failing = failing
    if failing or not readmodel._tables_ready():
        return
    actives = active_partitions(bundle_performance)
    if not (recovered or _resync.needs_rebuild(actives)):
        return
    now = datetime.now(UTC)
    answers: dict[str, StorePerformance] = {}
    async for chunk in scan_table(bundle_performance):
        for store, raw in chunk:
            partition = state_partition(store)
            state = _decode_state(store, raw) if partition in actives else None
            if state is not None:
                answers[store] = store_performance(store, state, now)
                gauges.observe(store, partition, answers[store])
    await write_read_model(answers)
    _resync.rebuilt(actives)
    log.info("bundle performance of %d stores rewritten from the table", len(answers))


# ---- feedback for the next upload ------------------------------------------------------------


def feedback_for(store: str, now: datetime | None = None) -> tuple[Adjustment, ...]:
    """Score multipliers from the store's live performance, for its next generation. Call while
    an event of the store's partition is current (the uploads agent's own event)."""
    state = _decode_state(store, bundle_performance.get(store))
    if state is None:
        return ()
    when = now or datetime.now(UTC)
    return adjustments(store_performance(store, state, when), feedback_rules(), when)


# ---- Prometheus ------------------------------------------------------------------------------


class PerformanceGauges:
    """The latest totals of the stores this worker folded, bounded, exported on /metrics."""

    def __init__(self, max_stores: int) -> None:
        self.max_stores = max_stores
        self.latest: OrderedDict[str, tuple[int, StorePerformance]] = OrderedDict()

    def observe(self, store: str, partition: int, perf: StorePerformance) -> None:
        if self.max_stores <= 0:
            return
        self.latest[store] = (partition, perf)
        self.latest.move_to_end(store)
        while len(self.latest) > self.max_stores:
            self.latest.popitem(last=False)

    def _owned(self) -> set[int] | None:
        try:
            topic = bundle_performance.changelog_topic.get_topic_name()
            return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic}
        except Exception:  # no assignment yet: export what we have
            return None

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        owned = self._owned()
        orders = GaugeMetricFamily(
            "bundlestream_bundle_live_orders",
            "Orders since the store's bundle set was published holding the whole bundle "
            "(kind=whole) or at least 2 of its products (kind=partial); cancellations subtract.",
            labels=["store", "bundle", "kind"],
        )
        revenue = GaugeMetricFamily(
            "bundlestream_bundle_live_revenue",
            "Revenue of the bundle's products in those orders.",
            labels=["store", "bundle", "kind"],
        )
        placed = GaugeMetricFamily(
            "bundlestream_store_live_orders",
            "Orders of the store placed since its bundle set was published.",
            labels=["store"],
        )
        for store, (partition, perf) in list(self.latest.items()):
            if owned is not None and partition not in owned:
                continue
            placed.add_metric([store], perf.orders_since_published)
            for b in perf.bundles:
                orders.add_metric([store, b.bundle_id, "whole"], b.orders_whole)
                orders.add_metric([store, b.bundle_id, "partial"], b.orders_partial)
                revenue.add_metric([store, b.bundle_id, "whole"], b.revenue_whole)
                revenue.add_metric([store, b.bundle_id, "partial"], b.revenue_partial)
        yield orders
        yield revenue
        yield placed


gauges = PerformanceGauges(settings.performance_metrics_stores)
REGISTRY.register(gauges)
