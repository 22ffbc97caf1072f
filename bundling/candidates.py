"""Candidate generators, one per bundle type, parameterised by the objective.

Each returns ``Draft`` bundles (product lines + provenance); pricing, scoring and gates come
later. Generators only use in-stock catalog products and never repeat a product in a bundle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np

from models.bundles import BundlePricing, BundleType, Objective, ScoreComponents
from models.catalog import Product

from .context import StoreContext, top_stable
from .measures import lift
from .objectives import StoreMetrics
from .orderarrays import OrderArrays

MAX_PER_COMBO = 12
ANCHORS = 15
VOLUME_PER_COMBO = 4  # a single-product tier offer is one idea among many, not ten of them

Line = tuple[str, int, str]  # (product_id, quantity, role)


@dataclass
class Draft:
    bundle_type: BundleType
    objective: Objective
    lines: list[Line]
    generation_method: str
    support: float | None = None
    confidence: float | None = None
    lift: float | None = None
    cold_start: bool = False
    rationale: str = ""
    pricing: BundlePricing | None = None
    components: ScoreComponents | None = None
    score: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def product_ids(self) -> list[str]:
        return [pid for pid, _, _ in self.lines]

    @property
    def key(self) -> tuple[BundleType, tuple[str, ...]]:
        return (self.bundle_type, tuple(sorted(self.product_ids)))


def _lines(pids: list[str], anchor_role: str = "anchor", qty: int = 1) -> list[Line]:
    return [(p, qty, anchor_role if i == 0 else "member") for i, p in enumerate(pids)]


def _dedupe(drafts: Iterable[Draft]) -> list[Draft]:
    """The first ``MAX_PER_COMBO`` drafts with distinct products and a new key; stops reading
    ``drafts`` (which may be a lazy generator) once it has them."""
    seen: set[tuple[BundleType, tuple[str, ...]]] = set()
    out: list[Draft] = []
    for d in drafts:
        if len(out) >= MAX_PER_COMBO:
            break
        if len(set(d.product_ids)) != len(d.product_ids) or d.key in seen:
            continue
        seen.add(d.key)
        out.append(d)
    return out


def _metrics(ctx: StoreContext) -> StoreMetrics:
    """The store's metrics; ``StoreContext`` computes them on creation when not given."""
    assert ctx.metrics is not None, "StoreContext sets metrics in __post_init__"
    return ctx.metrics


def _arrays(ctx: StoreContext) -> OrderArrays:
    """The store's order columns; ``StoreContext`` builds them on creation when not given."""
    assert ctx.arrays is not None, "StoreContext sets arrays in __post_init__"
    return ctx.arrays


def _objective_pool(ctx: StoreContext, objective: Objective) -> list[Product]:
    """Products an objective wants to feature, best sellers first."""
    m = _metrics(ctx)
    bs = ctx.best_sellers
    if objective == Objective.MARGIN_GUARD:
        hm = [p for p in bs if ctx.margin_of(p) >= 0.4]
        return hm or bs
    if objective == Objective.CLEAR_SLOW_MOVERS:
        return [p for p in bs if p.product_id in m.slow_mover_ids] or bs[::-1]
    if objective == Objective.NEW_LAUNCH:
        return [p for p in bs if p.product_id in m.new_sku_ids]
    if objective == Objective.SUBSCRIPTION_PUSH:
        subs = [p for p in bs if p.subscription or any("subscri" in t.lower() for t in p.tags)]
        return subs or _repeat_buys(ctx)
    return bs


def _repeat_buys(ctx: StoreContext) -> list[Product]:
    """Products bought by the same customer on 2+ lines, or in quantity >= 2 per line."""
    arrays = _arrays(ctx)
    rep = arrays.repeat_products()
    ids = {str(pid) for pid in arrays.product_ids[rep].tolist()}
    return [p for p in ctx.best_sellers if p.product_id in ids]


