"""The read model's pure parts: batch writes, rebuild from the tables, outage bookkeeping."""

from __future__ import annotations

from typing import Any

from popularity import (
    CategoryTally,
    OrderAtOffset,
    PopularityUpdates,
    SoldCount,
    key_of,
    plan_updates,
)
from popularity.readmodel_plan import (
    ReadModelState,
    StoreWrites,
    attach_counts,
    chunks,
    label_changes,
    popularity_writes,
    rebuild_updates,
)
from tests.factories import order


class Tables:
    """What a worker's tables hold after folding batches, plus the read model writes merged."""

    def __init__(self) -> None:
        self.sold: dict[str, list[int]] = {}
        self.categories: dict[str, list[int]] = {}
        self.stores: dict[str, list[int]] = {}
        self.seen: dict[str, int] = {}
        self.labels: dict[str, list[str]] = {}
        self.redis: dict[str, StoreWrites] = {}

    def fold(self, batch: list[OrderAtOffset]) -> PopularityUpdates:
        updates = plan_updates(
            batch,
            lambda k: SoldCount.from_json(self.sold.get(k)),
            lambda k: CategoryTally.from_json(self.categories.get(k)),
            self.seen.get,
            lambda s: CategoryTally.from_json(self.stores.get(s)),
        )
        self.sold.update({k: v.to_json() for k, v in updates.sold.items()})
        self.categories.update({k: v.to_json() for k, v in updates.categories.items()})
        self.stores.update({k: v.to_json() for k, v in updates.store_orders.items()})
        self.seen.update({k: off for k, (_p, off) in updates.seen.items()})
        self.labels.update(label_changes(updates, self.labels.get))
        for store, w in popularity_writes(updates).items():
            merge(self.redis.setdefault(store, StoreWrites()), w)
        return updates


def merge(into: StoreWrites, w: StoreWrites) -> None:
    """What Redis holds after applying ``w`` on top (ZADD/HSET/SET overwrite member by member)."""
    into.orders.update(w.orders)
    into.units.update(w.units)
    for c, m in w.by_category.items():
        into.by_category.setdefault(c, {}).update(m)
    into.product_categories.update(w.product_categories)
    into.titles.update(w.titles)
    into.category_orders.update(w.category_orders)
    if w.store_orders is not None:
        into.store_orders = w.store_orders


def history() -> list[list[OrderAtOffset]]:
    b1 = [
        OrderAtOffset(
            0, 0, order("o1", "s1", [("p1", 2, "toys", "Kite"), ("p2", 1, "home", "Lamp")])
        ),
        OrderAtOffset(3, 0, order("o9", "s2", [("q1", 1, "food", "Tea")])),
    ]
    b2 = [
        OrderAtOffset(0, 1, order("o2", "s1", [("p1", 1, "toys", None), ("p3", 4, None, "Mug")])),
        OrderAtOffset(0, 2, order("o1", "s1", [("p1", 9, "toys", "Kite")])),
    ]  # a duplicate id
    return [b1, b2]


def test_rebuilding_from_the_tables_gives_what_the_batches_wrote() -> None:
    t = Tables()
    for batch in history():
        t.fold(batch)
    rebuilt = popularity_writes(
        rebuild_updates(
            t.sold.items(), t.categories.items(), t.stores.items(), t.labels.get, partitions={0, 3}
        )
    )
    assert rebuilt == t.redis
    s1 = rebuilt["s1"]
    assert s1.orders == {"p1": 2, "p2": 1, "p3": 1} and s1.units == {"p1": 3, "p2": 1, "p3": 4}
    assert s1.titles == {"p1": "Kite", "p2": "Lamp", "p3": "Mug"}  # p1's title kept from o1
    assert s1.by_category == {"toys": {"p1": 2}, "home": {"p2": 1}, "uncategorized": {"p3": 1}}
    assert s1.store_orders == 2 and s1.category_orders == {"toys": 2, "home": 1, "uncategorized": 1}


def test_rebuild_leaves_out_partitions_this_worker_does_not_own() -> None:
    t = Tables()
    for batch in history():
        t.fold(batch)
    only_s2 = rebuild_updates(
        t.sold.items(), t.categories.items(), t.stores.items(), t.labels.get, partitions={3}
    )
    assert set(popularity_writes(only_s2)) == {"s2"}
    one_store = rebuild_updates(
        t.sold.items(),
        t.categories.items(),
        t.stores.items(),
        t.labels.get,
        partitions={0, 3},
        stores={"s1"},
    )
    assert set(popularity_writes(one_store)) == {"s1"}


def test_labels_are_written_only_when_new_or_changed() -> None:
    t = Tables()
    t.fold(history()[0])
    again = plan_updates(
        [OrderAtOffset(0, 5, order("o5", "s1", [("p1", 1, "toys", "Kite")]))],
        lambda k: SoldCount.from_json(t.sold.get(k)),
        lambda k: None,
        t.seen.get,
    )
    assert label_changes(again, t.labels.get) == {}
    renamed = plan_updates(
        [OrderAtOffset(0, 6, order("o6", "s1", [("p1", 1, "outdoor", None)]))],
        lambda k: SoldCount.from_json(t.sold.get(k)),
        lambda k: None,
        t.seen.get,
    )
    assert label_changes(renamed, t.labels.get) == {key_of("s1", "p1"): ["outdoor", "Kite"]}


def test_attach_counts_keep_owned_stores_only() -> None:
    rows = [(key_of("s1", "p1"), 3), (key_of("s1", "p2"), 1), (key_of("s2", "p9"), 7)]
    assert attach_counts(rows, None, lambda s: s == "s1") == {"s1": {"p1": 3, "p2": 1}}
    assert attach_counts(rows, {"s2"}, lambda s: True) == {"s2": {"p9": 7}}
    assert chunks({"b", "a", "c"}, 2) == [["a", "b"], ["c"]]


def test_state_starts_behind_without_failing_and_tracks_an_outage() -> None:
    s = ReadModelState(pending_max=2)
    assert s.behind and not s.failing and s.needs_full_pass(({0}, set()))
    s.caught_up(({0}, set()))
    assert not s.behind and not s.needs_full_pass(({0}, set()))
    assert s.needs_full_pass(({0, 1}, set()))  # a rebalance brought partition 1
    s.fell_behind("redis down", now=10.0)
    s.fell_behind("still down", now=12.0)
    assert s.failing and s.behind_since == 10.0 and s.report(15.0)["behind_for_s"] == 5.0
    s.touched("popularity", ["s1", "s2"])
    s.touched("attach", ["s1"])
    writes: list[Any] = ["w1", "w2", "w3"]
    for w in writes:
        s.defer(w)
    assert list(s.pending) == ["w2", "w3"] and s.dropped == 1
    taken = [s.take_dirty(10), s.take_dirty(10), s.take_dirty(10)]
    assert (
        sorted(taken[0][1]) == ["s1", "s2"] and taken[1] == ("attach", ["s1"]) and taken[2] is None
    )
    s.caught_up(({0, 1}, set()))
    assert not s.failing and s.report(20.0)["behind_for_s"] is None
