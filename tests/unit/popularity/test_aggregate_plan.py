"""``popularity.plan_updates``: exact counts under at-least-once replay, partial writes and duplicates.

The tables are modelled as changelog streams (one per table and source partition) the way Faust
keeps them: the worker's memory sees every write at once, the broker only the writes flushed so
far; a crash keeps any prefix of each stream's unflushed writes; a commit flushes everything first
(Faust's ``Consumer.commit`` awaits ``producer.flush()``), so the committed input offset never
runs ahead of durable table state.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models import OrderEvent
from popularity import (
    CategoryTally,
    OrderAtOffset,
    PopularityUpdates,
    SeenOrder,
    SoldCount,
    ground_truth,
    key_of,
    plan_updates,
    split_key,
    writes_by_partition,
)
from tests.examples import examples
from tests.factories import order

TABLES = ("sold", "categories", "stores", "seen")


@dataclass
class Tables:
    """Latest value per key of the four orders tables (what a worker reads)."""

    sold: dict[str, list[int]] = field(default_factory=dict)
    categories: dict[str, list[int]] = field(default_factory=dict)
    stores: dict[str, list[int]] = field(default_factory=dict)
    seen: dict[str, Any] = field(default_factory=dict)  # the ledgers, as JSON

    def plan(self, batch: Sequence[OrderAtOffset]) -> PopularityUpdates:
        return plan_updates(
            batch,
            read_sold=lambda k: SoldCount.from_json(self.sold.get(k)),
            read_category=lambda k: CategoryTally.from_json(self.categories.get(k)),
            read_seen=lambda k: SeenOrder.from_json(self.seen.get(k)),
            read_store_orders=lambda s: CategoryTally.from_json(self.stores.get(s)),
        )

    def counts(self) -> tuple[dict[tuple[str, str], tuple[int, int]], dict[tuple[str, str], int]]:
        sold = {tuple(split_key(k)): (v[0], v[1]) for k, v in self.sold.items()}
        cats = {tuple(split_key(k)): v[0] for k, v in self.categories.items()}
        return sold, cats  # type: ignore[return-value]


def table_writes(updates: PopularityUpdates) -> list[tuple[int, str, str, Any]]:
    """(source partition, table, key, value) in the order the orders agent writes them."""
    out: list[tuple[int, str, str, Any]] = []
    for partition, w in writes_by_partition(updates).items():
        out += [(partition, "sold", k, updates.sold[k].to_json()) for k in w.sold]
        out += [(partition, "categories", k, updates.categories[k].to_json()) for k in w.categories]
        out += [(partition, "stores", k, updates.store_orders[k].to_json()) for k in w.stores]
        out += [(partition, "seen", k, updates.seen_value(k).to_json()) for k in w.seen]
    return out


def apply(tables: Tables, writes: Sequence[tuple[int, str, str, Any]]) -> None:
    for _partition, table, key, value in writes:
        getattr(tables, table)[key] = value


def at(
    offset_orders: Sequence[OrderEvent], partition: int = 0, start: int = 0
) -> list[OrderAtOffset]:
    return [OrderAtOffset(partition, start + i, o) for i, o in enumerate(offset_orders)]


def test_counts_units_and_orders_per_product_and_once_per_category() -> None:
    tables = Tables()
    batch = at(
        [
            order(
                "o1",
                lines=[
                    ("p1", 2, "toys"),
                    ("p2", 1, "toys"),
                    ("p3", 5, "garden"),
                    ("p1", 3, "toys"),
                ],
            ),
            order("o2", lines=[("p1", 1, None), ("p4", 1, "  ")]),
        ]
    )
    updates = tables.plan(batch)
    apply(tables, table_writes(updates))
    sold, cats = tables.counts()
    assert sold == {
        ("s1", "p1"): (6, 2),
        ("s1", "p2"): (1, 1),
        ("s1", "p3"): (5, 1),
        ("s1", "p4"): (1, 1),
    }
    # o1 touches toys twice and garden once: one transaction each; missing/blank category -> uncategorized
    assert cats == {("s1", "toys"): 1, ("s1", "garden"): 1, ("s1", "uncategorized"): 1}
    assert tables.stores == {"s1": [2, 0, 1]}
    assert (sold, cats) == ground_truth([b.order for b in batch])
    assert updates.applied_orders == 2 and updates.duplicate_orders == 0


def test_replay_of_an_applied_batch_changes_nothing() -> None:
    tables = Tables()
    batch = at([order(f"o{i}", lines=[("p1", 1, "a"), (f"p{i}", 2, "b")]) for i in range(5)])
    apply(tables, table_writes(tables.plan(batch)))
    before = Tables(**{t: dict(getattr(tables, t)) for t in TABLES})
    replay = tables.plan(batch)
    # a replay re-emits the current values unchanged (so a lagging read model catches up), nothing new
    for _partition, table, key, value in table_writes(replay):
        assert getattr(before, table)[key] == value, (table, key)
    # markers too: a RocksDB worker killed mid-batch may hold markers its changelog never got
    assert replay.seen == {
        key: (0, SeenOrder.from_json(raw).offset) for key, raw in before.seen.items()
    }
    assert replay.replayed_orders == 5 and replay.duplicate_orders == 0
    apply(tables, table_writes(replay))
    assert tables == before


def test_replay_from_the_middle_of_a_batch_changes_nothing() -> None:
    tables = Tables()
    batch = at([order(f"o{i}", lines=[("p1", 1, "a")]) for i in range(6)])
    apply(tables, table_writes(tables.plan(batch)))
    replay = table_writes(tables.plan(batch[3:]))
    assert replay and all(getattr(tables, table)[key] == value for _p, table, key, value in replay)
    apply(tables, replay)
    assert tables.counts()[0] == {("s1", "p1"): (6, 6)}


def test_every_prefix_and_every_subset_of_partial_writes_then_replay_is_exact() -> None:
    orders = [
        order("o1", lines=[("p1", 1, "a"), ("p2", 2, "b")]),
        order("o2", lines=[("p2", 1, "b")]),
        order("o3", lines=[("p3", 4, "a"), ("p1", 1, "c")]),
    ]
    batch = at(orders, start=10)
    expected = ground_truth(orders)
    writes = table_writes(Tables().plan(batch))
    rng = random.Random(7)
    subsets = [writes[:n] for n in range(len(writes) + 1)]
    subsets += [[w for w in writes if rng.random() < 0.5] for _ in range(200)]
    for survived in subsets:
        tables = Tables()
        apply(tables, survived)
        apply(tables, table_writes(tables.plan(batch)))  # the replay after the crash
        assert tables.counts() == expected, survived
        assert tables.stores["s1"][0] == 3


def test_duplicate_order_ids_at_other_offsets_are_dropped_even_with_other_content() -> None:
    tables = Tables()
    first = order("o1", lines=[("p1", 1, "a")])
    copy = order("o1", lines=[("p1", 9, "a"), ("p2", 1, "z")])
    updates = tables.plan(at([first, copy, order("o2"), copy]))
    assert updates.duplicate_orders == 2 and updates.applied_orders == 2
    apply(tables, table_writes(updates))
    later = tables.plan(at([copy], start=100))  # redelivered much later, in another batch
    assert later.duplicate_orders == 1 and table_writes(later) == []
    assert tables.counts() == ({("s1", "p1"): (2, 2)}, {("s1", "a"): 1, ("s1", "toys"): 1})
    assert {k: SeenOrder.from_json(v).offset for k, v in tables.seen.items()} == {
        key_of("s1", "o1"): 0,
        key_of("s1", "o2"): 2,
    }


def test_same_order_id_in_two_stores_is_two_orders() -> None:
    tables = Tables()
    apply(tables, table_writes(tables.plan(at([order("o1", "s1"), order("o1", "s2")]))))
    assert tables.counts()[0] == {("s1", "p1"): (1, 1), ("s2", "p1"): (1, 1)}


def test_writes_are_grouped_by_the_source_partition_of_their_key() -> None:
    batch = at([order("a", "s1")], partition=0) + at(
        [order("b", "s2"), order("c", "s2")], partition=3
    )
    groups = writes_by_partition(Tables().plan(batch))
    assert groups[0].sold == [key_of("s1", "p1")] and groups[0].stores == ["s1"]
    assert groups[3].sold == [key_of("s2", "p1")] and sorted(groups[3].seen) == [
        key_of("s2", "b"),
        key_of("s2", "c"),
    ]


# --------------------------------------------------------------------------------------------
# Property: random histories, random batches, random crashes with partial flushes, replays
# --------------------------------------------------------------------------------------------

STORES = ("s0", "s1", "s2", "s3")
line_st = st.tuples(
    st.sampled_from(["p0", "p1", "p2", "p3", "p4"]),
    st.integers(1, 5),
    st.sampled_from(["toys", "garden", "food", None]),
)
order_st = st.builds(
    lambda oid, store, lines: order(f"o{oid}", store, lines),
    st.integers(0, 25),
    st.sampled_from(STORES),
    st.lists(line_st, min_size=1, max_size=4),
)


@dataclass
class SimulatedWorker:
    """Faust semantics for one consumer group member: memory tables, changelog streams, commits."""

    log: dict[int, list[OrderEvent]]
    rng: random.Random
    durable: dict[tuple[str, int], list[tuple[str, Any]]] = field(default_factory=dict)
    pending: dict[tuple[str, int], list[tuple[str, Any]]] = field(default_factory=dict)
    committed: dict[int, int] = field(default_factory=dict)
    position: dict[int, int] = field(default_factory=dict)
    memory: Tables = field(default_factory=Tables)

    def recover(self) -> None:
        """Restart: tables rebuilt from the durable changelogs, consumption from the commits."""
        self.memory = Tables()
        for (table, _partition), stream in self.durable.items():
            for key, value in stream:
                getattr(self.memory, table)[key] = value
        self.pending = {}
        self.position = dict(self.committed)

    def next_batch(self, size: int) -> list[OrderAtOffset]:
        """Up to ``size`` events, interleaving partitions, each partition in offset order."""
        batch: list[OrderAtOffset] = []
        while len(batch) < size:
            open_parts = [
                p for p, events in self.log.items() if self.position.get(p, 0) < len(events)
            ]
            if not open_parts:
                break
            p = self.rng.choice(open_parts)
            offset = self.position.get(p, 0)
            batch.append(OrderAtOffset(p, offset, self.log[p][offset]))
            self.position[p] = offset + 1
        return batch

    def process(self, batch: list[OrderAtOffset], crash_after_writes: int | None) -> bool:
        """Plan, then write; with ``crash_after_writes`` the process dies after that many writes."""
        writes = table_writes(self.memory.plan(batch))
        for n, (partition, table, key, value) in enumerate(writes):
            if crash_after_writes is not None and n >= crash_after_writes:
                return False
            getattr(self.memory, table)[key] = value
            self.pending.setdefault((table, partition), []).append((key, value))
            if self.rng.random() < 0.3:  # the producer sends whenever it likes
                self.flush_some()
        return crash_after_writes is None or crash_after_writes >= len(writes)

    def flush_some(self) -> None:
        for stream, queued in self.pending.items():
            keep = self.rng.randint(0, len(queued))
            self.durable.setdefault(stream, []).extend(queued[:keep])
            del queued[:keep]

    def commit(self) -> None:
        for stream, queued in self.pending.items():
            self.durable.setdefault(stream, []).extend(queued)
            queued.clear()
        self.committed = dict(self.position)

    def crash(self, local_store: bool = False) -> None:
        self.flush_some()  # whatever reached the broker survives; the rest is lost
        if not local_store:
            self.recover()
            return
        # RocksDB: the tables survive on disk, ahead of the changelogs by the unsent writes; the
        # restart re-applies the changelog records past the last acknowledged one (a random tail)
        for (table, _partition), stream in self.durable.items():
            for key, value in stream[len(stream) - self.rng.randint(0, min(3, len(stream))) :]:
                getattr(self.memory, table)[key] = value
        self.pending = {}
        self.position = dict(self.committed)


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    orders=st.lists(order_st, min_size=1, max_size=60),
    seed=st.integers(0, 2**32 - 1),
    partitions=st.integers(1, 3),
    max_crashes=st.integers(0, 4),
    local_store=st.booleans(),
)
def test_random_histories_with_crashes_and_replays_equal_ground_truth(
    orders: list[OrderEvent],
    seed: int,
    partitions: int,
    max_crashes: int,
    local_store: bool,
) -> None:
    """Memory store (a crash loses the tables) and RocksDB (they survive, ahead of the changelog)."""
    rng = random.Random(seed)
    log: dict[int, list[OrderEvent]] = {p: [] for p in range(partitions)}
    for o in orders:  # keyed by store: one store's orders on one partition, in input order
        log[STORES.index(o.store_id) % partitions].append(o)
    worker = SimulatedWorker(log, rng)
    crashes = 0
    for _ in range(
        10_000
    ):  # bounded: every iteration consumes >= 1 event or crashes (<= max_crashes)
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
        if crashes < max_crashes and rng.random() < 0.1:  # crash between batches, before a commit
            crashes += 1
            worker.crash(local_store)
    else:
        raise AssertionError("simulation did not finish")
    worker.commit()
    assert worker.memory.counts() == ground_truth(orders)  # what the worker itself holds
    worker.recover()  # the final state is what a fresh worker recovers from the changelogs
    assert worker.memory.counts() == ground_truth(orders)
    distinct = {(o.store_id, o.order_id) for o in orders}
    assert sum(v[0] for v in worker.memory.stores.values()) == len(distinct)
    assert set(worker.memory.seen) == {key_of(*k) for k in distinct}


def test_applied_orders_list_new_and_replayed_orders_but_not_duplicates() -> None:
    tables = Tables()
    first = order("o1", lines=(("p1", 2, "toys"), ("p2", 1, "toys"), ("p1", 1, "toys")), price=2.5)
    updates = tables.plan(at([first, order("o1")], start=10))
    assert [(a.order_id, a.offset, a.sign) for a in updates.applied] == [("o1", 10, 1)]
    assert updates.applied[0].units == {"p1": 3, "p2": 1}
    assert updates.applied[0].revenue == {"p1": 7.5, "p2": 2.5}
    apply(tables, table_writes(updates))
    replay = tables.plan(at([first], start=10))
    assert [(a.order_id, a.offset) for a in replay.applied] == [("o1", 10)]