# --- FBT -------------------------------------------------------------------------------------
def gen_fbt(ctx: StoreContext, objective: Objective) -> list[Draft]:
    """Frequent pairs and triples of in-stock catalog products, ranked by the basket-completion
    model of ``bundling.recommend`` (x1.5 when a product the objective features is in it).

    One model: the offline evaluation measures ``recommend.fit_basket_model``; here the same
    ``S_ij`` (size-damped asymmetric cosine with locality) is evaluated on the mined itemsets
    only (``StoreContext.itemsets``), and a bundle ranks by the mean ``S`` over its ordered pairs
    (``recommend.itemset_affinity``), so the bundles are the ones the evaluated recommender
    would complete from each other. Each draft also carries, with the anchor (most bought item)
    as antecedent: support ``n_bundle / N``, confidence ``n_bundle / n_anchor`` and
    ``measures.lift`` of anchor and rest (docs/design.md, Candidate generation), for the support
    gate and the hybrid score's data component. Vectorised; only the top few become drafts."""
    its = ctx.itemsets
    if ctx.basket.n_baskets == 0:
        return []
    n_baskets = its.n_baskets
    item_counts = its.item_counts.astype(float)
    items = its.items
    sellable = ctx.item_sellable
    featured = np.zeros(items.size, bool)
    for p in _objective_pool(ctx, objective):
        j = ctx.item_col.get(p.product_id)
        if j is not None:
            featured[j] = True
    top = 3 * MAX_PER_COMBO
    scored: list[tuple[float, Draft]] = []
    pairs = its.pairs
    if pairs.shape[0]:
        keep = sellable[pairs[:, 0]] & sellable[pairs[:, 1]]
        anchor, other = pairs[keep, 0], pairs[keep, 1]
        n_pair = its.pair_counts.astype(float)[keep]
        affinity = its.weighted["pair_affinity"][keep]
        swap = item_counts[other] > item_counts[anchor]  # anchor = the more popular item
        anchor, other = np.where(swap, other, anchor), np.where(swap, anchor, other)
        confidence = n_pair / item_counts[anchor]
        pair_lift = lift(n_pair, item_counts[anchor], item_counts[other], n_baskets)
        rank = affinity * (1 + 0.5 * (featured[anchor] | featured[other]))
        for r in top_stable(rank, top).tolist():
            ids = [str(items[anchor[r]]), str(items[other[r]])]
            d = Draft(
                BundleType.FBT,
                objective,
                _lines(ids),
                "association_rules",
                float(n_pair[r] / n_baskets),
                float(min(1.0, confidence[r])),
                float(pair_lift[r]),
                rationale=f"bought together in {int(n_pair[r])} orders",
            )
            d.extra["recommender_score"] = float(affinity[r])
            scored.append((float(rank[r]), d))
    triples = its.triples
    if triples.shape[0] and pairs.shape[0]:
        keep = sellable[triples[:, 0]] & sellable[triples[:, 1]] & sellable[triples[:, 2]]
        triples = triples[keep]
        n_triple = its.triple_counts.astype(float)[keep]
        affinity = its.weighted["triple_affinity"][keep]
        any_featured = featured[triples[:, 0]] | featured[triples[:, 1]] | featured[triples[:, 2]]
        rank = np.nan_to_num(affinity * (1 + 0.5 * any_featured), nan=-1)
        sel = top_stable(rank, top)  # anchors and rule statistics for the winners only
        triples, n_triple, affinity, rank = triples[sel], n_triple[sel], affinity[sel], rank[sel]
        by_count = np.argsort(-item_counts[triples], axis=1, kind="stable")
        triples = np.take_along_axis(triples, by_count, axis=1)  # anchor first
        rest_lo = np.minimum(triples[:, 1], triples[:, 2])
        rest_hi = np.maximum(triples[:, 1], triples[:, 2])
        n_rest = its.pair_count(rest_lo, rest_hi)  # NaN when the rest is not a frequent pair
        n_anchor = item_counts[triples[:, 0]]
        confidence = n_triple / n_anchor
        triple_lift = lift(n_triple, n_anchor, n_rest, n_baskets)
        for r in range(triples.shape[0]):
            if rank[r] < 0:
                break
            ids = [str(items[j]) for j in triples[r].tolist()]
            d = Draft(
                BundleType.FBT,
                objective,
                _lines(ids),
                "association_rules",
                float(n_triple[r] / n_baskets),
                float(min(1.0, confidence[r])),
                float(np.nan_to_num(triple_lift[r])),
                rationale=f"all three bought together in {int(n_triple[r])} orders",
            )
            d.extra["recommender_score"] = float(affinity[r])
            scored.append((float(rank[r]), d))
    scored.sort(key=lambda t: -t[0])
    return _dedupe([d for _, d in scored])


# --- FIXED -----------------------------------------------------------------------------------
def _partners_or_similar(
    ctx: StoreContext, p: Product, k: int, pool: list[Product] | None = None
) -> list[str]:
    pool_ids = {q.product_id for q in pool} if pool is not None else None
    got = [q for q, _ in ctx.partners(p.product_id, k, pool=pool_ids)]
    if len(got) < k:
        same = (
            [q for q in pool if q.category == p.category]
            if pool
            else ctx.in_stock_by_category.get(p.category, [])
        )
        cands = [q for q in same if q.product_id not in got]
        got += [q.product_id for q, _ in ctx.similar(p.product_id, 0.05, 0.95, k - len(got), cands)]
    return [g for g in got if g != p.product_id][:k]


