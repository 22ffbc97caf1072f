"""Cold-start rescue (docs/design.md, Cold start): semantic bundles below 10 transactions.

Strategies:
1. price-banded complementaries: the 10 most expensive in-stock products are anchors; partners
   have embedding similarity in [0.4, 0.7] (complementary, not identical) and price ratio
   [0.5, 2] to the anchor; anchor + up to 2 partners -> FBT / increase_aov,
   ``semantic_price_banded``.
2. category diversity: each category with >= 3 in-stock products -> 3 price-diverse products
   (cheapest, median, dearest within the price band) -> MIX_MATCH / increase_aov,
   ``category_diversity``.
3. high-margin curation: products with margin >= 0.4 (known cost), best margin first, 2-3 of
   them -> FIXED / margin_guard, ``high_margin_curation``.

Guardrails on every bundle: compatible categories (``gates.categories_compatible``), every
member within [0.5x, 2x] of the anchor's price, bundle margin > 20% after pricing, in stock.
Scored with the hybrid score, MMR-selected, at most 4, all ``cold_start=True``.
"""

from __future__ import annotations

from collections.abc import Mapping

from models.bundles import BundleType, Objective
from models.catalog import Product

from .candidates import Draft, _dedupe
from .context import StoreContext
from .diversity import select_diverse
from .gates import categories_compatible
from .pricing import bundle_margin, price_bundle
from .scoring import score_draft

LIMIT = 4
SIM_RANGE = (0.4, 0.7)
PRICE_RATIO = (0.5, 2.0)
HIGH_MARGIN = 0.4
COLD_MARGIN_FLOOR = 0.20
TXN_THRESHOLD = 10


def _ratio_ok(anchor_price: float, price: float) -> bool:
    return anchor_price > 0 and PRICE_RATIO[0] <= price / anchor_price <= PRICE_RATIO[1]


def price_banded(ctx: StoreContext) -> list[Draft]:
    anchors = sorted(ctx.in_stock, key=lambda p: (-p.price, p.product_id))[:10]
    out = []
    for a in anchors:
        pool = [p for p in ctx.in_stock if _ratio_ok(a.price, p.price)]
        sim = ctx.similar(a.product_id, SIM_RANGE[0], SIM_RANGE[1], k=10, candidates=pool)
        members = [p for p, _ in sim if categories_compatible([a.category, p.category])][:2]
        if members:
            out.append(
                Draft(
                    BundleType.FBT,
                    Objective.INCREASE_AOV,
                    [(a.product_id, 1, "anchor")] + [(p.product_id, 1, "member") for p in members],
                    "semantic_price_banded",
                    cold_start=True,
                    rationale=f"goes well with {a.title or a.product_id}",
                )
            )
    return out


def category_diverse(ctx: StoreContext) -> list[Draft]:
    by_cat: dict[str, list[Product]] = {}
    for p in ctx.in_stock:
        by_cat.setdefault(p.category, []).append(p)
    out = []
    for cat, ps in sorted(by_cat.items()):
        if len(ps) < 3:
            continue
        s = sorted(ps, key=lambda p: (p.price, p.product_id))
        anchor = s[len(s) // 2]
        band = [
            p for p in s if _ratio_ok(anchor.price, p.price) and p.product_id != anchor.product_id
        ]
        lower = [p for p in band if p.price <= anchor.price]
        upper = [p for p in band if p.price >= anchor.price]
        lo = lower[0] if lower else None
        hi = next((p for p in reversed(upper) if lo is None or p.product_id != lo.product_id), None)
        trio = [p for p in (anchor, lo, hi) if p is not None]
        if len(trio) < 3:  # band too narrow on one side: take the two farthest on the other
            rest = [p for p in band if p not in trio]
            rest.sort(key=lambda p: -abs(p.price - anchor.price))
            trio += rest[: 3 - len(trio)]
        if len(trio) == 3:
            out.append(
                Draft(
                    BundleType.MIX_MATCH,
                    Objective.INCREASE_AOV,
                    [(trio[0].product_id, 1, "anchor")]
                    + [(p.product_id, 1, "member") for p in trio[1:]],
                    "category_diversity",
                    cold_start=True,
                    rationale=f"mix and match in {cat}",
                )
            )
    return out


def high_margin(ctx: StoreContext) -> list[Draft]:
    hm = sorted(
        (p for p in ctx.in_stock if p.margin is not None and p.margin >= HIGH_MARGIN),
        key=lambda p: (-(p.margin or 0), p.product_id),
    )
    out = []
    for _i, a in enumerate(hm[:LIMIT]):
        members = [
            p
            for p in hm
            if p.product_id != a.product_id
            and _ratio_ok(a.price, p.price)
            and categories_compatible([a.category, p.category])
        ][:2]
        if members:
            out.append(
                Draft(
                    BundleType.FIXED,
                    Objective.MARGIN_GUARD,
                    [(a.product_id, 1, "anchor")] + [(p.product_id, 1, "member") for p in members],
                    "high_margin_curation",
                    cold_start=True,
                    rationale="our best-margin picks",
                )
            )
    return out


def guardrails_ok(ctx: StoreContext, d: Draft) -> bool:
    prods = [ctx.products[i] for i in d.product_ids]
    if not all(p.in_stock for p in prods):
        return False
    if not categories_compatible([p.category for p in prods]):
        return False
    if not all(_ratio_ok(prods[0].price, p.price) for p in prods[1:]):
        return False
    return (
        d.pricing is not None
        and bundle_margin(d.pricing, d.lines, ctx.products, ctx.assumed_margin).margin
        > COLD_MARGIN_FLOOR
    )


def cold_start_rescue(
    ctx: StoreContext, category_transactions: Mapping[str, int], limit: int = LIMIT
) -> tuple[list[Draft], int]:
    """(at most ``limit`` scored cold-start drafts, number of raw candidates)."""
    drafts = _dedupe(price_banded(ctx)) + _dedupe(category_diverse(ctx)) + _dedupe(high_margin(ctx))
    raw = len(drafts)
    kept = []
    for d in drafts:
        d.pricing = price_bundle(
            d.lines, ctx.products, d.bundle_type, d.objective, assumed_margin=ctx.assumed_margin
        )
        if guardrails_ok(ctx, d):
            kept.append(score_draft(ctx, d, category_transactions))
    kept.sort(key=lambda d: -d.score)
    return select_diverse(kept, lambda d: d.score, lambda d: d.product_ids, k=limit), raw
