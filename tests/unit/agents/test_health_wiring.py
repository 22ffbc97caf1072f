"""/healthz's progress fields from the worker's sensor (Faust's sensor API, no broker)."""

from __future__ import annotations

import time

from faust.types import TP

from agents import health
from agents.app import settings


class _Queue:
    def __init__(self, n: int) -> None:
        self.n = n

    def qsize(self) -> int:
        return self.n


class _Channel:
    def __init__(self, n: int) -> None:
        self.queue = _Queue(n)


class _Stream:
    def __init__(self, queued: int = 0) -> None:
        self.channel = _Channel(queued)


def test_an_event_stuck_in_a_stream_makes_health_fail_naming_the_stream(monkeypatch) -> None:
    monkeypatch.setattr(health, "tracker", health.ProgressTracker())
    monkeypatch.setattr(health, "_streams", {})
    sensor = health.ProgressSensor()
    stream = _Stream()
    tp = TP("t-uploads", 0)
    sensor.on_stream_event_in(tp, 7, stream, None)
    sensor.on_stream_event_out(tp, 7, stream, None)
    ok, fields = health.report()
    assert ok and fields["stalled_streams"] == [] and fields["problems"] == []

    sensor.on_stream_event_in(tp, 8, stream, None)
    started = time.monotonic() - settings.stall_after_s - 5  # as if it had been in flight that long
    health.tracker.streams["t-uploads"].in_flight[(0, 8, id(stream))] = started
    health.tracker.streams["t-uploads"].last_progress = started
    ok, fields = health.report()
    assert not ok
    [stall] = fields["stalled_streams"]
    assert stall["stream"] == "t-uploads" and stall["reason"] == "event in flight"
    assert stall["for_s"] >= settings.stall_after_s and stall["since"].endswith("+00:00")
    assert fields["problems"][0].startswith("stream stalled: t-uploads")


def test_loop_lag_over_the_limit_makes_health_fail(monkeypatch) -> None:
    monkeypatch.setattr(health, "tracker", health.ProgressTracker())
    monkeypatch.setattr(health, "_streams", {})
    lag = health.LoopLag(window_s=10.0)
    lag.add(time.monotonic(), settings.max_loop_lag_s + 1)
    monkeypatch.setattr(health, "loop_lag", lag)
    ok, fields = health.report()
    assert not ok and "max_loop_lag_s" in fields["problems"][0]
    assert fields["loop_lag_max_recent_ms"] >= settings.max_loop_lag_s * 1000
