"""Re-gate a published bundle set against live stock: drop the bundles a shopper cannot buy.

A bundle stays when every product has at least the units the bundle sells of it (the sum of its
lines' quantities); a product whose level is unknown (None, not tracked) counts as in stock, as at
generation. The kept bundles are the upload's, unchanged and in their order: re-gating never
re-ranks, re-prices or adds. Because it always starts from the upload's set, a bundle whose
products come back into stock returns, in its place.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from models import Bundle, BundleSet


def needed_units(bundle: Bundle) -> dict[str, int]:
    """Units of each product one sale of the bundle takes."""
    need: dict[str, int] = {}
    for line in bundle.products:
        need[line.product_id] = need.get(line.product_id, 0) + line.quantity
    return need


def short_products(bundle: Bundle, levels: Mapping[str, int | None]) -> list[str]:
    """The bundle's products with fewer units available than the bundle takes."""
    short = []
    for pid, units in needed_units(bundle).items():
        level = levels.get(pid)
        if level is not None and level < units:
            short.append(pid)
    return short


def components(bundle_set: BundleSet) -> set[str]:
    return {line.product_id for bundle in bundle_set.bundles for line in bundle.products}


def bundle_ids(bundle_set: BundleSet) -> list[str]:
    return [bundle.bundle_id for bundle in bundle_set.bundles]


def regate(original: BundleSet, levels: Mapping[str, int | None], now: datetime) -> BundleSet:
    """``original`` without its bundles that are short of stock, marked as re-gated by stock.

    The metrics are the upload's, with ``trigger`` "stock" and ``stock_outs`` naming the products
    whose shortage dropped a bundle (sorted). Upload id and bundles stay the upload's.
    """
    kept: list[Bundle] = []
    outs: set[str] = set()
    for bundle in original.bundles:
        short = short_products(bundle, levels)
        if short:
            outs.update(short)
        else:
            kept.append(bundle)
    metrics = original.metrics.model_copy(
        update={"trigger": "stock", "stock_outs": sorted(outs), "created_at": now}
    )
    return original.model_copy(update={"bundles": kept, "metrics": metrics, "generated_at": now})


def restate(
    original: BundleSet, published: BundleSet, levels: Mapping[str, int | None], now: datetime
) -> BundleSet | None:
    """The set to publish now, or None when the published one already has the right bundles."""
    gated = regate(original, levels, now)
    if bundle_ids(gated) == bundle_ids(published):
        return None
    return gated
