"""``popularity.retention`` and the dedupe window in ``plan_updates``: bounded, never deletes a live id."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models import OrderEvent
from popularity import CategoryTally, OrderAtOffset, Retention, SoldCount, key_of, plan_updates
from popularity.retention import (
    ExpiryIndex,
    SeenOrder,
    TopN,
    chunks,
    clamp_event_time,
    should_delete,
)
from tests import factories
from tests.examples import examples

DAY = 24 * 3600
T0 = 1_700_000_000  # an order time in 2023


def order(
    order_id: str, time_s: float, store: str = "s1", product: str = "p1", quantity: int = 1
) -> OrderEvent:
    """One line of ``product`` (category toys) ordered at ``time_s``."""
    return factories.order(order_id, store, [(product, quantity, "toys")], at=time_s)


# -- the value format -------------------------------------------------------------------------


def test_seen_order_round_trips_and_reads_the_old_bare_offset() -> None:
    seen = SeenOrder(offset=41, partition=3, time_s=T0)
    assert SeenOrder.from_json(seen.to_json()) == seen
    assert SeenOrder.from_json(17) == SeenOrder(17, None, None)  # written before retention existed
    assert SeenOrder.from_json(None) is None
    assert SeenOrder.from_json(SeenOrder(5).to_json()) == SeenOrder(5)


def test_future_order_times_are_capped_at_the_wall_clock_plus_slack() -> None:
    assert clamp_event_time(T0 + 10 * DAY, now_s=T0, max_future_s=DAY) == T0 + DAY
    assert clamp_event_time(T0 - 5, now_s=T0, max_future_s=DAY) == T0 - 5
    retention = Retention(7 * DAY, now_s=T0, max_future_s=3600)
    assert retention.order_time(order("o", T0 + 30 * DAY)) == T0 + 3600
    assert Retention(7 * DAY).order_time(order("o", T0 + 30 * DAY)) == T0 + 30 * DAY


# -- the index --------------------------------------------------------------------------------


def test_index_hands_out_only_whole_buckets_past_the_horizon_in_bounded_chunks() -> None:
    index = ExpiryIndex(retention_s=100, bucket_s=10)
    for i in range(50):
        index.observe(0, f"k{i}", 1000 + i)  # buckets 100..104
    assert index.watermark(0) == 1049 and index.horizon(0) == 949
    assert index.take_expired(0, 1000) == []  # nothing is older than the horizon
    index.advance(0, 1125)  # horizon 1025: buckets 100 and 101 are wholly past it
    first = index.take_expired(0, 15)
    assert len(first) == 15 and all(t < 1020 for _, t in first)
    rest = index.take_expired(0, 15)
    assert len(rest) == 5 and all(t < 1020 for _, t in rest)
    assert {k for k, _ in first + rest} == {f"k{i}" for i in range(20)}
    assert index.take_expired(0, 15) == []  # k20..k24 are expired but their bucket is not whole
    assert index.is_expired(0, 1024) and not index.is_expired(0, 1025)
    assert index.size(0) == 30


def test_watermark_never_moves_back_and_partitions_are_independent() -> None:
    index = ExpiryIndex(retention_s=100, bucket_s=10)
    index.observe(0, "a", 1000)
    index.observe(0, "b", 500)  # a late order: tracked, watermark stays
    index.observe(1, "c", 5000)
    assert index.watermark(0) == 1000 and index.watermark(1) == 5000
    assert [k for k, _ in index.take_expired(0, 10)] == ["b"]
    assert index.take_expired(1, 10) == [] and index.size(1) == 1
    index.drop_partition(1)
    assert index.watermark(1) is None and index.size() == 1


def test_reobserving_a_key_moves_it_to_its_newest_time() -> None:
    index = ExpiryIndex(retention_s=100, bucket_s=10)
    index.observe(0, "session", 1000)
    index.observe(0, "session", 1090)  # touched again
    index.observe(0, "session", 1050)  # an older time does not move it back
    index.advance(0, 1150)
    assert index.take_expired(0, 10) == [] and index.size(0) == 1
    index.advance(0, 1200)
    assert index.take_expired(0, 10) == [("session", 1090)]
    index.observe(0, "x", 1)
    index.forget(0, "x")
    assert index.size(0) == 0


def test_default_bucket_width_divides_the_window() -> None:
    assert ExpiryIndex(7 * DAY).bucket_s == 7 * DAY // 48
    with pytest.raises(ValueError):
        ExpiryIndex(0)


def test_a_rewritten_key_is_not_deleted() -> None:
    assert should_delete(10, horizon=20)
    assert not should_delete(20, horizon=20)  # exactly at the horizon is still live
    assert not should_delete(30, horizon=20)
    assert not should_delete(None, horizon=20)
    assert not should_delete(10, horizon=None)
    assert not should_delete(10, horizon=20, present=False)
    assert [list(c) for c in chunks([("a", 1), ("b", 2), ("c", 3)], 2)] == [
        [("a", 1), ("b", 2)],
        [("c", 3)],
    ]


# -- the dedupe window in plan_updates --------------------------------------------------------


class DedupeWorker:
    """The orders agent's loop without Kafka: plan, write, index, expire (what agents.orders does)."""

    def __init__(
        self, retention_s: int, bucket_s: int | None = None, expire_per_batch: int = 10_000
    ) -> None:
        self.retention_s = retention_s
        self.index = ExpiryIndex(retention_s, bucket_s)
        self.seen: dict[str, list[int] | int] = {}
        self.sold: dict[str, list[int]] = {}
        self.stores: dict[str, list[int]] = {}
        self.cats: dict[str, list[int]] = {}
        self.expire_per_batch = expire_per_batch
        self.tombstones: list[str] = []
        self.counted_again = 0

    def run(self, batch: list[OrderAtOffset]) -> None:
        marks = {
            p: m for p in {i.partition for i in batch} if (m := self.index.watermark(p)) is not None
        }
        updates = plan_updates(
            batch,
            read_sold=lambda k: SoldCount.from_json(self.sold.get(k)),
            read_category=lambda k: CategoryTally.from_json(self.cats.get(k)),
            read_seen=lambda k: SeenOrder.from_json(self.seen.get(k)),
            read_store_orders=lambda s: CategoryTally.from_json(self.stores.get(s)),
            retention=Retention(self.retention_s, marks),
        )
        self.sold.update({k: v.to_json() for k, v in updates.sold.items()})
        self.cats.update({k: v.to_json() for k, v in updates.categories.items()})
        self.stores.update({k: v.to_json() for k, v in updates.store_orders.items()})
        for key in updates.seen:
            self.seen[key] = updates.seen_value(key).to_json()
            self.index.observe(updates.seen[key][0], key, updates.seen_times[key])
        for partition, mark in updates.watermarks.items():
            self.index.advance(partition, mark)
        self.counted_again += updates.expired_duplicates
        for partition in {i.partition for i in batch}:
            horizon = self.index.horizon(partition)
            for key, _t in self.index.take_expired(partition, self.expire_per_batch):
                stored = SeenOrder.from_json(self.seen.get(key))
                if should_delete(stored and stored.time_s, horizon, stored is not None):
                    del self.seen[key]
                    self.tombstones.append(key)

    def units(self, store: str = "s1", product: str = "p1") -> int:
        return self.sold[key_of(store, product)][0]


