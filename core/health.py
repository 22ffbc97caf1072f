"""Is the worker healthy? Pure bookkeeping and the decision; ``agents.health`` feeds it.

"The process answers HTTP" is not health: a worker whose event loop is blocked for seconds, or
whose agent sits on one event forever, still answers once in a while. Two signals:

* event-loop lag: how late a short periodic timer fires. A blocked loop (a parse holding the
  GIL, a synchronous call) shows as lag; the worst lag of the last ``window_s`` counts, since
  while the loop is blocked nobody can ask.
* per-stream progress: a stream with an event in flight, or input waiting, and no event
  finished for longer than ``stall_after_s`` is stalled (reported with the time it stalled from).

All times are ``time.monotonic()`` seconds passed in by the caller, so tests need no clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field


class LoopLag:
    """Lag samples of the event loop; the max over a sliding window and since start."""

    def __init__(self, window_s: float = 10.0) -> None:
        self.window_s = window_s
        self._samples: deque[tuple[float, float]] = deque()  # (time, lag)
        self.last = 0.0
        self.max_ever = 0.0

    def add(self, now: float, lag: float) -> None:
        lag = max(0.0, lag)
        self.last = lag
        self.max_ever = max(self.max_ever, lag)
        self._samples.append((now, lag))
        while self._samples and self._samples[0][0] < now - self.window_s:
            self._samples.popleft()

    def recent_max(self, now: float) -> float:
        return max((lag for t, lag in self._samples if t >= now - self.window_s), default=0.0)


@dataclass
class StreamState:
    in_flight: dict[object, float] = field(default_factory=dict)  # event key -> started at
    last_progress: float | None = None
    waiting_since: float | None = None  # input queued while nothing was in flight, since


@dataclass(frozen=True)
class Stall:
    stream: str
    since: float  # monotonic time progress stopped
    reason: str  # "event in flight" or "input waiting"

    def describe(self, now: float) -> str:
        return f"{self.stream}: {self.reason}, no progress for {now - self.since:.1f} s"


class ProgressTracker:
    """Events in and out per stream; which streams stopped making progress."""

    def __init__(self) -> None:
        self.streams: dict[str, StreamState] = {}

    def event_in(self, stream: str, key: object, now: float) -> None:
        state = self.streams.setdefault(stream, StreamState())
        state.in_flight[key] = now
        state.waiting_since = None

    def event_out(self, stream: str, key: object, now: float) -> None:
        state = self.streams.setdefault(stream, StreamState())
        state.in_flight.pop(key, None)
        state.last_progress = now

    def backlog(self, stream: str, queued: int, now: float) -> None:
        """Input waiting in the stream's buffer (sampled when health is asked)."""
        state = self.streams.setdefault(stream, StreamState())
        if queued <= 0 or state.in_flight:
            state.waiting_since = None
        elif state.waiting_since is None:
            state.waiting_since = now

    def stalls(self, now: float, stall_after_s: float) -> list[Stall]:
        out: list[Stall] = []
        for name, state in sorted(self.streams.items()):
            if state.in_flight:
                since, reason = min(state.in_flight.values()), "event in flight"
            elif state.waiting_since is not None:
                since, reason = state.waiting_since, "input waiting"
            else:
                continue
            if state.last_progress is not None:
                since = max(since, state.last_progress)  # another event finished: still moving
            if now - since > stall_after_s:
                out.append(Stall(name, since, reason))
        return out


def verdict(
    stalls: list[Stall], recent_lag_s: float, max_loop_lag_s: float, now: float
) -> tuple[bool, list[str]]:
    """(healthy, problems): no stream stalled, the loop not lagging.

    Redis is not part of it: it is the read model, the worker keeps counting without it and
    catches up by itself, so an orchestrator restarting the worker for it would only add a
    rebalance. /healthz reports it as "degraded" instead."""
    problems: list[str] = []
    problems.extend(f"stream stalled: {s.describe(now)}" for s in stalls)
    if recent_lag_s > max_loop_lag_s:
        problems.append(
            f"event loop lagged {recent_lag_s:.2f} s (> max_loop_lag_s={max_loop_lag_s:g})"
        )
    return not problems, problems


@dataclass
class RecoveryWatch:
    """Table recovery (changelog replay after an assignment) as seen from /healthz.

    Recovery of a big table on an empty disk takes minutes and is progress, not a fault; a
    recovery whose remaining record count has not gone down for ``stall_after_s`` is a stall.
    """

    started: float | None = None
    remaining: int | None = None
    last_progress: float | None = None

    def observe(self, now: float, in_recovery: bool, remaining: int) -> None:
        if not in_recovery:
            self.started = self.remaining = self.last_progress = None
            return
        if self.started is None:
            self.started = self.last_progress = now
        elif self.remaining is None or remaining < self.remaining:
            self.last_progress = now
        self.remaining = remaining

    def stall(self, now: float, stall_after_s: float) -> Stall | None:
        if self.last_progress is None or now - self.last_progress <= stall_after_s:
            return None
        return Stall("table recovery", self.last_progress, "changelog replay")

    def report(self, now: float) -> dict[str, object]:
        return {
            "in_recovery": self.started is not None,
            "remaining_records": self.remaining or 0,
            "for_s": 0.0 if self.started is None else round(now - self.started, 1),
        }


@dataclass
class UnreadWatch:
    """Partitions with records in the broker past what the worker has read, and no read since.

    The stream tracker only sees what reached a stream: a partition the fetcher has stopped
    delivering (a fetch bookkeeping bug, a partition left paused) leaves every stream idle and
    looks healthy there, while its lag grows. ``observe`` takes, per partition, the last offset
    read and the high watermark the last fetch saw; one behind it whose read offset has not moved
    for ``stall_after_s`` is a stall."""

    #: partition -> (read offset, since when it has been behind at that read offset)
    behind: dict[str, tuple[int | None, float]] = field(default_factory=dict)

    def observe(self, now: float, offsets: Mapping[str, tuple[int | None, int | None]]) -> None:
        """``offsets``: partition -> (last read offset or None, high watermark or None). Pass
        ``{}`` while partitions are legitimately not read (rebalance, recovery)."""
        for tp in [tp for tp in self.behind if tp not in offsets]:
            del self.behind[tp]
        for tp, (read, highwater) in offsets.items():
            next_to_read = 0 if read is None else read + 1
            if highwater is None or highwater <= next_to_read:
                self.behind.pop(tp, None)
            elif tp not in self.behind or self.behind[tp][0] != read:
                self.behind[tp] = (read, now)

    def stalls(self, now: float, stall_after_s: float) -> list[Stall]:
        return [
            Stall(f"partition {tp}", since, "records in the broker not read")
            for tp, (_read, since) in sorted(self.behind.items())
            if now - since > stall_after_s
        ]


def commit_stall(commit_since: float | None, now: float, stall_after_s: float) -> Stall | None:
    """An offset commit still running after ``stall_after_s``: the worker goes on processing, but
    nothing it does is committed (it waits on the producer's flush or the group coordinator), so
    a restart would replay all of it. Shown like a stalled stream."""
    if commit_since is None or now - commit_since <= stall_after_s:
        return None
    return Stall("offset commit", commit_since, "commit in flight")
