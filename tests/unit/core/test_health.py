"""The health decision: stalled streams and event-loop lag, with explicit clocks."""

from __future__ import annotations

from core.health import LoopLag, ProgressTracker, RecoveryWatch, UnreadWatch, commit_stall, verdict

STALL = 60.0


def test_an_idle_stream_is_never_stalled() -> None:
    t = ProgressTracker()
    t.event_in("uploads", 1, now=0.0)
    t.event_out("uploads", 1, now=1.0)
    t.backlog("uploads", 0, now=5000.0)
    assert t.stalls(now=10_000.0, stall_after_s=STALL) == []


def test_an_event_in_flight_past_stall_after_is_a_stall_since_it_started() -> None:
    t = ProgressTracker()
    t.event_out("uploads", 0, now=0.0)
    t.event_in("uploads", 1, now=100.0)
    assert t.stalls(now=159.0, stall_after_s=STALL) == []  # busy within the window: fine
    [stall] = t.stalls(now=161.0, stall_after_s=STALL)
    assert (stall.stream, stall.since, stall.reason) == ("uploads", 100.0, "event in flight")
    assert "no progress for 61.0 s" in stall.describe(161.0)
    t.event_out("uploads", 1, now=162.0)
    assert t.stalls(now=163.0, stall_after_s=STALL) == []


def test_progress_of_other_events_counts_with_concurrency() -> None:
    t = ProgressTracker()
    t.event_in("chat", "a", now=0.0)
    for k in range(10):
        t.event_in("chat", k, now=10.0 * k)
        t.event_out("chat", k, now=10.0 * k + 1)
    assert t.stalls(now=120.0, stall_after_s=STALL) == []  # "a" is old but the stream moves
    assert [s.since for s in t.stalls(now=200.0, stall_after_s=STALL)] == [91.0]


def test_input_waiting_with_nothing_in_flight_stalls_from_when_it_was_seen() -> None:
    t = ProgressTracker()
    t.event_out("orders", 1, now=0.0)
    t.backlog("orders", 5, now=1000.0)  # an hour idle, then input arrives: not stalled yet
    assert t.stalls(now=1001.0, stall_after_s=STALL) == []
    t.backlog("orders", 5, now=1030.0)
    [stall] = t.stalls(now=1061.0, stall_after_s=STALL)
    assert (stall.since, stall.reason) == (1000.0, "input waiting")
    t.backlog("orders", 0, now=1062.0)
    assert t.stalls(now=1063.0, stall_after_s=STALL) == []


def test_loop_lag_window() -> None:
    lag = LoopLag(window_s=10.0)
    lag.add(0.0, 0.002)
    lag.add(1.0, 3.5)
    lag.add(2.0, -0.001)  # a timer cannot fire early: clamped
    assert lag.recent_max(2.0) == 3.5 and lag.last == 0.0
    lag.add(12.0, 0.001)
    assert lag.recent_max(12.0) == 0.001 and lag.max_ever == 3.5


def test_verdict_names_each_problem() -> None:
    """Redis is not one of them: it is the read model, /healthz calls its loss "degraded"."""
    assert verdict([], 0.05, 5.0, now=0.0) == (True, [])
    t = ProgressTracker()
    t.event_in("t-uploads", 1, now=0.0)
    ok, problems = verdict(t.stalls(100.0, STALL), 6.0, 5.0, now=100.0)
    assert not ok
    assert problems[0].startswith("stream stalled: t-uploads: event in flight")
    assert "max_loop_lag_s=5" in problems[1]


def test_a_recovery_that_keeps_replaying_is_progress_and_one_that_stops_is_a_stall() -> None:
    watch = RecoveryWatch()
    watch.observe(0.0, in_recovery=True, remaining=1_000)
    watch.observe(50.0, in_recovery=True, remaining=400)
    assert watch.stall(100.0, stall_after_s=60.0) is None
    assert watch.report(100.0) == {"in_recovery": True, "remaining_records": 400, "for_s": 100.0}
    watch.observe(100.0, in_recovery=True, remaining=400)
    stall = watch.stall(111.0, stall_after_s=60.0)
    assert stall is not None and stall.since == 50.0 and stall.stream == "table recovery"
    watch.observe(112.0, in_recovery=False, remaining=0)
    assert watch.stall(500.0, stall_after_s=60.0) is None
    assert watch.report(500.0)["in_recovery"] is False


def test_a_commit_running_past_stall_after_is_a_stall_since_it_started() -> None:
    assert commit_stall(None, now=500.0, stall_after_s=60.0) is None  # no commit running
    assert commit_stall(100.0, now=160.0, stall_after_s=60.0) is None  # slow, not stalled yet
    stall = commit_stall(100.0, now=160.5, stall_after_s=60.0)
    assert stall is not None and stall.since == 100.0
    ok, problems = verdict([stall], 0.0, 5.0, now=160.5)
    assert not ok and "offset commit: commit in flight" in problems[0]


def test_a_partition_behind_its_high_watermark_with_no_read_is_a_stall() -> None:
    watch = UnreadWatch()
    watch.observe(0.0, {"orders[4]": (332, 1842), "orders[0]": (22, 23)})
    watch.observe(30.0, {"orders[4]": (332, 1842), "orders[0]": (22, 23)})
    assert watch.stalls(30.0, 60.0) == []
    watch.observe(61.0, {"orders[4]": (332, 1842), "orders[0]": (22, 23)})
    [stall] = watch.stalls(61.0, 60.0)
    # orders[0] is read to its end: fine
    assert stall.stream == "partition orders[4]" and stall.since == 0.0


def test_a_partition_that_keeps_reading_is_not_stalled_however_far_behind() -> None:
    watch = UnreadWatch()
    for t, read in enumerate(range(0, 1000, 10)):
        watch.observe(float(t * 10), {"orders[1]": (read, 100_000)})
    assert watch.stalls(1000.0, 60.0) == []
    assert watch.behind["orders[1]"] == (990, 990.0)


def test_never_read_counts_from_offset_zero_and_pausing_the_watch_forgets() -> None:
    watch = UnreadWatch()
    watch.observe(0.0, {"orders[2]": (None, 0)})  # empty partition: nothing to read
    watch.observe(0.0, {"orders[3]": (None, 5)})
    assert list(watch.behind) == ["orders[3]"]
    watch.observe(100.0, {})  # a rebalance: nothing is expected to be read
    assert watch.stalls(100.0, 60.0) == [] and watch.behind == {}
