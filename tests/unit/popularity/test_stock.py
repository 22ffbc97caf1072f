"""Live stock fold: levels from the catalog, readings and orders; exact under replay; bounded."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from popularity import AppliedOrder
from popularity.stock import (
    MAX_LOCATIONS,
    MAX_PENDING,
    Folded,
    ProductStock,
    Reading,
    StockState,
    apply_orders,
    apply_readings,
    from_catalog,
    match,
)
from tests.examples import examples

STORE = "s1"


def applied(offset: int, units: dict[str, int], time_s: int = 100, sign: int = 1) -> AppliedOrder:
    return AppliedOrder(
        0, offset, STORE, f"o{offset}", time_s, sign, units, {p: 1.0 for p in units}
    )


def state(**inventory: int | None) -> StockState:
    return from_catalog("u1", "{}", inventory)


def test_catalog_inventory_is_the_level_and_orders_take_units_out() -> None:
    folded = apply_orders(state(a=3, b=None), [applied(1, {"a": 2, "b": 5, "zz": 1})])
    assert folded.state.products["b"].pending == []  # untracked: nothing to count from
    assert folded.changed and folded.applied == 1
    assert folded.state.levels() == {"a": 1, "b": None}  # b untracked, zz not a component


def test_cancellations_put_units_back() -> None:
    s = apply_orders(state(a=3), [applied(1, {"a": 3})]).state
    assert s.levels() == {"a": 0}
    s = apply_orders(s, [applied(2, {"a": 2}, sign=-1)]).state
    assert s.levels() == {"a": 2}


def test_unknown_products_and_ids_leave_no_trace() -> None:
    s = state(a=3)
    after = apply_orders(s, [applied(1, {"x": 1})])
    assert not after.changed and set(after.state.products) == {"a"}
    read = apply_readings(s, 0, 1, [Reading(("x", "y"), "", 9, 10)])
    assert not read.changed and read.ignored == 1 and set(read.state.products) == {"a"}


def test_a_reading_sets_the_level_and_older_orders_are_already_in_it() -> None:
    s = apply_readings(state(a=10), 0, 1, [Reading(("a",), "", 4, 200)]).state
    assert s.levels() == {"a": 4}
    s = apply_orders(s, [applied(1, {"a": 1}, time_s=150)]).state  # before the reading
    assert s.levels() == {"a": 4}
    s = apply_orders(s, [applied(2, {"a": 1}, time_s=250)]).state  # after it
    assert s.levels() == {"a": 3}
    # the next reading includes that order: it is not counted again
    s = apply_readings(s, 0, 2, [Reading(("a",), "", 3, 260)]).state
    assert s.levels() == {"a": 3}
    # a reading older than the one held for its location changes nothing
    stale = apply_readings(s, 0, 3, [Reading(("a",), "", 50, 100)])
    assert stale.ignored == 1 and stale.state.levels() == {"a": 3}


def test_an_order_newer_than_a_late_reading_still_counts() -> None:
    s = apply_orders(state(a=10), [applied(1, {"a": 2}, time_s=300)]).state
    s = apply_readings(s, 0, 1, [Reading(("a",), "", 6, 200)]).state
    assert s.levels() == {"a": 4}  # the reading at 200 does not include the order at 300


def test_locations_add_up_and_are_bounded() -> None:
    readings = [Reading(("a",), f"loc{i}", 1, 100) for i in range(MAX_LOCATIONS + 5)]
    folded = apply_readings(state(a=1000), 0, 1, readings)
    assert folded.state.levels() == {"a": MAX_LOCATIONS}
    assert folded.ignored == 5 and len(folded.state.products["a"].locations) == MAX_LOCATIONS


def test_first_id_that_names_a_component_is_used() -> None:
    assert match(["sku-1", "123"], {"123": 0}) == "123"
    assert match(["sku-1", "123"], {"sku-1": 0, "123": 0}) == "sku-1"
    assert match(["nope"], {"a": 0}) is None


def test_pending_moves_are_bounded_and_err_low() -> None:
    stock = ProductStock(base=10_000)
    for t in range(MAX_PENDING * 3):
        stock.move(t, 1)
    assert len(stock.pending) == MAX_PENDING
    assert stock.level() == 10_000 - MAX_PENDING * 3


def test_json_round_trip() -> None:
    s = apply_readings(state(a=5, b=None), 0, 7, [Reading(("b",), "L", 2, 9)]).state
    s = apply_orders(s, [applied(3, {"a": 1, "b": 1}, time_s=10)]).state
    back = StockState.from_json(s.to_json())
    assert back == s and back is not None and back.levels() == {"a": 4, "b": 1}
    assert StockState.from_json(None) is None


def test_a_new_upload_resets_levels_and_keeps_the_watermarks() -> None:
    s = apply_orders(state(a=5), [applied(3, {"a": 1})]).state
    s = apply_readings(s, 0, 4, [Reading(("a",), "", 2, 9)]).state
    fresh = from_catalog("u2", "{}", {"c": 7}, s)
    assert fresh.levels() == {"c": 7} and fresh.upload_id == "u2"
    assert fresh.orders_mark == (0, 3) and fresh.inventory_mark == (0, 4)


# --- replays ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderRec:
    offset: int
    units: dict[str, int]
    time_s: int
    sign: int


@dataclass(frozen=True)
class ReadingRec:
    offset: int
    readings: tuple[Reading, ...]


Record = OrderRec | ReadingRec
PRODUCTS = ["a", "b", "c", "x"]  # x is never a component


def fold_one(s: StockState, record: Record) -> Folded:
    if isinstance(record, OrderRec):
        order = AppliedOrder(
            0,
            record.offset,
            STORE,
            f"o{record.offset}",
            record.time_s,
            record.sign,
            record.units,
            {},
        )
        return apply_orders(s, [order])
    return apply_readings(s, 0, record.offset, record.readings)


@st.composite
def histories(draw: st.DrawFn) -> list[Record]:
    n = draw(st.integers(1, 25))
    records: list[Record] = []
    order_offset = reading_offset = 0
    for _ in range(n):
        if draw(st.booleans()):
            order_offset += draw(st.integers(1, 3))
            units = draw(st.dictionaries(st.sampled_from(PRODUCTS), st.integers(1, 4), min_size=1))
            records.append(
                OrderRec(
                    order_offset, units, draw(st.integers(0, 50)), draw(st.sampled_from([1, 1, -1]))
                )
            )
        else:
            reading_offset += draw(st.integers(1, 3))
            readings = tuple(
                Reading(
                    (draw(st.sampled_from(PRODUCTS)),),
                    draw(st.sampled_from(["", "L2"])),
                    draw(st.integers(-2, 20)),
                    draw(st.integers(0, 50)),
                )
                for _ in range(draw(st.integers(1, 3)))
            )
            records.append(ReadingRec(reading_offset, readings))
    return records


@settings(max_examples=examples(120), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories(), data=st.data())
def test_replays_after_a_crash_change_nothing(history: list[Record], data: st.DataObject) -> None:
    start = state(a=10, b=None, c=3)
    once = start
    for record in history:
        once = fold_one(once, record).state
    # a crash after the state of record k was written: everything from some j <= k is delivered again
    k = data.draw(st.integers(0, len(history)))
    j = data.draw(st.integers(0, k))
    crashed = start
    for record in history[:k]:
        crashed = fold_one(crashed, record).state
    for record in history[j:]:
        crashed = fold_one(crashed, record).state
    assert crashed.levels() == once.levels()
    assert crashed == once
    # and delivering everything once more after the end is a no-op
    again = once
    for record in history:
        folded = fold_one(again, record)
        assert not folded.changed and folded.applied == 0
        again = folded.state
    assert again == once


@settings(max_examples=examples(200), deadline=None)
@given(
    moves=st.lists(st.tuples(st.integers(1, 5), st.sampled_from([1, -1])), max_size=30),
    stock=st.integers(0, 50),
)
def test_without_readings_the_level_is_catalog_minus_net_units(
    moves: list[tuple[int, int]], stock: int
) -> None:
    s = state(a=stock)
    batch = [applied(i + 1, {"a": units}, sign=sign) for i, (units, sign) in enumerate(moves)]
    s = apply_orders(s, batch).state
    assert s.levels() == {"a": stock - sum(u * sign for u, sign in moves)}


def test_a_store_that_tracks_no_stock_writes_nothing() -> None:
    folded = apply_orders(state(a=None, b=None), [applied(1, {"a": 2, "b": 1})])
    assert not folded.changed and folded.state.levels() == {"a": None, "b": None}