def test_a_duplicate_inside_the_window_is_counted_once_and_past_it_again() -> None:
    worker = DedupeWorker(retention_s=7 * DAY, bucket_s=3600)
    worker.run([OrderAtOffset(0, 0, order("o1", T0, quantity=2))])
    worker.run(
        [
            OrderAtOffset(0, 1, order("o1", T0, quantity=5)),  # redelivery, same order time
            OrderAtOffset(0, 2, order("o2", T0 + 6 * DAY)),
        ]
    )
    assert worker.units() == 3  # o1 once + o2
    assert worker.tombstones == []
    worker.run([OrderAtOffset(0, 3, order("o3", T0 + 8 * DAY))])  # the window moves past o1
    assert worker.tombstones == [key_of("s1", "o1")]
    worker.run([OrderAtOffset(0, 4, order("o1", T0, quantity=7))])  # a copy from 8 days ago
    assert worker.units() == 3 + 1 + 7 and worker.counted_again == 0  # o1 was deleted: simply new
    assert key_of("s1", "o1") not in worker.seen  # too old to be remembered


def test_an_id_past_the_window_but_not_yet_deleted_is_already_forgotten() -> None:
    worker = DedupeWorker(
        retention_s=7 * DAY, bucket_s=3600, expire_per_batch=0
    )  # no deletes at all
    worker.run([OrderAtOffset(0, 0, order("o1", T0))])
    worker.run(
        [OrderAtOffset(0, 1, order("o9", T0 + 30 * DAY)), OrderAtOffset(0, 2, order("o1", T0))]
    )
    assert worker.counted_again == 1 and worker.units() == 3


def test_a_replay_of_an_expired_order_at_its_own_offset_is_not_counted_twice() -> None:
    worker = DedupeWorker(retention_s=7 * DAY, bucket_s=3600)
    batch = [OrderAtOffset(0, 0, order("o1", T0)), OrderAtOffset(0, 1, order("o2", T0 + 9 * DAY))]
    worker.run(batch)
    assert key_of("s1", "o1") not in worker.seen
    worker.run(batch)  # at-least-once: the same offsets again
    assert worker.units() == 2


