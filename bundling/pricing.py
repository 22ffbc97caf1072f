"""Pricing policy per bundle type and the price-ladder sanity check (docs/design.md, Pricing).

Policy (discount on the list price = sum of unit price x quantity):

========== ======================================================================
FBT         10% off the set ("frequently bought together" nudge, small so it is
            profitable on high-frequency pairs)
FIXED       15% off a fixed curated set
MIX_MATCH   12% off when the shopper takes the whole group
VOLUME      tiers on one product: 2 units 5%, 3 units 10%, 5 units 15%; the bundle
            is offered at the 3-unit tier (10%)
BXGY        buy the anchor (best seller), get the slow mover at 50% off
            (discount applies to the "discounted" line only)
GIFT_BOX    10% off a curated gift set
NEW_LAUNCH  the new product at 20% off when bought with its anchor
SUBSCRIPTION 10% subscribe-and-save on each delivery
========== ======================================================================

margin_guard bundles cap the discount at 5%. Every discount is then shrunk, if needed, so the
bundle margin stays at least ``MARGIN_FLOOR + MARGIN_BUFFER`` (20%, the cold-start guardrail)
whenever it can; a bundle that cannot keep 15% is left for gate 2 to reject.

Unknown cost: when a product has no cost, its cost is estimated as
``price * (1 - ASSUMED_MARGIN)`` (35%, a typical retail gross margin; configurable per call)
and ``BundlePricing.cost`` is left ``None`` so readers can tell the margin is an estimate.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from models.bundles import BundlePricing, BundleType, Objective, VolumeTier
from models.catalog import Product

MARGIN_FLOOR = 0.15
MARGIN_BUFFER = 0.05
ASSUMED_MARGIN = 0.35
MAX_DISCOUNT_PCT = 60.0
MARGIN_GUARD_MAX_DISCOUNT = 0.05

DISCOUNTS: dict[BundleType, float] = {
    BundleType.FBT: 0.10,
    BundleType.FIXED: 0.15,
    BundleType.MIX_MATCH: 0.12,
    BundleType.VOLUME: 0.10,
    BundleType.BXGY: 0.50,  # on the discounted line only
    BundleType.GIFT_BOX: 0.10,
    BundleType.NEW_LAUNCH: 0.20,  # on the new product only
    BundleType.SUBSCRIPTION: 0.10,
}
VOLUME_TIERS: tuple[tuple[int, float], ...] = ((2, 5.0), (3, 10.0), (5, 15.0))
VOLUME_OFFER_QTY = 3

Line = tuple[str, int, str]  # (product_id, quantity, role)


def unit_cost(p: Product, assumed_margin: float = ASSUMED_MARGIN) -> tuple[float, bool]:
    """(cost, known)."""
    if p.cost is not None:
        return float(p.cost), True
    return float(p.price) * (1 - assumed_margin), False


def price_bundle(
    lines: Sequence[Line],
    products: Mapping[str, Product],
    bundle_type: BundleType,
    objective: Objective,
    *,
    assumed_margin: float = ASSUMED_MARGIN,
    currency: str = "USD",
) -> BundlePricing:
    list_price = sum(float(products[pid].price) * q for pid, q, _ in lines)
    costs = [unit_cost(products[pid], assumed_margin) for pid, _, _ in lines]
    cost = sum(c * q for (c, _), (_, q, _) in zip(costs, lines))
    all_known = all(k for _, k in costs)

    rate = DISCOUNTS[bundle_type]
    if bundle_type in (BundleType.BXGY, BundleType.NEW_LAUNCH):
        role = "discounted"
        base = sum(float(products[pid].price) * q for pid, q, r in lines if r == role)
        discount_amt = rate * base
    else:
        discount_amt = rate * list_price
    if objective == Objective.MARGIN_GUARD:
        discount_amt = min(discount_amt, MARGIN_GUARD_MAX_DISCOUNT * list_price)
    # Keep the margin at floor + buffer when possible: price >= cost / (1 - target).
    target = MARGIN_FLOOR + MARGIN_BUFFER
    min_price = cost / (1 - target)
    if list_price - discount_amt < min_price:
        discount_amt = max(0.0, list_price - min_price)
    bundle_price = round(list_price - discount_amt, 2)
    if bundle_price >= list_price and list_price > 0:  # keep a real (>= 1 cent) discount
        bundle_price = round(list_price - 0.01, 2)
    discount_pct = round(100 * (1 - bundle_price / list_price), 2) if list_price > 0 else 0.0
    margin = 100 * (bundle_price - cost) / bundle_price if bundle_price > 0 else None
    tiers = (
        [VolumeTier(min_quantity=q, discount_pct=d) for q, d in VOLUME_TIERS]
        if bundle_type == BundleType.VOLUME
        else []
    )
    return BundlePricing(
        currency=currency,
        list_price=round(list_price, 2),
        bundle_price=bundle_price,
        discount_pct=max(0.0, discount_pct),
        cost=round(cost, 2) if all_known else None,
        margin_pct=round(margin, 2) if margin is not None else None,
        volume_tiers=tiers,
        policy=f"{bundle_type.value.lower()}_{round(rate * 100)}pct"
        + ("_margin_guard_cap" if objective == Objective.MARGIN_GUARD else ""),
    )


def validate_price_ladder(
    pricing: BundlePricing,
    lines: Sequence[Line],
    products: Mapping[str, Product],
    *,
    assumed_margin: float = ASSUMED_MARGIN,
    max_discount_pct: float = MAX_DISCOUNT_PCT,
) -> tuple[bool, str]:
    """Price sanity: list = sum(unit x qty), cost < bundle < list, 0 < discount <= max, tiers monotonic."""
    expected = round(sum(float(products[pid].price) * q for pid, q, _ in lines), 2)
    if abs(expected - pricing.list_price) > 0.011:
        return False, "list_price_mismatch"
    if not (pricing.bundle_price < pricing.list_price):
        return False, "no_discount"
    cost = sum(unit_cost(products[pid], assumed_margin)[0] * q for pid, q, _ in lines)
    if not (pricing.bundle_price > cost):
        return False, "below_cost"
    if not (0 < pricing.discount_pct <= max_discount_pct):
        return False, "discount_out_of_bounds"
    if abs(100 * (1 - pricing.bundle_price / pricing.list_price) - pricing.discount_pct) > 0.05:
        return False, "discount_inconsistent"
    tiers = pricing.volume_tiers
    for a, b in itertools.pairwise(tiers):
        if not (b.min_quantity > a.min_quantity and b.discount_pct > a.discount_pct):
            return False, "volume_tiers_not_monotonic"
    if any(t.discount_pct > max_discount_pct for t in tiers):
        return False, "volume_tier_discount_out_of_bounds"
    return True, "ok"


@dataclass(frozen=True)
class MarginView:
    """Bundle margin as a fraction, and whether it rests on an assumed cost."""

    margin: float
    estimated: bool


def bundle_margin(
    pricing: BundlePricing,
    lines: Sequence[Line],
    products: Mapping[str, Product],
    assumed_margin: float = ASSUMED_MARGIN,
) -> MarginView:
    costs = [unit_cost(products[pid], assumed_margin) for pid, _, _ in lines]
    cost = sum(c * q for (c, _), (_, q, _) in zip(costs, lines))
    m = (pricing.bundle_price - cost) / pricing.bundle_price if pricing.bundle_price > 0 else -1.0
    return MarginView(m, not all(k for _, k in costs))
