"""The live-performance gauges: bounded stores, owned partitions only, one series per label set."""

from __future__ import annotations

from datetime import UTC, datetime

from popularity.performance import PerformanceState, PublishedSet, store_performance

SET = PublishedSet("up", 1_700_000_000, tuple((f"b{i}", ("a", f"p{i}")) for i in range(10)))


def answer(store: str, orders: int):
    state = PerformanceState.fresh(SET)
    state.orders = orders
    state.totals["b0"] = [2, 3, 1000, 1500]
    return store_performance(store, state, datetime.now(UTC))


def samples(gauges) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in gauges.collect()
        for s in family.samples
    }


def test_bounded_to_the_most_recent_stores_and_owned_partitions(monkeypatch) -> None:
    from agents.performance import PerformanceGauges

    gauges = PerformanceGauges(max_stores=2)
    for i, store in enumerate(["s1", "s2", "s3"]):
        gauges.observe(store, partition=i, perf=answer(store, 10 + i))
    gauges.observe("s2", partition=1, perf=answer("s2", 20))  # s2 is now the most recent
    monkeypatch.setattr(gauges, "_owned", lambda: None)
    got = samples(gauges)
    stores = {dict(labels)["store"] for _name, labels in got}
    assert stores == {"s2", "s3"}
    # per store: 10 bundles x 2 kinds x (orders, revenue) + the store's order count
    assert len(got) == 2 * (10 * 2 * 2 + 1)
    s2 = ("store", "s2")
    assert got[("bundlestream_store_live_orders", (s2,))] == 20
    key = (("bundle", "b0"), ("kind", "whole"), s2)
    assert got[("bundlestream_bundle_live_orders", key)] == 2
    assert got[("bundlestream_bundle_live_revenue", key)] == 10.0
    monkeypatch.setattr(gauges, "_owned", lambda: {2})  # only s3's partition is ours now
    assert {dict(labels)["store"] for _name, labels in samples(gauges)} == {"s3"}


def test_zero_stores_exports_nothing() -> None:
    from agents.performance import PerformanceGauges

    gauges = PerformanceGauges(max_stores=0)
    gauges.observe("s1", partition=0, perf=answer("s1", 1))
    assert gauges.latest == {}
