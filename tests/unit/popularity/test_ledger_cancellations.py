"""Cancellations and refunds in ``popularity.plan_updates``: each subtracts what its order added,
exactly once, whatever the delivery: before or after the order, duplicated, replayed after a crash.

The crash model is the one of ``test_aggregate_plan`` (changelog streams per table, partial
flushes, commits after a flush, memory or local-disk tables).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models import OrderEvent
from popularity import (
    MAX_REFUNDS_PER_ORDER,
    AppliedOrder,
    CategoryTally,
    OrderAtOffset,
    PopularityUpdates,
    Retention,
    SeenOrder,
    SoldCount,
    ground_truth,
    key_of,
    net_ground_truth,
    plan_updates,
)
from tests.examples import examples
from tests.factories import order
from tests.unit.popularity.test_aggregate_plan import (
    STORES,
    SimulatedWorker,
    Tables,
    apply,
    at,
    table_writes,
)


def cancellation(order_id: str, store: str = "s1", lines: Sequence[tuple] = ()) -> OrderEvent:
    return OrderEvent.model_validate(
        {
            "order_id": order_id,
            "store_id": store,
            "kind": "cancellation",
            "lines": [
                {"product_id": p, "quantity": q, "price": 1.0, "category": c} for p, q, c in lines
            ],
        }
    )


def refund(
    order_id: str, refund_id: str, lines: Sequence[tuple[str, int]], store: str = "s1"
) -> OrderEvent:
    return OrderEvent.model_validate(
        {
            "order_id": order_id,
            "store_id": store,
            "kind": "refund",
            "refund_id": refund_id,
            "lines": [{"product_id": p, "quantity": q, "price": 9.0} for p, q in lines],
        }
    )


def run(tables: Tables, events: Sequence[OrderEvent], start: int = 0) -> PopularityUpdates:
    updates = tables.plan(at(events, start=start))
    apply(tables, table_writes(updates))
    return updates


def nonzero(tables: Tables) -> tuple[dict, dict]:
    sold, cats = tables.counts()
    return {k: v for k, v in sold.items() if v != (0, 0)}, {k: v for k, v in cats.items() if v}


BIG = order("o1", lines=[("p1", 2, "toys"), ("p2", 1, "toys"), ("p3", 3, "garden")], price=2.0)
OTHER = order("o2", lines=[("p1", 1, "toys")])


def test_a_cancellation_after_its_order_subtracts_everything_it_added() -> None:
    tables = Tables()
    run(tables, [BIG, OTHER])
    updates = run(tables, [cancellation("o1")], start=2)
    assert nonzero(tables) == ({("s1", "p1"): (1, 1)}, {("s1", "toys"): 1})
    assert tables.stores["s1"][0] == 1
    assert updates.applied_cancellations == 1 and updates.unmatched_adjustments == 0
    (applied,) = updates.applied
    assert (applied.sign, applied.offset, applied.order_id) == (-1, 2, "o1")
    assert applied.units == {"p1": 2, "p2": 1, "p3": 3}
    assert applied.revenue == {"p1": 4.0, "p2": 2.0, "p3": 6.0}


def test_a_cancellation_before_its_order_is_kept_and_the_order_then_counts_nothing() -> None:
    tables = Tables()
    early = run(tables, [cancellation("o1")])
    assert early.unmatched_adjustments == 1 and early.applied == []
    ledger = SeenOrder.from_json(tables.seen[key_of("s1", "o1")])
    assert ledger is not None and ledger.offset is None and ledger.cancelled == 0
    updates = run(tables, [BIG, OTHER], start=1)
    assert nonzero(tables) == ({("s1", "p1"): (1, 1)}, {("s1", "toys"): 1})
    assert [a.order_id for a in updates.applied] == ["o2"]  # the cancelled order adds nothing


def test_duplicate_cancellations_and_refunds_count_once() -> None:
    tables = Tables()
    run(tables, [BIG, refund("o1", "r1", [("p3", 1)]), refund("o1", "r1", [("p3", 1)])])
    updates = run(tables, [refund("o1", "r1", [("p3", 1)]), cancellation("o1")], start=3)
    assert updates.duplicate_refunds == 1
    run(tables, [cancellation("o1")], start=5)
    assert nonzero(tables) == ({}, {})
    assert tables.stores["s1"][0] == 0


def test_partial_refunds_keep_the_order_while_units_remain() -> None:
    tables = Tables()
    run(tables, [BIG])
    first = run(tables, [refund("o1", "r1", [("p1", 1), ("p3", 3)])], start=1)
    # p1 keeps one unit (still in one order); p3 is gone, and garden with it
    assert nonzero(tables) == (
        {("s1", "p1"): (1, 1), ("s1", "p2"): (1, 1)},
        {("s1", "toys"): 1},
    )
    assert first.applied[0].units == {"p1": 1, "p3": 3} and first.applied[0].sign == -1
    # refunding more than was bought subtracts only what is left; unknown products nothing
    last = run(tables, [refund("o1", "r2", [("p1", 5), ("p2", 1), ("zz", 4)])], start=2)
    assert last.applied[0].units == {"p1": 1, "p2": 1}
    assert nonzero(tables) == ({}, {})
    assert tables.stores["s1"][0] == 0
    # a cancellation after everything came back changes nothing and lists nothing
    assert run(tables, [cancellation("o1")], start=3).applied == []


def test_a_refund_before_its_order_reduces_what_the_order_adds() -> None:
    tables = Tables()
    run(tables, [refund("o1", "r1", [("p3", 2)])])
    updates = run(tables, [BIG], start=1)
    assert updates.applied[0].units == {"p1": 2, "p2": 1, "p3": 1}
    assert nonzero(tables)[0][("s1", "p3")] == (1, 1)


def test_a_replay_of_a_cancellation_subtracts_nothing_more() -> None:
    tables = Tables()
    run(tables, [BIG, OTHER])
    batch = [cancellation("o1")]
    run(tables, batch, start=2)
    before = nonzero(tables)
    replay = run(tables, batch, start=2)
    assert nonzero(tables) == before
    assert [(a.offset, a.sign) for a in replay.applied] == [(2, -1)]  # re-listed, same offset


def test_an_order_remembered_without_contents_learns_them_from_its_cancellation() -> None:
    tables = Tables()
    run(tables, [BIG])
    # what a worker before this version wrote: [offset, partition, time] only
    tables.seen[key_of("s1", "o1")] = [0, 0, -1]
    run(tables, [cancellation("o1", lines=[("p1", 2, "toys"), ("p2", 1, "toys")])], start=1)
    assert nonzero(tables) == ({("s1", "p3"): (3, 1)}, {("s1", "garden"): 1})


def test_refunds_past_the_bound_are_rejected() -> None:
    tables = Tables()
    events = [BIG] + [refund("o1", f"r{i}", [("zz", 1)]) for i in range(MAX_REFUNDS_PER_ORDER + 2)]
    updates = run(tables, events)
    assert len(updates.rejected) == 2
    assert updates.applied_refunds == MAX_REFUNDS_PER_ORDER


def test_ledger_round_trips_through_json() -> None:
    tables = Tables()
    run(tables, [BIG, refund("o1", "r1", [("p1", 1)]), cancellation("o2")])
    for raw in tables.seen.values():
        ledger = SeenOrder.from_json(raw)
        assert ledger is not None and SeenOrder.from_json(ledger.to_json()) == ledger
    assert SeenOrder.from_json([5, 1, 100]) == SeenOrder(5, 1, 100)


def test_an_expired_cancellation_marker_is_forgotten_and_the_order_counts() -> None:
    day = 86400
    t0 = datetime(2024, 1, 1, tzinfo=UTC).timestamp()

    def timed(event: OrderEvent, t: float) -> OrderEvent:
        return event.model_copy(update={"created_at": datetime.fromtimestamp(t, tz=UTC)})

    tables = Tables()
    apply(tables, table_writes(plan_with(tables, [timed(cancellation("o1"), t0)], 0, day)))
    late = [order("o9", lines=[("p9", 1, "x")], at=t0 + 3 * day), timed(BIG, t0 + 3 * day)]
    apply(tables, table_writes(plan_with(tables, late, 1, day)))
    assert nonzero(tables)[0][("s1", "p1")] == (2, 1)


def plan_with(
    tables: Tables, events: list[OrderEvent], start: int, retention_s: int
) -> PopularityUpdates:
    return plan_updates(
        at(events, start=start),
        read_sold=lambda k: SoldCount.from_json(tables.sold.get(k)),
        read_category=lambda k: CategoryTally.from_json(tables.categories.get(k)),
        read_seen=lambda k: SeenOrder.from_json(tables.seen.get(k)),
        read_store_orders=lambda s: CategoryTally.from_json(tables.stores.get(s)),
        retention=Retention(retention_s),
    )


# --------------------------------------------------------------------------------------------
# Property: orders, cancellations and refunds in any delivery order, duplicated, with crashes
# --------------------------------------------------------------------------------------------

PRODUCTS = ["p0", "p1", "p2", "p3"]
line_st = st.tuples(
    st.sampled_from(PRODUCTS), st.integers(1, 4), st.sampled_from(["toys", "garden", None])
)


@st.composite
def histories(draw: st.DrawFn) -> list[OrderEvent]:
    """Orders of a few stores, cancellations and refunds of some of them (and of orders that
    never come), every event possibly delivered twice, all in a random order."""
    events: list[OrderEvent] = []
    for n in range(draw(st.integers(1, 14))):
        store = draw(st.sampled_from(STORES))
        oid = f"o{n}"
        lines = draw(st.lists(line_st, min_size=1, max_size=4))
        if draw(st.booleans()) or n % 5 != 4:  # some orders never arrive
            events.append(order(oid, store, lines))
        if draw(st.integers(0, 3)) == 0:
            events.append(cancellation(oid, store))
        for r in range(draw(st.integers(0, 2))):
            refunded = draw(
                st.lists(st.tuples(st.sampled_from(PRODUCTS), st.integers(1, 3)), min_size=1)
            )
            events.append(refund(oid, f"r{r}", refunded, store))
    copies = [e for e in events if draw(st.integers(0, 3)) == 0]
    out = events + copies
    return draw(st.permutations(out))


@dataclass
class RecordingWorker(SimulatedWorker):
    """Also keeps what every planned batch listed as applied, by (partition, offset)."""

    applied: dict[tuple[int, int], AppliedOrder] = field(default_factory=dict)

    def process(self, batch: list[OrderAtOffset], crash_after_writes: int | None) -> bool:
        updates = self.memory.plan(batch)
        for applied in updates.applied:
            known = self.applied.setdefault((applied.partition, applied.offset), applied)
            assert known == applied, "a replay must list exactly what the first pass listed"
        return self._write(updates, crash_after_writes)

    def _write(self, updates: PopularityUpdates, crash_after_writes: int | None) -> bool:
        writes = table_writes(updates)
        for n, (partition, table, key, value) in enumerate(writes):
            if crash_after_writes is not None and n >= crash_after_writes:
                return False
            getattr(self.memory, table)[key] = value
            self.pending.setdefault((table, partition), []).append((key, value))
            if self.rng.random() < 0.3:
                self.flush_some()
        return True


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=histories(),
    seed=st.integers(0, 2**32 - 1),
    partitions=st.integers(1, 3),
    max_crashes=st.integers(0, 4),
    local_store=st.booleans(),
)
def test_any_delivery_of_orders_cancellations_and_refunds_ends_at_the_ground_truth(
    events: list[OrderEvent], seed: int, partitions: int, max_crashes: int, local_store: bool
) -> None:
    rng = random.Random(seed)
    log: dict[int, list[OrderEvent]] = {p: [] for p in range(partitions)}
    for e in events:
        log[STORES.index(e.store_id) % partitions].append(e)
    delivered = [e for p in range(partitions) for e in log[p]]  # offset order per partition
    worker = RecordingWorker(log, rng)
    crashes = 0
    for _ in range(10_000):
        batch = worker.next_batch(rng.randint(1, 8))
        if not batch:
            break
        crash_at = rng.randint(0, 12) if crashes < max_crashes and rng.random() < 0.25 else None
        if not worker.process(batch, crash_at):
            crashes += 1
            worker.crash(local_store)
            continue
        if rng.random() < 0.4:
            worker.commit()
        if crashes < max_crashes and rng.random() < 0.1:
            crashes += 1
            worker.crash(local_store)
    else:
        raise AssertionError("simulation did not finish")
    worker.commit()
    want_sold, want_cats, want_stores = net_ground_truth(delivered)
    assert (want_sold, want_cats) == ground_truth(delivered)
    assert nonzero(worker.memory) == (want_sold, want_cats)
    worker.recover()
    assert nonzero(worker.memory) == (want_sold, want_cats)
    stores = {s: v[0] for s, v in worker.memory.stores.items() if v[0]}
    assert stores == want_stores
    # the applied list, each (partition, offset) once, nets to the same units per product
    net: dict[tuple[str, str], int] = {}
    for applied in worker.applied.values():
        for pid, units in applied.units.items():
            key = (applied.store_id, pid)
            net[key] = net.get(key, 0) + applied.sign * units
    assert {k: v for k, v in net.items() if v} == {k: v[0] for k, v in want_sold.items()}


def test_every_event_is_applied_duplicate_or_rejected() -> None:
    events = [BIG, OTHER, cancellation("o1"), cancellation("o1"), refund("o2", "r", [("p1", 1)])]
    events += [refund("o2", "r", [("p1", 1)]), BIG, cancellation("o7")]
    u = Tables().plan(at(events))
    applied = u.applied_orders + u.applied_cancellations + u.applied_refunds
    duplicates = u.duplicate_orders + u.duplicate_cancellations + u.duplicate_refunds
    assert applied + duplicates + len(u.rejected) == len(events)
    assert (applied, duplicates, u.unmatched_adjustments) == (5, 3, 1)