def test_legacy_entries_still_deduplicate() -> None:
    worker = DedupeWorker(retention_s=7 * DAY, bucket_s=3600)
    worker.seen[key_of("s1", "o1")] = 0  # a bare offset from before
    worker.sold[key_of("s1", "p1")] = [1, 1, 0, 0]
    worker.stores["s1"] = [1, 0, 0]
    worker.run([OrderAtOffset(0, 5, order("o1", T0 + 30 * DAY))])
    assert worker.units() == 1


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), batch=st.integers(1, 40), retention_days=st.integers(1, 10))
def test_state_stays_bounded_and_no_live_id_is_ever_deleted(
    seed: int, batch: int, retention_days: int
) -> None:
    """Random orders over 60 days with redeliveries at random lags: the decision on every copy
    matches a plain reference (duplicate iff the first copy is within the window of the partition's
    newest order time), and the table never holds more than the window plus one bucket."""
    rng = random.Random(seed)
    retention_s, bucket_s = retention_days * DAY, 6 * 3600
    worker = DedupeWorker(retention_s, bucket_s)
    offsets = {0: 0, 1: 0}
    stream: list[OrderAtOffset] = []
    firsts: list[tuple[str, str, float]] = []
    for n in range(600):
        t = T0 + n * (60 * DAY / 600) + rng.uniform(-DAY, DAY)
        store = rng.choice(["s1", "s2", "s3"])
        partition = 0 if store == "s1" else 1
        if firsts and rng.random() < 0.3:
            oid, store, t = rng.choice(firsts)  # a redelivery of an earlier order
            partition = 0 if store == "s1" else 1
        else:
            oid = f"o{n}"
            firsts.append((oid, store, t))
        stream.append(OrderAtOffset(partition, offsets[partition], order(oid, t, store=store)))
        offsets[partition] += 1

    # reference: per partition, in offset order
    expected_units: dict[str, int] = {}
    remembered: dict[str, float] = {}
    marks: dict[int, int] = {}
    for item in stream:
        t = int(item.order.created_at.timestamp())
        marks[item.partition] = max(marks.get(item.partition, t), t)
        horizon = marks[item.partition] - retention_s
        key = key_of(item.order.store_id, item.order.order_id)
        if key in remembered and remembered[key] >= horizon:
            continue
        if t >= horizon:
            remembered[key] = t
        expected_units[item.order.store_id] = expected_units.get(item.order.store_id, 0) + 1

    for start in range(0, len(stream), batch):
        worker.run(stream[start : start + batch])
        for partition in (0, 1):
            horizon = worker.index.horizon(partition)
            if horizon is None:
                continue
            live = [k for k, v in worker.seen.items() if v[1] == partition]
            assert all(worker.seen[k][2] >= horizon - bucket_s for k in live)  # bounded
    assert {s: worker.units(s) for s in expected_units} == expected_units
    for key, t in remembered.items():  # nothing live was lost
        partition = 0 if key.startswith("s1") else 1
        if t >= worker.index.horizon(partition):
            assert key in worker.seen
    assert worker.index.size() == len(worker.seen)


# -- attach statistics ------------------------------------------------------------------------


def test_top_n_is_exact_below_n_and_space_saving_beyond() -> None:
    top = TopN(3)
    assert top.increment("s", "a") == (1, [])
    for _ in range(4):
        top.increment("s", "a")
    assert top.increment("s", "b") == (1, [])
    assert top.increment("s", "c") == (1, [])
    assert top.increment("s", "c") == (2, [])
    assert dict(top.members("s")) == {"a": 5, "b": 1, "c": 2}  # below N: exact
    assert top.increment("s", "d") == (2, ["b"])  # takes b's place, inherits 1 + 1
    assert top.increment("s", "e") == (3, ["c"])  # c and d tie at 2: c is staler
    assert dict(top.members("s")) == {"a": 5, "d": 2, "e": 3}
    assert top.increment("other", "x", by=4) == (4, []) and top.size() == 4


def test_a_frequent_newcomer_gets_in_and_stays() -> None:
    top = TopN(10)
    for i in range(10):
        for _ in range(3):
            top.increment("s", f"old{i}")
    for _ in range(5):
        top.increment("s", "hot")
    assert "hot" in top.members("s") and len(top.members("s")) == 10


def test_top_n_trims_what_was_loaded_from_the_table() -> None:
    top = TopN(2)
    for member, count in (("a", 1), ("b", 9), ("c", 4), ("d", 1)):
        top.load("s", member, count)
    assert top.trim_all() == {"s": ["a", "d"]}
    assert dict(top.members("s")) == {"b": 9, "c": 4}
    with pytest.raises(ValueError):
        TopN(0)
