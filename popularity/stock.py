"""Live stock of a store's published bundle components: exact under replay, bounded.

What is tracked: only the products that are components of the store's latest published bundle
set (at most 10 bundles of at most 10 products), one record per store. Stock events for any
other product or store change nothing and are not remembered, so no input can grow the state.

Where a level comes from:

- the upload: the catalog's ``inventory`` of each component when the set was published (None,
  untracked, stays None until a stock reading names the product);
- stock readings (inventory webhooks or a store's own JSON): the absolute units available at one
  location as of a time. A product's level is then the sum of its locations' latest readings;
  a reading older than (or as old as) the one held for its location is stale and ignored;
- orders (sign +1) and cancellations (sign -1) applied after the newest reading: they move the
  level by their units. An order timed at or before the product's newest reading is already in
  that reading (Shopify sends a reading for every change, the order's own included) and is not
  counted twice. A product with no level yet ignores orders, so a store that tracks no stock
  writes nothing; its first reading sets the level.

Exact under replay: the record carries the (partition, offset) of the newest orders-topic and
inventory-topic record it includes (each store lives on one partition of each topic); a replayed
record at or below its topic's watermark is skipped, so a batch replayed after a crash changes
nothing. Each record is self-contained, like the popularity counters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .aggregate import AppliedOrder

# Orders and cancellations kept per product after its newest reading. Past this, the two oldest
# are merged (units summed, the later time kept): a later reading may then keep an order that it
# already includes, so the level errs low until the next reading, never high.
MAX_PENDING = 16
# Locations remembered per product; a reading from a further location is ignored.
MAX_LOCATIONS = 50


@dataclass
class ProductStock:
    """One component's stock: catalog units, per-location readings, moves since the readings."""

    base: int | None = None  # catalog inventory at publication; None: not tracked
    locations: dict[str, int] = field(default_factory=dict)  # location -> units available
    read_at: dict[str, int] = field(default_factory=dict)  # location -> reading time (epoch s)
    pending: list[tuple[int, int]] = field(default_factory=list)  # (order time, units out)

    @property
    def as_of(self) -> int | None:
        return max(self.read_at.values()) if self.read_at else None

    def level(self) -> int | None:
        """Units available now; None when nothing ever said how many (treated as in stock)."""
        if self.locations:
            total = sum(self.locations.values())
        elif self.base is None:
            return None
        else:
            total = self.base
        return total - sum(units for _time, units in self.pending)

    @property
    def tracked(self) -> bool:
        return self.base is not None or bool(self.locations)

    def move(self, time_s: int, units_out: int) -> bool:
        """An order (units out > 0) or a cancellation (< 0) at ``time_s``; False when it changes
        nothing: the product has no level yet, or the newest reading already includes it."""
        if not self.tracked:
            return False
        as_of = self.as_of
        if as_of is not None and time_s <= as_of:
            return False
        self.pending.append((time_s, units_out))
        self.pending.sort()
        while len(self.pending) > MAX_PENDING:
            (t1, u1), (t2, u2) = self.pending[0], self.pending[1]
            self.pending[0:2] = [(max(t1, t2), u1 + u2)]
        return True

    def read(self, location: str, available: int, time_s: int) -> bool:
        """A reading; False when stale or from one location too many (nothing changes)."""
        held = self.read_at.get(location)
        if held is not None and time_s <= held:
            return False
        if held is None and len(self.locations) >= MAX_LOCATIONS:
            return False
        self.locations[location] = available
        self.read_at[location] = time_s
        as_of = self.as_of
        assert as_of is not None
        self.pending = [(t, u) for t, u in self.pending if t > as_of]
        return True

    def to_json(self) -> list[Any]:
        return [
            self.base,
            dict(self.locations),
            dict(self.read_at),
            [list(p) for p in self.pending],
        ]

    @classmethod
    def from_json(cls, raw: Sequence[Any]) -> ProductStock:
        base, locations, read_at, pending = raw
        return cls(
            None if base is None else int(base),
            {str(k): int(v) for k, v in locations.items()},
            {str(k): int(v) for k, v in read_at.items()},
            [(int(t), int(u)) for t, u in pending],
        )


