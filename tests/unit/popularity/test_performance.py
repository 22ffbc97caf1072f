"""Live bundle performance fold: counts, cancellations, bounds, and exactness under replay."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from popularity import AppliedOrder
from popularity.performance import (
    DAY_S,
    PerformanceLimits,
    PerformanceState,
    PublishedSet,
    contribution,
    empty_performance,
    fold_store,
    plan_performance,
    published_from_json,
    store_performance,
)
from tests.examples import examples

T0 = 1_700_000_000 - (1_700_000_000 % DAY_S)  # a UTC midnight
SET = PublishedSet("up1", T0, (("b-ab", ("a", "b")), ("b-abc", ("a", "b", "c"))))
PRICES = {"a": 10.0, "b": 2.5, "c": 4.0, "x": 1.0}
BIG = PerformanceLimits(days_kept=10_000, orders_kept=1_000_000)


def entry(
    offset: int,
    order_id: str,
    units: dict[str, int],
    time_s: int = T0 + 60,
    sign: int = 1,
    partition: int = 0,
    store: str = "s1",
) -> AppliedOrder:
    return AppliedOrder(
        partition,
        offset,
        store,
        order_id,
        time_s,
        sign,
        dict(units),
        {p: u * PRICES[p] for p, u in units.items()},
    )


def fold(entries: list[AppliedOrder], limits: PerformanceLimits = BIG) -> PerformanceState:
    state, _ = fold_store(None, SET, entries, limits)
    assert state is not None
    return state


def test_whole_and_partial_orders_with_revenue_and_denominator() -> None:
    state = fold(
        [
            entry(0, "o1", {"a": 1, "b": 2, "c": 1}),  # whole for both
            entry(1, "o2", {"a": 1, "b": 1}),  # whole ab, partial abc
            entry(2, "o3", {"a": 1, "x": 3}),  # nothing
            entry(3, "o4", {"b": 1, "c": 1}),  # partial abc only
        ]
    )
    assert state.orders == 4
    assert state.totals["b-ab"] == [2, 2, 1500 + 1250, 1500 + 1250]
    assert state.totals["b-abc"] == [1, 3, 1900, 1900 + 1250 + 650]
    assert set(state.kept) == {"o1", "o2", "o4"}


def test_orders_before_publication_and_their_cancellations_do_not_count() -> None:
    early = T0 - 1
    state = fold(
        [
            entry(0, "old", {"a": 1, "b": 1}, time_s=early),
            entry(1, "old", {"a": 1}, time_s=early, sign=-1),
            entry(2, "new", {"a": 1, "b": 1}),
        ]
    )
    assert state.orders == 1
    assert state.totals["b-ab"][:2] == [1, 1]


def test_refund_of_one_product_turns_a_whole_order_into_a_partial_one() -> None:
    state = fold(
        [
            entry(0, "o1", {"a": 1, "b": 1, "c": 1}),
            entry(1, "o1", {"c": 1}, sign=-1),
        ]
    )
    assert state.totals["b-abc"] == [0, 1, 0, 1250]
    assert state.totals["b-ab"] == [1, 1, 1250, 1250]
    state2 = fold(
        [
            entry(0, "o1", {"a": 1, "b": 1, "c": 1}),
            entry(1, "o1", {"a": 1, "b": 1, "c": 1}, sign=-1),
        ]
    )
    assert state2.totals["b-abc"] == [0, 0, 0, 0]
    assert state2.kept == {}
    assert state2.orders == 1  # placed orders: the denominator is not lowered
    assert all(not days for days in state2.days.values())


def test_partial_quantity_refund_keeps_membership_and_subtracts_revenue() -> None:
    state = fold([entry(0, "o1", {"a": 3, "b": 1}), entry(1, "o1", {"a": 1}, sign=-1)])
    assert state.totals["b-ab"] == [1, 1, 2000 + 250, 2000 + 250]


def test_cancellation_of_an_unknown_order_changes_nothing() -> None:
    state = fold([entry(0, "ghost", {"a": 1, "b": 1}, sign=-1)])
    assert state.orders == 0 and state.totals["b-ab"] == [0, 0, 0, 0]


def test_replayed_offsets_are_skipped() -> None:
    first = [entry(0, "o1", {"a": 1, "b": 1}), entry(1, "o2", {"a": 1, "b": 1})]
    state = fold(first)
    again, changed = fold_store(state, SET, first, BIG)
    assert again is state and not changed
    assert state.totals["b-ab"][0] == 2 and state.orders == 2


def test_a_new_set_replaces_the_record() -> None:
    state = fold([entry(0, "o1", {"a": 1, "b": 1})])
    newer = PublishedSet("up2", T0 + 100, (("b-xa", ("x", "a")),))
    state2, changed = fold_store(state, newer, [entry(1, "o2", {"a": 1, "x": 1}, T0 + 200)], BIG)
    assert changed and state2 is not None and state2.upload_id == "up2"
    assert set(state2.totals) == {"b-xa"} and state2.totals["b-xa"][0] == 1
    assert state2.orders == 1


def test_days_and_kept_orders_are_bounded() -> None:
    limits = PerformanceLimits(days_kept=3, orders_kept=4)
    entries = [entry(i, f"o{i}", {"a": 1, "b": 1}, time_s=T0 + i * DAY_S) for i in range(6)]
    state = fold(entries, limits)
    assert sorted(state.days["b-ab"]) == [T0 // DAY_S + d for d in (3, 4, 5)]
    assert state.totals["b-ab"][0] == 6  # totals are never trimmed
    assert sorted(state.kept) == ["o3", "o4", "o5"]
    # a cancellation of an order no longer kept changes nothing
    state, _ = fold_store(state, SET, [entry(6, "o0", {"a": 1}, sign=-1)], limits)
    assert state is not None and state.totals["b-ab"][0] == 6
    capped = fold(
        [entry(i, f"c{i}", {"a": 1, "b": 1}, time_s=T0 + i) for i in range(11)],
        PerformanceLimits(days_kept=30, orders_kept=10),
    )
    # the 11th order went past 10: the oldest go, down to 9
    assert set(capped.kept) == {f"c{i}" for i in range(2, 11)}
    long_ids = fold(
        [entry(i, f"order-{i:0190d}", {"a": 1, "b": 1}) for i in range(50)],
        PerformanceLimits(days_kept=30, orders_kept=1000, kept_bytes=2_000),
    )
    assert long_ids.kept_bytes() <= 2_000 and 0 < len(long_ids.kept) < 50
    assert len(orjson.dumps({o: [t, h] for o, (t, h) in long_ids.kept.items()})) < 2_000
    assert long_ids.totals["b-ab"][0] == 50
    late = fold(
        [
            entry(0, "new", {"a": 1, "b": 1}, time_s=T0 + 5 * DAY_S),
            entry(1, "late", {"a": 1, "b": 1}, time_s=T0),
        ],
        PerformanceLimits(days_kept=3, orders_kept=10),
    )
    assert sorted(late.kept) == ["new"] and late.totals["b-ab"][0] == 2
    assert sorted(late.days["b-ab"]) == [T0 // DAY_S + 5]


def test_record_round_trips_through_json() -> None:
    state = fold([entry(0, "o1", {"a": 1, "b": 1, "c": 2}), entry(1, "o1", {"c": 1}, sign=-1)])
    raw = orjson.loads(orjson.dumps(state.to_json()))
    assert PerformanceState.from_json(raw) == state
    assert PerformanceState.from_json({"v": 999}) is None
    assert PerformanceState.from_json(None) is None


def test_answer_model_and_empty_answer() -> None:
    state = fold([entry(0, "o1", {"a": 1, "b": 1}), entry(1, "o2", {"b": 1, "c": 1})])
    as_of = datetime(2030, 1, 1, tzinfo=UTC)
    perf = store_performance("s1", state, as_of)
    assert perf.upload_id == "up1" and perf.orders_since_published == 2
    ab = next(b for b in perf.bundles if b.bundle_id == "b-ab")
    assert (ab.orders_whole, ab.orders_partial, ab.revenue_whole) == (1, 1, 12.5)
    assert ab.days[0].day == datetime.fromtimestamp(T0, UTC).date()
    abc = next(b for b in perf.bundles if b.bundle_id == "b-abc")
    assert (abc.orders_whole, abc.orders_partial, abc.revenue_partial) == (0, 2, 19.0)
    empty = empty_performance("s1", SET, as_of)
    assert empty.orders_since_published == 0 and [b.orders_whole for b in empty.bundles] == [0, 0]


def test_published_from_json_reads_ok_sets_only() -> None:
    doc = {
        "upload_id": "u9",
        "status": "ok",
        "generated_at": "2026-12-03T07:00:00Z",
        "bundles": [{"bundle_id": "b1", "products": [{"product_id": "p"}, {"product_id": "q"}]}],
    }
    got = published_from_json(orjson.dumps(doc))
    assert got is not None and got.bundles == (("b1", ("p", "q")),)
    assert got.generated_at_s == int(datetime(2026, 12, 3, 7, tzinfo=UTC).timestamp())
    assert published_from_json(orjson.dumps({**doc, "status": "error"})) is None
    assert published_from_json(b"not json") is None
    assert published_from_json(None) is None


def test_single_product_bundle_counts_whole_as_partial() -> None:
    assert contribution(["a"], {"a": [1, 100]}) == [1, 1, 100, 100]
    assert contribution(["a", "b"], {"a": [1, 100]}) == [0, 0, 0, 0]
    volume = PublishedSet("up1", T0, (("b-ab", ("a", "b")), ("b-c", ("c",))))
    state, _ = fold_store(None, volume, [entry(0, "o1", {"c": 2}), entry(1, "o2", {"a": 1})], BIG)
    assert state is not None and state.totals["b-c"] == [1, 1, 800, 800]
    assert state.totals["b-ab"] == [0, 0, 0, 0] and set(state.kept) == {"o1"}


def test_plan_groups_by_store_and_skips_stores_without_a_set() -> None:
    entries = [entry(0, "o1", {"a": 1, "b": 1}), entry(1, "o2", {"a": 1, "b": 1}, store="s2")]
    out = plan_performance(entries, lambda s: None, lambda s: SET if s == "s1" else None, BIG)
    assert set(out) == {"s1"} and out["s1"].orders == 1


# ---- exactness under at-least-once, against counts computed straight from the final orders ----


@st.composite
def histories(draw: st.DrawFn) -> list[AppliedOrder]:
    """One store's applied entries at increasing offsets: orders, then some refunds of them
    (never more than the order still holds), some before publication."""
    n = draw(st.integers(1, 25))
    out: list[AppliedOrder] = []
    held: dict[str, dict[str, int]] = {}
    times: dict[str, int] = {}
    for _ in range(n):
        order_id = f"o{draw(st.integers(0, 8))}"
        refund = order_id in held and draw(st.booleans())
        if refund:
            left = {p: u for p, u in held[order_id].items() if u > 0}
            if not left:
                continue
            picked = draw(st.lists(st.sampled_from(sorted(left)), min_size=1, unique=True))
            units = {p: draw(st.integers(1, left[p])) for p in picked}
            for p, u in units.items():
                held[order_id][p] -= u
            out.append(entry(len(out), order_id, units, times[order_id], sign=-1))
        elif order_id not in held:
            products = draw(st.lists(st.sampled_from(sorted(PRICES)), min_size=1, unique=True))
            units = {p: draw(st.integers(1, 3)) for p in products}
            times[order_id] = T0 + draw(st.integers(-DAY_S, 3 * DAY_S))
            held[order_id] = dict(units)
            out.append(entry(len(out), order_id, units, times[order_id]))
    return out


def reference(entries: list[AppliedOrder]) -> tuple[int, dict[str, list[int]]]:
    """Placed orders since publication, and each bundle's totals from each order's final holding."""
    final: dict[str, dict[str, list[int]]] = {}
    placed = 0
    for e in entries:
        if e.time_s < SET.generated_at_s:
            continue
        if e.sign > 0:
            placed += 1
        held = final.setdefault(e.order_id, {})
        for p, u in e.units.items():
            h = held.setdefault(p, [0, 0])
            h[0] += e.sign * u
            h[1] += e.sign * round(u * PRICES[p] * 100)
    totals = {bid: [0, 0, 0, 0] for bid, _ in SET.bundles}
    for held in final.values():
        for bid, pids in SET.bundles:
            c = contribution(pids, held)
            totals[bid] = [x + y for x, y in zip(totals[bid], c)]
    return placed, totals


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.data())
def test_batches_with_crashes_and_replays_equal_the_reference(
    entries: list[AppliedOrder], data: st.DataObject
) -> None:
    stored: dict | None = None  # the last record written (the changelog)
    position = 0
    while position < len(entries):
        size = data.draw(st.integers(1, 5))
        batch = entries[position : position + size]
        before = PerformanceState.from_json(stored) if stored else None
        written = plan_performance(batch, lambda _s, b=before: b, lambda _s: SET, BIG)
        if "s1" in written:
            stored = orjson.loads(orjson.dumps(written["s1"].to_json()))
        position += len(batch)
        if data.draw(st.booleans()):
            # crash after writing, before committing: the consumer resumes from an older offset
            position = data.draw(st.integers(0, position))
    state = PerformanceState.from_json(stored) if stored else PerformanceState.fresh(SET)
    assert state is not None
    placed, totals = reference(entries)
    assert state.orders == placed
    assert state.totals == totals
    for bid, days in state.days.items():
        summed = [0, 0, 0, 0]
        for counts in days.values():
            summed = [x + y for x, y in zip(summed, counts)]
        assert summed == totals[bid]


@settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.integers(1, 3), st.integers(1, 6), st.data())
def test_with_tight_bounds_replays_equal_one_clean_pass(
    entries: list[AppliedOrder], days: int, kept: int, data: st.DataObject
) -> None:
    """Evictions depend only on the record and the entry, so crashes and replays still end in
    the state of one clean pass over the history."""
    limits = PerformanceLimits(days_kept=days, orders_kept=kept)
    stored: dict | None = None
    position = 0
    while position < len(entries):
        batch = entries[position : position + data.draw(st.integers(1, 5))]
        before = PerformanceState.from_json(stored) if stored else None
        written = plan_performance(batch, lambda _s, b=before: b, lambda _s: SET, limits)
        if "s1" in written:
            stored = orjson.loads(orjson.dumps(written["s1"].to_json()))
        position += len(batch)
        if data.draw(st.booleans()):
            position = data.draw(st.integers(0, position))
    clean = fold(entries, limits)
    assert PerformanceState.from_json(stored) == clean
    assert len(clean.kept) <= kept
