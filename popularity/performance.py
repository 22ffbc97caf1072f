"""Live performance of a store's published bundles, folded from the deduplicated order stream.

Input: the ``AppliedOrder`` entries of ``PopularityUpdates.applied`` (orders with ``sign`` +1,
cancellations and refunds with ``sign`` -1) and the store's latest ok bundle set. Output: one
self-contained record per store (``PerformanceState``) that the orders agent writes to the
``bundle-performance`` table and mirrors to Redis.

What is counted, for the set published at ``generated_at``:

* only orders whose order time is at or after ``generated_at``; earlier ones (late deliveries,
  a replay of old history) do not count, and neither do their cancellations;
* ``orders``: orders placed since publication (the denominator). Cancellations do not lower it:
  the fold keeps only the orders that matter to a bundle, so it cannot tell for every order
  whether a refund emptied it;
* per bundle, an order is *whole* when it holds every product of the bundle and *partial* when
  it holds at least ``min(2, size)`` of them (whole ones included). Its revenue is the revenue of
  the bundle's products in that order, kept in integer cents so sums are exact;
* a cancellation or refund removes what it names from its order: the order's contribution is
  taken out and put back computed on what remains (a refund of one product of a whole order
  turns it into a partial one, or into nothing). This needs what the order held, so every order
  that was partial for at least one bundle is kept in the record (product units and cents).

Bounds: the days of each bundle and the kept orders cover the newest ``days_kept`` UTC days seen
(by order time), and at most ``orders_kept`` orders taking at most ``kept_bytes`` are kept (past
either, the oldest go, down to 90%, so the record stays well under Kafka's 1 MB message size). A
cancellation of an order no longer kept changes nothing. Totals since publication are never
trimmed. A new bundle set replaces the whole record.

Exactness under at-least-once: the record carries the (partition, offset) of the newest applied
entry it includes; a replayed entry at or below it is skipped. All entries of a store come from
one partition, and each record is written whole, so any record is a consistent state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import orjson

from models.performance import BundleDayPerformance, BundlePerformance, StorePerformance

from .aggregate import AppliedOrder

DAY_S = 24 * 3600
FORMAT = 1  # record layout version
# Kept orders of one store take at most about this many bytes of JSON (with ids of up to 200
# characters, a count cap alone would not keep the record under Kafka's 1 MB message size).
KEPT_BYTES_MAX = 512 * 1024


def cents(amount: float) -> int:
    return round(amount * 100)


@dataclass(frozen=True)
class PublishedSet:
    """What the fold needs from a bundle set: its id, time and each bundle's products."""

    upload_id: str
    generated_at_s: int
    bundles: tuple[tuple[str, tuple[str, ...]], ...]  # (bundle_id, distinct product ids)

    @property
    def products(self) -> frozenset[str]:
        return frozenset(p for _bid, pids in self.bundles for p in pids)


def _epoch_s(value: Any) -> int:
    when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp())


def published_from_json(raw: str | bytes | None) -> PublishedSet | None:
    """The ok bundle set in ``raw`` (BundleSet JSON), or None (missing, not ok, unreadable)."""
    if not raw:
        return None
    try:
        doc = orjson.loads(raw)
        if doc.get("status", "ok") != "ok":
            return None
        bundles = []
        for b in doc.get("bundles") or []:
            pids = tuple(dict.fromkeys(str(p["product_id"]) for p in b.get("products") or []))
            if pids:
                bundles.append((str(b["bundle_id"]), pids))
        return PublishedSet(str(doc["upload_id"]), _epoch_s(doc["generated_at"]), tuple(bundles))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None


def partial_threshold(size: int) -> int:
    return min(2, size)


# counts: [orders_whole, orders_partial, cents_whole, cents_partial]
Counts = list[int]
Held = dict[str, list[int]]  # product -> [units, cents] the order still holds


def _zero() -> Counts:
    return [0, 0, 0, 0]


