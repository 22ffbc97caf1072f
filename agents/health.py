"""Feeds ``core.health`` from the running worker: a Faust sensor sees every stream
event go in and out, and a task measures how late a 0.1 s timer fires (event-loop lag).

``report()`` is what ``/healthz`` shows: stalled streams (which and since when), table recovery
progress (records left to replay; a replay that stops going down is a stall), an offset commit
that does not return, and loop lag.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from datetime import UTC
from typing import Any, cast

from faust import Sensor

from core.health import (
    LoopLag,
    ProgressTracker,
    RecoveryWatch,
    Stall,
    UnreadWatch,
    commit_stall,
    verdict,
)

from .app import app, settings
from .transport import LowLatencyConsumer

LAG_INTERVAL_S = 0.1
log = logging.getLogger(__name__)

tracker = ProgressTracker()
loop_lag = LoopLag(window_s=10.0)
recovery_watch = RecoveryWatch()
unread_watch = UnreadWatch()
_streams: dict[str, Any] = {}  # topic -> a stream reading it (for its input buffer size)
_started = time.monotonic()


class ProgressSensor(Sensor):
    """Events in and out of every stream, keyed by topic (the stream's name in reports)."""

    def on_stream_event_in(self, tp, offset, stream, event):
        _streams.setdefault(tp.topic, stream)
        tracker.event_in(tp.topic, (tp.partition, offset, id(stream)), time.monotonic())
        return None

    def on_stream_event_out(self, tp, offset, stream, event, state=None) -> None:
        tracker.event_out(tp.topic, (tp.partition, offset, id(stream)), time.monotonic())


app.sensors.add(ProgressSensor())


@app.task
async def log_commit_state_on_sigusr2() -> None:
    """``kill -USR2 <worker>`` logs Faust's commit bookkeeping (mode's Worker already prints
    every stack on SIGUSR1): together they say why offsets stopped moving."""

    def log_state() -> None:
        consumer = cast(LowLatencyConsumer, app.consumer)  # the app's transport (agents.app)
        log.warning("consumer commit state: %s", consumer.commit_state())

    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR2, log_state)


@app.task
async def measure_loop_lag() -> None:
    """How late a short sleep wakes up: the time the loop was busy with something else."""
    while True:
        before = time.monotonic()
        await asyncio.sleep(LAG_INTERVAL_S)
        now = time.monotonic()
        loop_lag.add(now, now - before - LAG_INTERVAL_S)


def _queued(stream: Any) -> int:
    try:
        return int(stream.channel.queue.qsize())
    except Exception:
        return 0


def report() -> tuple[bool, dict[str, Any]]:
    """(healthy, fields for /healthz's ``checks``)."""
    now = time.monotonic()
    for topic, stream in list(_streams.items()):
        tracker.backlog(topic, _queued(stream), now)
    stalls = tracker.stalls(now, settings.stall_after_s)
    recovery, recovery_stall = recovery_progress(now)
    if recovery_stall is not None:
        stalls.append(recovery_stall)
    committing = commit_stall(
        getattr(app.consumer, "commit_since", None), now, settings.stall_after_s
    )
    if committing is not None:
        stalls.append(committing)
    consumer = cast(LowLatencyConsumer, app.consumer)
    unread_watch.observe(now, consumer.read_and_highwater())
    stalls.extend(unread_watch.stalls(now, settings.stall_after_s))
    recent = loop_lag.recent_max(now)
    ok, problems = verdict(stalls, recent, settings.max_loop_lag_s, now)
    wall = time.time()
    return ok, {
        "stalled_streams": [
            {
                "stream": s.stream,
                "reason": s.reason,
                "since": _iso(wall - (now - s.since)),
                "for_s": round(now - s.since, 1),
            }
            for s in stalls
        ],
        "recovery": recovery,
        "loop_lag_ms": round(loop_lag.last * 1000, 1),
        "loop_lag_max_recent_ms": round(recent * 1000, 1),
        "loop_lag_max_ms": round(loop_lag.max_ever * 1000, 1),
        "problems": problems,
    }


def recovery_progress(now: float) -> tuple[dict[str, Any], Stall | None]:
    """Changelog records the active partitions still have to replay, and whether that stalled."""
    recovery = app.tables._recovery  # type: ignore[attr-defined]  # private, see standby_progress
    in_recovery = bool(recovery is not None and recovery.in_recovery)
    remaining = int(recovery.active_remaining_total()) if in_recovery else 0
    recovery_watch.observe(now, in_recovery, remaining)
    return recovery_watch.report(now), recovery_watch.stall(now, settings.stall_after_s)


def standby_progress() -> dict[str, Any]:
    """The standby replicas this worker keeps warm, and the last changelog offset applied to each
    ("topic:partition" -> offset, -1 before the first record): what a takeover would not replay.
    Compared with the changelogs' end offsets, it says how far a failover would be behind."""
    # None until the first assignment
    recovery = app.tables._recovery  # type: ignore[attr-defined]  # private to faust's TableManager, absent from TableManagerT
    if recovery is None:
        return {"partitions": 0, "applied": {}}
    offsets = recovery.standby_offsets
    tps = sorted(recovery.standby_tps, key=lambda tp: (tp.topic, tp.partition))
    return {
        "partitions": len(tps),
        "applied": {f"{tp.topic}:{tp.partition}": offsets.get(tp, -1) for tp in tps},
    }


def _iso(epoch: float) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="seconds")
