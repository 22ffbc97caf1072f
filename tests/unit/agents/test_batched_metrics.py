"""The batched Prometheus monitor ends up with the same counts as Faust's per-event one; only
its latency histograms are sampled."""

from __future__ import annotations

from types import SimpleNamespace

from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from faust.types import TP
from prometheus_client import CollectorRegistry

from agents.batched_metrics import SAMPLE_EVERY, BatchedPrometheusMonitor


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in registry.collect()
        for sample in family.samples
        if family.type != "histogram" and not sample.name.endswith("_created")
    }


class _Owner:
    pass


class _Stream:
    shortlabel = "Stream: orders"

    def __init__(self) -> None:
        self.task_owner = _Owner()


def _drive(monitor: PrometheusMonitor, events: int) -> None:
    stream, producer = _Stream(), _Stream()
    table = SimpleNamespace(name="sold-counts")
    for i in range(events):
        tp = TP("orders", i % 3)
        message = SimpleNamespace(time_in=None)
        monitor.on_message_in(tp, i, message)
        state = monitor.on_stream_event_in(tp, i, stream, None)
        monitor.on_table_get(table, "k")
        monitor.on_table_set(table, "k", b"v")
        if i % 4 == 0:
            monitor.on_table_del(table, "k")
        sent = monitor.on_send_initiated(producer, "changelog", None, 1, 1)
        monitor.on_send_completed(producer, sent, None)
        monitor.on_stream_event_out(tp, i, stream, None, state)
        monitor.on_message_out(tp, i, message)


def test_after_a_flush_the_totals_equal_faust_per_event_monitor() -> None:
    reference, batched = CollectorRegistry(), CollectorRegistry()
    faust_monitor = PrometheusMonitor(metrics=FaustMetrics.create(reference, "app"))
    ours = BatchedPrometheusMonitor(metrics=FaustMetrics.create(batched, "app"))
    _drive(faust_monitor, 500)
    _drive(ours, 500)
    before_flush = _samples(batched)
    ours.flush()
    want = _samples(reference)
    assert before_flush != want  # nothing reaches Prometheus per event
    assert _samples(batched) == want
    assert want[("app_messages_received_total", ())] == 500


def test_latencies_are_sampled_not_measured_per_event() -> None:
    registry = CollectorRegistry()
    ours = BatchedPrometheusMonitor(metrics=FaustMetrics.create(registry, "app"))
    _drive(ours, 10 * SAMPLE_EVERY)
    ours.flush()
    counts = {
        sample.name: sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name.endswith("_count")
    }
    assert counts["app_events_runtime_ms_count"] == 10
    assert counts["app_producer_send_latency_count"] == 10