def gen_fixed(ctx: StoreContext, objective: Objective) -> list[Draft]:
    """Anchor + its top co-purchased (else most similar same-category) 1-2 products."""
    pool = _objective_pool(ctx, objective)
    if objective == Objective.SEASONAL_PROMO:
        pool = ctx.sold or pool
    out = []
    for a in pool[:ANCHORS]:
        members = _partners_or_similar(
            ctx, a, 2, pool if objective == Objective.MARGIN_GUARD else None
        )
        if members:
            out.append(
                Draft(
                    BundleType.FIXED,
                    objective,
                    _lines([a.product_id, *members]),
                    "curated_fixed",
                    rationale=f"curated set around {a.title or a.product_id}",
                )
            )
    return _dedupe(out)


# --- MIX_MATCH ---------------------------------------------------------------------------------
def _price_diverse(ps: list[Product], k: int) -> list[Product]:
    """k products spread over the price range: cheapest, most expensive, then the median-ish."""
    s = sorted(ps, key=lambda p: (p.price, p.product_id))
    if len(s) <= k:
        return s
    idx = np.unique(np.linspace(0, len(s) - 1, k).round().astype(int))
    return [s[i] for i in idx]


def gen_mix_match(ctx: StoreContext, objective: Objective) -> list[Draft]:
    """Category-diverse groups: one best seller from each of 3 categories, plus, per category with
    3+ products, a price-diverse trio (category_bundle).

    Drafts are produced lazily in their final order (co-purchase, then category_diversity, then
    category_mix; category_diversity first for category_bundle) and generation stops once
    ``_dedupe`` has its ``MAX_PER_COMBO``: the same list as building every draft first."""
    if objective == Objective.SEASONAL_PROMO and ctx.sold:
        bs, by_cat = ctx.sold, ctx.sold_by_category
    else:
        bs, by_cat = ctx.best_sellers, ctx.best_sellers_by_category
    cats = list(by_cat)

    def category_mix() -> Iterator[Draft]:
        if len(cats) >= 3:
            for r in range(min(ANCHORS, len(by_cat[cats[0]]))):
                for off in range(0, len(cats) - 2, 3):
                    trio = [by_cat[c][r] for c in cats[off : off + 3] if len(by_cat[c]) > r]
                    if len(trio) == 3:
                        yield Draft(
                            BundleType.MIX_MATCH,
                            objective,
                            _lines([p.product_id for p in trio]),
                            "category_mix",
                            rationale="one pick from each of three categories",
                        )

    def category_diversity() -> Iterator[Draft]:
        for c in cats:
            group = by_cat[c][:30]
            if len(group) >= 3:
                trio = _price_diverse(group, 3)
                yield Draft(
                    BundleType.MIX_MATCH,
                    objective,
                    _lines([p.product_id for p in trio]),
                    "category_diversity",
                    rationale=f"mix and match in {c}",
                )

    # co-purchase neighbourhoods first (what this store's shoppers actually combine), then
    # same-category price ladders, then the cross-category picks
    def co_purchase() -> Iterator[Draft]:
        for a in bs[:ANCHORS]:
            members = _partners_or_similar(ctx, a, 2)
            if len(members) == 2:
                yield Draft(
                    BundleType.MIX_MATCH,
                    objective,
                    _lines([a.product_id, *members]),
                    "co_purchase_mix",
                    rationale="pick any from this group",
                )

    if objective == Objective.CATEGORY_BUNDLE:
        ordered = chain(category_diversity(), co_purchase(), category_mix())
    else:
        ordered = chain(co_purchase(), category_diversity(), category_mix())
    return _dedupe(ordered)


# --- VOLUME ----------------------------------------------------------------------------------
def gen_volume(ctx: StoreContext, objective: Objective) -> list[Draft]:
    pool = _objective_pool(ctx, objective)
    out = [
        Draft(
            BundleType.VOLUME,
            objective,
            [(p.product_id, 3, "anchor")],
            "volume_tiers",
            rationale="buy more, save more",
        )
        for p in pool[:MAX_PER_COMBO]
        if p.inventory is None or p.inventory >= 3
    ]
    return _dedupe(out)[:VOLUME_PER_COMBO]


# --- BXGY ------------------------------------------------------------------------------------
def gen_bxgy(ctx: StoreContext, objective: Objective) -> list[Draft]:
    """Buy a best seller, get a slow mover discounted; same category first, then co-purchased."""
    slow_ids = _metrics(ctx).slow_mover_ids
    slow = [p for p in ctx.in_stock if p.product_id in slow_ids]
    if not slow:
        slow = ctx.best_sellers[::-1][:ANCHORS]
    best = [p for p in ctx.best_sellers[: ANCHORS * 2] if p.product_id not in slow_ids]
    out = []
    used: set[str] = set()
    for b in best:
        same = [
            s
            for s in slow
            if s.category == b.category
            and s.product_id not in used
            and 0.25 <= s.price / max(b.price, 1e-9) <= 1.5
        ]
        if not same:
            continue
        pick = ctx.similar(b.product_id, -1, 1.01, 1, same)
        s = pick[0][0] if pick else same[0]
        used.add(s.product_id)
        out.append(
            Draft(
                BundleType.BXGY,
                objective,
                [(b.product_id, 1, "anchor"), (s.product_id, 1, "discounted")],
                "slow_mover_pairing",
                rationale=f"buy {b.title or b.product_id}, get {s.title or s.product_id} at 50% off",
            )
        )
    return _dedupe(out)