@dataclass(frozen=True)
class Reading:
    """A stock reading: the ids the item may go by (most specific first), location, units, time."""

    item_ids: tuple[str, ...]
    location: str
    available: int
    time_s: int


Mark = tuple[int, int]  # (partition, offset) of the newest record included


def _after(mark: Mark | None, partition: int, offset: int) -> bool:
    """True when the record at (partition, offset) is not yet included."""
    return mark is None or mark[0] != partition or offset > mark[1]


@dataclass
class StockState:
    """The ``stock-levels`` value of one store: the published set it tracks and its components."""

    upload_id: str  # the upload whose bundle set is tracked
    original: str  # that upload's bundle set as published (JSON text): what re-gating starts from
    products: dict[str, ProductStock] = field(default_factory=dict)
    orders_mark: Mark | None = None
    inventory_mark: Mark | None = None

    def levels(self) -> dict[str, int | None]:
        return {pid: stock.level() for pid, stock in self.products.items()}

    def to_json(self) -> dict[str, Any]:
        return {
            "upload_id": self.upload_id,
            "original": self.original,
            "products": {pid: s.to_json() for pid, s in self.products.items()},
            "orders_mark": None if self.orders_mark is None else list(self.orders_mark),
            "inventory_mark": None if self.inventory_mark is None else list(self.inventory_mark),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None) -> StockState | None:
        if raw is None:
            return None
        om, im = raw.get("orders_mark"), raw.get("inventory_mark")
        return cls(
            str(raw["upload_id"]),
            str(raw["original"]),
            {pid: ProductStock.from_json(v) for pid, v in raw["products"].items()},
            None if om is None else (int(om[0]), int(om[1])),
            None if im is None else (int(im[0]), int(im[1])),
        )

    def copy(self) -> StockState:
        fresh = StockState.from_json(self.to_json())
        assert fresh is not None
        return fresh


def from_catalog(
    upload_id: str,
    original: str,
    catalog_inventory: Mapping[str, int | None],
    previous: StockState | None = None,
) -> StockState:
    """The state for a newly published set: each component at its catalog inventory.

    Levels of the set before are not carried over: the upload's catalog is the merchant's newest
    word on stock. The watermarks are, since they are positions in the topics, not in the set.
    """
    return StockState(
        upload_id,
        original,
        {pid: ProductStock(base=units) for pid, units in catalog_inventory.items()},
        previous.orders_mark if previous else None,
        previous.inventory_mark if previous else None,
    )


@dataclass
class Folded:
    state: StockState
    changed: bool  # a level moved (the record must be written)
    applied: int = 0  # records applied
    replayed: int = 0  # records at or below the watermark: skipped
    ignored: int = 0  # readings for untracked products or stale ones


def apply_orders(state: StockState, applied: Iterable[AppliedOrder]) -> Folded:
    """Orders (sign +1) take units out of stock, cancellations (sign -1) put them back."""
    out = Folded(state.copy(), False)
    for order in applied:
        if not _after(out.state.orders_mark, order.partition, order.offset):
            out.replayed += 1
            continue
        out.state.orders_mark = (order.partition, order.offset)
        out.applied += 1
        for pid, units in order.units.items():
            stock = out.state.products.get(pid)
            if stock is not None and units and stock.move(order.time_s, order.sign * units):
                out.changed = True
    return out


def match(item_ids: Sequence[str], tracked: Mapping[str, object]) -> str | None:
    """The first of an item's ids that names a tracked component, else None."""
    for item_id in item_ids:
        if item_id in tracked:
            return item_id
    return None


def apply_readings(
    state: StockState, partition: int, offset: int, readings: Iterable[Reading]
) -> Folded:
    """One inventory-topic record (one or more readings) at (partition, offset)."""
    out = Folded(state.copy(), False)
    if not _after(out.state.inventory_mark, partition, offset):
        out.replayed += 1
        return out
    out.state.inventory_mark = (partition, offset)
    out.applied += 1
    for reading in readings:
        pid = match(reading.item_ids, out.state.products)
        if pid is None or not out.state.products[pid].read(
            reading.location, reading.available, reading.time_s
        ):
            out.ignored += 1
            continue
        out.changed = True
    return out
