"""Time holdout and the basket-completion protocol.

Why a time split: a store only ever recommends from its past, so the last 20% of orders (by
``created_at``) are held out and everything is fitted on the first 80%. A random split would
leak future co-purchases into training and flatter every method.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from models.orders import OrderEvent

HOLDOUT_FRACTION = 0.2  # the newest 20% of orders are held out (docs/design.md, Evaluation)
DEFAULT_SEED = 20  # fixed so every run hides the same items


@dataclass(frozen=True, slots=True)
class Basket:
    """One order reduced to what evaluation needs: its distinct products, sorted for determinism."""

    order_id: str
    created_at: datetime
    items: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Split:
    train: list[Basket]
    test: list[Basket]
    cutoff: datetime | None  # created_at of the first held-out order


@dataclass(slots=True)
class CompletionCases:
    """Held-out baskets with one item hidden: recommend from ``given``, hope to find ``hidden``."""

    order_ids: list[str] = field(default_factory=list)
    given: list[tuple[str, ...]] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.hidden)


def baskets_from_orders(orders: Iterable[OrderEvent]) -> list[Basket]:
    """Distinct product ids per order; quantities do not matter for co-purchase.

    Events sharing an order id (a parser splits orders above OrderEvent's 1000-line cap) are
    merged back into one basket at their earliest time.
    """
    items: dict[str, set[str]] = {}
    times: dict[str, datetime] = {}
    for o in orders:
        items.setdefault(o.order_id, set()).update(line.product_id for line in o.lines)
        t = times.get(o.order_id)
        if t is None or o.created_at < t:
            times[o.order_id] = o.created_at
    return [Basket(oid, times[oid], tuple(sorted(its))) for oid, its in items.items()]


def time_split(baskets: Sequence[Basket], holdout: float = HOLDOUT_FRACTION) -> Split:
    """Sort by (created_at, order_id) and hold out the last ``holdout`` share of orders.

    Ties are broken by order id so the split is reproducible whatever order the parser emitted.
    """
    if not 0 < holdout < 1:
        raise ValueError("holdout must be in (0, 1)")
    ordered = sorted(baskets, key=lambda b: (_sort_key(b.created_at), b.order_id))
    n_test = round(len(ordered) * holdout)
    n_train = len(ordered) - n_test
    test = ordered[n_train:]
    return Split(ordered[:n_train], test, test[0].created_at if test else None)


def _sort_key(ts: datetime) -> float:
    # naive and aware timestamps can both come out of parsers; compare them as epoch seconds
    return ts.timestamp()


def _choice(order_id: str, n: int, seed: int) -> int:
    """Deterministic per-order index: independent of how many other baskets there are."""
    digest = hashlib.blake2b(f"{seed}:{order_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % n


def completion_cases(test: Sequence[Basket], seed: int = DEFAULT_SEED) -> CompletionCases:
    """Hide one item of every held-out basket with 2+ distinct items (seeded, per order)."""
    cases = CompletionCases()
    for b in test:
        if len(b.items) < 2:
            continue
        i = _choice(b.order_id, len(b.items), seed)
        cases.order_ids.append(b.order_id)
        cases.hidden.append(b.items[i])
        cases.given.append(b.items[:i] + b.items[i + 1 :])
    return cases


def bundle_hit_rate(
    test: Sequence[Basket], bundles: Iterable[Iterable[str]]
) -> dict[str, float | int]:
    """Share of held-out baskets containing 2+ products of one generated bundle.

    Reported over all held-out baskets (the definition) and over those with 2+ items (the only
    ones that can hit), so a dataset of mostly single-item orders is not misread.
    """
    bundle_sets = [frozenset(b) for b in bundles]
    bundle_sets = [b for b in bundle_sets if len(b) >= 2]
    hits = 0
    multi = 0
    for basket in test:
        if len(basket.items) < 2:
            continue
        multi += 1
        items = set(basket.items)
        if any(len(items & b) >= 2 for b in bundle_sets):
            hits += 1
    return {
        "bundle_hit_rate": hits / len(test) if test else 0.0,
        "bundle_hit_rate_multi": hits / multi if multi else 0.0,
        "bundle_hits": hits,
        "bundles": len(bundle_sets),
    }