def contribution(pids: Sequence[str], held: Mapping[str, Sequence[int]]) -> Counts:
    """What one order holding ``held`` adds to one bundle's counts."""
    present = [p for p in pids if held.get(p, (0, 0))[0] > 0]
    if len(present) < partial_threshold(len(pids)):
        return _zero()
    revenue = sum(held[p][1] for p in present)
    whole = len(present) == len(pids)
    return [int(whole), 1, revenue if whole else 0, revenue]


def _add(into: Counts, delta: Counts, sign: int) -> None:
    for i in range(4):
        into[i] += sign * delta[i]


def _entry_bytes(order_id: str, held: Held) -> int:
    return len(order_id) + 20 + sum(len(p) + 24 for p in held)


@dataclass
class PerformanceState:
    """One store's record: counts for the set ``upload_id`` as of (partition, offset)."""

    upload_id: str
    generated_at_s: int
    bundles: dict[str, list[str]]
    partition: int = -1
    offset: int = -1
    orders: int = 0
    totals: dict[str, Counts] = field(default_factory=dict)
    days: dict[str, dict[int, Counts]] = field(default_factory=dict)  # bundle -> day -> counts
    kept: dict[str, tuple[int, Held]] = field(default_factory=dict)  # order -> (time_s, held)
    newest_day: int | None = None
    _relevant: frozenset[str] | None = field(default=None, repr=False, compare=False)
    _needed: int | None = field(default=None, repr=False, compare=False)
    _kept_bytes: int | None = field(default=None, repr=False, compare=False)

    def kept_bytes(self) -> int:
        """About the JSON size of the kept orders (maintained as orders come and go)."""
        if self._kept_bytes is None:
            self._kept_bytes = sum(_entry_bytes(o, h) for o, (_t, h) in self.kept.items())
        return self._kept_bytes

    def keep(self, order_id: str, time_s: int, held: Held) -> None:
        self.forget(order_id)
        self.kept[order_id] = (time_s, held)
        self._kept_bytes = self.kept_bytes() + _entry_bytes(order_id, held)

    def forget(self, order_id: str) -> None:
        gone = self.kept.pop(order_id, None)
        if gone is not None and self._kept_bytes is not None:
            self._kept_bytes -= _entry_bytes(order_id, gone[1])

    def needed(self) -> int:
        """The fewest bundle products an order must hold to count for some bundle."""
        if self._needed is None:
            self._needed = min(
                (partial_threshold(len(p)) for p in self.bundles.values()), default=1
            )
        return self._needed

    def relevant(self) -> frozenset[str]:
        """Every product of some bundle of the set."""
        if self._relevant is None:
            self._relevant = frozenset(p for pids in self.bundles.values() for p in pids)
        return self._relevant

    @classmethod
    def fresh(cls, published: PublishedSet) -> PerformanceState:
        return cls(
            published.upload_id,
            published.generated_at_s,
            {bid: list(pids) for bid, pids in published.bundles},
            totals={bid: _zero() for bid, _ in published.bundles},
            days={bid: {} for bid, _ in published.bundles},
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "v": FORMAT,
            "u": self.upload_id,
            "g": self.generated_at_s,
            "b": self.bundles,
            "p": self.partition,
            "o": self.offset,
            "n": self.orders,
            "t": self.totals,
            "d": {b: [[day, *c] for day, c in sorted(ds.items())] for b, ds in self.days.items()},
            "k": {o: [t, held] for o, (t, held) in self.kept.items()},
            "m": self.newest_day,
        }

    @classmethod
    def from_json(cls, raw: Any) -> PerformanceState | None:
        if not isinstance(raw, dict) or raw.get("v") != FORMAT:
            return None
        return cls(
            raw["u"],
            raw["g"],
            {b: list(p) for b, p in raw["b"].items()},
            raw["p"],
            raw["o"],
            raw["n"],
            {b: list(c) for b, c in raw["t"].items()},
            {b: {int(r[0]): list(r[1:]) for r in rows} for b, rows in raw["d"].items()},
            {o: (int(v[0]), {p: list(h) for p, h in v[1].items()}) for o, v in raw["k"].items()},
            raw["m"],
        )