# --- GIFT_BOX --------------------------------------------------------------------------------
def gen_gift_box(ctx: StoreContext, objective: Objective) -> list[Draft]:
    """3 gift-worthy products (tagged gift first, then rated/best sellers), mid price band, mixed categories."""
    pool = ctx.best_sellers
    giftish = [
        p for p in pool if any("gift" in t.lower() for t in p.tags) or "gift" in p.title.lower()
    ]
    prices = np.array([p.price for p in pool]) if pool else np.array([0.0])
    lo, hi = np.percentile(prices, 20), np.percentile(prices, 90)
    mid = [p for p in pool if lo <= p.price <= hi]
    ranked = giftish + sorted(mid, key=lambda p: -(p.rating or 0))
    out = []
    seen: set[str] = set()
    ordered: list[Product] = []
    for p in ranked:  # first occurrence of each product
        if p.product_id not in seen:
            seen.add(p.product_id)
            ordered.append(p)
    for start in range(min(ANCHORS, len(ordered))):
        box, cats = [ordered[start]], {ordered[start].category}
        for p in ordered[start + 1 :]:
            if p.category not in cats or len(cats) >= 3:
                if p.product_id not in {b.product_id for b in box}:
                    box.append(p)
                    cats.add(p.category)
            if len(box) == 3:
                break
        if len(box) == 3:
            out.append(
                Draft(
                    BundleType.GIFT_BOX,
                    objective,
                    _lines([p.product_id for p in box]),
                    "gift_curation",
                    rationale="a ready-made gift set",
                )
            )
    return _dedupe(out)


# --- NEW_LAUNCH ------------------------------------------------------------------------------
def gen_new_launch(ctx: StoreContext, objective: Objective) -> list[Draft]:
    """New product (discounted) anchored on the most similar best seller of its category."""
    new_ids = _metrics(ctx).new_sku_ids
    new = [p for p in ctx.in_stock if p.product_id in new_ids]
    best = [p for p in ctx.best_sellers[:50] if p.product_id not in new_ids]
    out = []
    for n in new[:ANCHORS]:
        same = [b for b in best if b.category == n.category] or best
        pick = ctx.similar(n.product_id, -1, 1.01, 1, same)
        if pick:
            b = pick[0][0]
            out.append(
                Draft(
                    BundleType.NEW_LAUNCH,
                    objective,
                    [(b.product_id, 1, "anchor"), (n.product_id, 1, "discounted")],
                    "new_launch_anchor",
                    rationale=f"new: {n.title or n.product_id}, with a best seller",
                )
            )
    return _dedupe(out)


# --- SUBSCRIPTION ----------------------------------------------------------------------------
def gen_subscription(ctx: StoreContext, objective: Objective) -> list[Draft]:
    """Subscription-tagged or repeat-purchase products, alone or with a co-purchased replenishable."""
    pool = [
        p for p in ctx.best_sellers if p.subscription or any("subscri" in t.lower() for t in p.tags)
    ] or _repeat_buys(ctx)
    ids = {p.product_id for p in pool}
    out = []
    for p in pool[:ANCHORS]:
        mate = [q for q, _ in ctx.partners(p.product_id, 1, pool=ids)]
        out.append(
            Draft(
                BundleType.SUBSCRIPTION,
                objective,
                _lines([p.product_id, *mate]),
                "subscription_replenish",
                rationale="subscribe and save on repeat purchases",
            )
        )
    return _dedupe(out)


GENERATORS: dict[BundleType, Callable[[StoreContext, Objective], list[Draft]]] = {
    BundleType.FBT: gen_fbt,
    BundleType.FIXED: gen_fixed,
    BundleType.MIX_MATCH: gen_mix_match,
    BundleType.VOLUME: gen_volume,
    BundleType.BXGY: gen_bxgy,
    BundleType.GIFT_BOX: gen_gift_box,
    BundleType.NEW_LAUNCH: gen_new_launch,
    BundleType.SUBSCRIPTION: gen_subscription,
}


def generate_candidates(
    ctx: StoreContext, objective: Objective, bundle_type: BundleType
) -> list[Draft]:
    return GENERATORS[BundleType(bundle_type)](ctx, Objective(objective))
