"""Faust's Prometheus metrics, counted in bulk instead of per event.

Faust's Prometheus sensor does label lookups (a regex and a dict walk each) for every message in,
every stream event in and out, every table read and write and every send. On the orders path
that was about a tenth of the worker's CPU. This monitor keeps the same metric families but only
adds to plain integers per event; ``flush`` hands the totals to the Prometheus client, once a
second from a timer (the scrape interval is far longer). Per-event latencies are sampled: one
event and one send in ``SAMPLE_EVERY`` is timed.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor

SAMPLE_EVERY = 64
FLUSH_INTERVAL_S = 1.0


class BatchedPrometheusMonitor(PrometheusMonitor):
    """PrometheusMonitor whose per-event hooks count into integers, applied by ``flush``."""

    def __init__(self, metrics: FaustMetrics, **kwargs: Any) -> None:
        super().__init__(metrics=metrics, **kwargs)
        self._received: Counter[str] = Counter()
        self._read_offsets: dict[tuple[str, int], int] = {}
        self._events: Counter[Any] = Counter()  # stream -> events in
        self._events_active = 0
        self._messages_active = 0
        self._table_ops: Counter[tuple[str, str]] = Counter()
        self._sent_by_topic: Counter[str] = Counter()
        self._sent = 0
        self._event_latencies_ms: list[float] = []
        self._send_latencies_ms: list[float] = []
        self._event_tick = 0
        self._send_tick = 0

    # per event: integers only
    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        self._received[tp.topic] += 1
        self._read_offsets[(tp.topic, tp.partition)] = offset
        self._messages_active += 1

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> Any:
        self._events[stream] += 1
        self._events_active += 1
        self._event_tick += 1
        return time.perf_counter() if self._event_tick % SAMPLE_EVERY == 0 else None

    def on_stream_event_out(
        self, tp: Any, offset: int, stream: Any, event: Any, state: Any = None
    ) -> None:
        self._events_active -= 1
        if state is not None:
            self._event_latencies_ms.append((time.perf_counter() - state) * 1000.0)

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        self._messages_active -= 1

    def on_table_get(self, table: Any, key: Any) -> None:
        self._table_ops[(table.name, self.KEYS_RETRIEVED)] += 1

    def on_table_set(self, table: Any, key: Any, value: Any) -> None:
        self._table_ops[(table.name, self.KEYS_UPDATED)] += 1

    def on_table_del(self, table: Any, key: Any) -> None:
        self._table_ops[(table.name, self.KEYS_DELETED)] += 1

    def on_send_initiated(self, producer: Any, topic: str, *_sizes: Any, **_kw: Any) -> Any:
        self._sent_by_topic[topic] += 1
        self._send_tick += 1
        return time.perf_counter() if self._send_tick % SAMPLE_EVERY == 0 else None

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        self._sent += 1
        if state is not None:
            self._send_latencies_ms.append((time.perf_counter() - state) * 1000.0)

    def on_send_error(self, producer: Any, exc: BaseException, state: Any) -> None:
        self._metrics.total_error_messages_sent.inc()

    def flush(self) -> None:
        """Apply what was counted since the last flush to the Prometheus metrics."""
        metrics = self._metrics
        received, self._received = self._received, Counter()
        for topic, n in received.items():
            metrics.messages_received.inc(n)
            metrics.messages_received_per_topics.labels(topic=topic).inc(n)
        offsets, self._read_offsets = self._read_offsets, {}
        for (topic, partition), offset in offsets.items():
            metrics.messages_received_per_topics_partition.labels(
                topic=topic, partition=partition
            ).set(offset)
        events, self._events = self._events, Counter()
        for stream, n in events.items():
            metrics.total_events.inc(n)
            metrics.total_events_per_stream.labels(
                stream=f"stream.{self._stream_label(stream)}.events"
            ).inc(n)
        metrics.active_messages.set(self._messages_active)
        metrics.total_active_events.set(self._events_active)
        ops, self._table_ops = self._table_ops, Counter()
        for (table, operation), n in ops.items():
            metrics.table_operations.labels(table=f"table.{table}", operation=operation).inc(n)
        sent_by_topic, self._sent_by_topic = self._sent_by_topic, Counter()
        for topic, n in sent_by_topic.items():
            metrics.topic_messages_sent.labels(topic=f"topic.{topic}").inc(n)
        sent, self._sent = self._sent, 0
        if sent:
            metrics.total_sent_messages.inc(sent)
        event_ms, self._event_latencies_ms = self._event_latencies_ms, []
        for ms in event_ms:
            metrics.events_runtime_latency.observe(ms)
        send_ms, self._send_latencies_ms = self._send_latencies_ms, []
        for ms in send_ms:
            metrics.producer_send_latency.observe(ms)


def install(app: Any) -> BatchedPrometheusMonitor:
    """Replace the Prometheus monitor ``setup_prometheus_sensors`` put on ``app`` (same metric
    families) with the batched one, flushed by an app timer."""
    monitor = BatchedPrometheusMonitor(metrics=app.monitor._metrics)
    app.monitor = monitor

    @app.timer(FLUSH_INTERVAL_S, name="flush-prometheus-metrics")
    async def flush_metrics() -> None:
        monitor.flush()

    return monitor