@dataclass(frozen=True)
class PerformanceLimits:
    days_kept: int = 30
    orders_kept: int = 2_000
    kept_bytes: int = KEPT_BYTES_MAX


def _apply_counts(
    state: PerformanceState, day: int, held: Held, sign: int, oldest_day: int | None
) -> None:
    for bid, pids in state.bundles.items():
        delta = contribution(pids, held)
        if not delta[1]:
            continue
        _add(state.totals[bid], delta, sign)
        if oldest_day is not None and day < oldest_day:
            continue  # that day was trimmed already: totals only
        counts = state.days[bid].setdefault(day, _zero())
        _add(counts, delta, sign)
        if counts == _zero():
            del state.days[bid][day]


def _oldest_day(state: PerformanceState, limits: PerformanceLimits) -> int | None:
    return None if state.newest_day is None else state.newest_day - (limits.days_kept - 1)


def _matters(state: PerformanceState, held: Held) -> bool:
    return any(contribution(pids, held)[1] for pids in state.bundles.values())


def apply_entry(state: PerformanceState, entry: AppliedOrder, limits: PerformanceLimits) -> bool:
    """Fold one entry into ``state`` (in place); False when it was already included."""
    if state.partition == entry.partition and state.offset >= entry.offset:
        return False
    state.partition, state.offset = entry.partition, entry.offset
    if entry.time_s < state.generated_at_s:
        return True  # before publication: not counted, nor is its cancellation
    relevant = state.relevant()
    previous = state.kept.get(entry.order_id)
    if entry.sign > 0:
        state.orders += 1
        if previous is None and sum(1 for p in entry.units if p in relevant) < state.needed():
            # the common case: no bundle can count it; only the day window may move on
            _advance(state, entry.time_s // DAY_S, limits)
            return True
        held: Held = {p: list(h) for p, h in previous[1].items()} if previous else {}
        for p, units in entry.units.items():
            if p in relevant and units > 0:
                h = held.setdefault(p, [0, 0])
                h[0] += units
                h[1] += cents(entry.revenue.get(p, 0.0))
        time_s = previous[0] if previous else entry.time_s
    else:
        if previous is None:
            return True  # never mattered to a bundle, or no longer kept
        time_s, before = previous
        held = {p: list(h) for p, h in before.items()}
        for p, units in entry.units.items():
            left = held.get(p)
            if left is None or units <= 0:
                continue
            left[0] = max(0, left[0] - units)
            left[1] = 0 if left[0] == 0 else max(0, left[1] - cents(entry.revenue.get(p, 0.0)))
        held = {p: h for p, h in held.items() if h[0] > 0}
    day = time_s // DAY_S
    advanced = _advance(state, day, limits, trim=False)
    oldest_day = _oldest_day(state, limits)
    if previous is not None:
        _apply_counts(state, day, previous[1], -1, oldest_day)
    if _matters(state, held):
        _apply_counts(state, day, held, +1, oldest_day)
        if oldest_day is None or day >= oldest_day:
            state.keep(entry.order_id, time_s, held)
        else:
            state.forget(entry.order_id)
    else:
        state.forget(entry.order_id)
    _trim(state, limits, advanced)
    return True


def _advance(
    state: PerformanceState, day: int, limits: PerformanceLimits, trim: bool = True
) -> bool:
    """Move the newest day seen forward to ``day`` (trimming, unless told not to); True if it moved."""
    if state.newest_day is not None and day <= state.newest_day:
        return False
    state.newest_day = day
    if trim:
        _trim(state, limits, True)
    return True


def _trim(state: PerformanceState, limits: PerformanceLimits, advanced: bool) -> None:
    """Drop day rows and kept orders older than the window (only when the newest day moved on),
    and, past ``orders_kept`` orders or ``kept_bytes``, the oldest kept orders down to 90% of
    both: evicting a tenth at a time keeps this sort off the path of every single order."""
    oldest_day = _oldest_day(state, limits)
    if oldest_day is None:
        return
    if advanced:
        for ds in state.days.values():
            for day in [d for d in ds if d < oldest_day]:
                del ds[day]
        for o in [o for o, (t, _h) in state.kept.items() if t // DAY_S < oldest_day]:
            state.forget(o)
    if len(state.kept) > limits.orders_kept or state.kept_bytes() > limits.kept_bytes:
        count_to = limits.orders_kept * 9 // 10
        bytes_to = limits.kept_bytes * 9 // 10
        for o in sorted(state.kept, key=lambda o: (state.kept[o][0], o)):
            if len(state.kept) <= count_to and state.kept_bytes() <= bytes_to:
                break
            state.forget(o)


def fold_store(
    state: PerformanceState | None,
    published: PublishedSet | None,
    entries: Iterable[AppliedOrder],
    limits: PerformanceLimits,
) -> tuple[PerformanceState | None, bool]:
    """The store's record after ``entries`` (offset order); True when it changed.

    A record of another set than ``published`` is replaced by a fresh one; no set, no record.
    """
    if published is None:
        return state, False
    changed = False
    if state is None or state.upload_id != published.upload_id:
        state = PerformanceState.fresh(published)
        changed = True
    for entry in entries:
        changed = apply_entry(state, entry, limits) or changed
    return state, changed


def plan_performance(
    applied: Sequence[AppliedOrder],
    read_state: Callable[[str], PerformanceState | None],
    read_published: Callable[[str], PublishedSet | None],
    limits: PerformanceLimits,
) -> dict[str, PerformanceState]:
    """Fold a batch's applied entries store by store; the records to write (changed only)."""
    by_store: dict[str, list[AppliedOrder]] = {}
    for entry in applied:
        by_store.setdefault(entry.store_id, []).append(entry)
    out: dict[str, PerformanceState] = {}
    for store, entries in by_store.items():
        published = read_published(store)
        if published is None:
            continue  # no published set: nothing to measure (and no record to read)
        state, changed = fold_store(read_state(store), published, entries, limits)
        if changed and state is not None:
            out[store] = state
    return out


# ---- answers -------------------------------------------------------------------------------


def _money(c: int) -> float:
    return round(max(0, c) / 100.0, 2)


def _day(day: int) -> date:
    return datetime.fromtimestamp(day * DAY_S, UTC).date()


def store_performance(store_id: str, state: PerformanceState, as_of: datetime) -> StorePerformance:
    published_at = datetime.fromtimestamp(state.generated_at_s, UTC)
    bundles = []
    for bid, pids in state.bundles.items():
        t = state.totals.get(bid, _zero())
        bundles.append(
            BundlePerformance(
                bundle_id=bid,
                product_ids=list(pids),
                published_at=published_at,
                orders_whole=max(0, t[0]),
                orders_partial=max(0, t[1]),
                revenue_whole=_money(t[2]),
                revenue_partial=_money(t[3]),
                days=[
                    BundleDayPerformance(
                        day=_day(day),
                        orders_whole=max(0, c[0]),
                        orders_partial=max(0, c[1]),
                        revenue_whole=_money(c[2]),
                        revenue_partial=_money(c[3]),
                    )
                    for day, c in sorted(state.days.get(bid, {}).items())
                ],
            )
        )
    return StorePerformance(
        store_id=store_id,
        upload_id=state.upload_id,
        published_at=published_at,
        orders_since_published=max(0, state.orders),
        bundles=bundles,
        as_of=as_of,
    )


def empty_performance(store_id: str, published: PublishedSet, as_of: datetime) -> StorePerformance:
    """The answer for a set no order has reached yet."""
    return store_performance(store_id, PerformanceState.fresh(published), as_of)
