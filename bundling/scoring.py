"""Hybrid score with per-category alpha/beta (docs/design.md, Scoring).

alpha = 0.6 / (1 + exp(0.01 (n - 300))) on the anchor category's live transaction count n,
beta = 0.8 - alpha, gamma = 0.2; score = alpha*semantic + beta*data + gamma*business, each
component in [0, 1] so the score is in [0, 1]:

* semantic: embedding coherence (mean pairwise cosine, clipped to [0, 1]; 1 for one product).
* data: mean of lift_n = 1 - 1/lift (0 when lift <= 1), confidence, and co-purchase share
  min(1, support / 0.05) (5% of baskets saturates); for bundles not mined, the anchor->member
  pair statistics from the baskets are averaged; a single product (and every VOLUME offer)
  scores min(1, share of baskets holding the anchor / 0.05) instead.
* business: mean of margin_n = clip(margin / 0.5), inventory pressure (share of members that are
  slow movers or new), and objective fit (1 when the bundle contains what its objective
  targets, 0.5 otherwise).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from models.bundles import BundleType, Objective, ScoreComponents

from .candidates import Draft
from .context import StoreContext
from .embeddings import coherence
from .pricing import bundle_margin

GAMMA = 0.2


def sigmoid_alpha(n: float, midpoint: float = 300.0, steepness: float = 0.01) -> float:
    return 0.6 / (1.0 + math.exp(steepness * (n - midpoint)))


def alpha_beta_gamma(n: float) -> tuple[float, float, float]:
    a = sigmoid_alpha(n)
    return a, 0.8 - a, GAMMA


def _clip(x: float) -> float:
    return 0.0 if x != x or x < 0 else 1.0 if x > 1 else float(x)


def data_component(ctx: StoreContext, d: Draft) -> float:
    if d.support is not None and d.confidence is not None and d.lift is not None:
        s, c, lift = d.support, d.confidence, d.lift
    else:
        ids = d.product_ids
        if len(ids) == 1 or d.bundle_type in (BundleType.VOLUME,):
            j = ctx.item_col.get(ids[0])
            n = max(ctx.basket.n_baskets, 1)
            share = ctx.item_counts[j] / n if j is not None else 0.0
            return _clip(min(1.0, share / 0.05))
        stats = [ctx.pair_stats(ids[0], b) for b in ids[1:]]
        s = sum(x[0] for x in stats) / len(stats)
        c = sum(x[1] for x in stats) / len(stats)
        lift = sum(x[2] for x in stats) / len(stats)
    lift_n = 1 - 1 / lift if lift > 1 else 0.0
    return _clip((lift_n + _clip(c) + min(1.0, s / 0.05)) / 3)


def business_component(ctx: StoreContext, d: Draft) -> float:
    m = ctx.metrics
    mv = bundle_margin(d.pricing, d.lines, ctx.products, ctx.assumed_margin) if d.pricing else None
    margin_n = _clip((mv.margin if mv else 0.0) / 0.5)
    ids = d.product_ids
    pressure = sum(1 for i in ids if i in m.slow_mover_ids or i in m.new_sku_ids) / len(ids)
    target = {
        Objective.CLEAR_SLOW_MOVERS: any(i in m.slow_mover_ids for i in ids),
        Objective.NEW_LAUNCH: any(i in m.new_sku_ids for i in ids),
        Objective.MARGIN_GUARD: all(ctx.margin_of(ctx.products[i]) >= 0.4 for i in ids),
        Objective.CATEGORY_BUNDLE: len({ctx.products[i].category for i in ids}) > 1
        or d.generation_method == "category_diversity",
        Objective.SUBSCRIPTION_PUSH: d.bundle_type == BundleType.SUBSCRIPTION,
        Objective.GIFT_BOX: d.bundle_type == BundleType.GIFT_BOX,
    }.get(d.objective, True)
    fit = 1.0 if target else 0.5
    return _clip((margin_n + pressure + fit) / 3)


def score_draft(ctx: StoreContext, d: Draft, category_transactions: Mapping[str, int]) -> Draft:
    anchor = ctx.products[d.product_ids[0]]
    n = int(category_transactions.get(anchor.category, 0))
    a, b, g = alpha_beta_gamma(n)
    sem = coherence(ctx.embeddings, [ctx.pos[i] for i in d.product_ids])
    dat = data_component(ctx, d)
    bus = business_component(ctx, d)
    d.components = ScoreComponents(
        semantic=round(sem, 6),
        data=round(dat, 6),
        business=round(bus, 6),
        alpha=round(a, 6),
        beta=round(b, 6),
        gamma=g,
        anchor_category=anchor.category,
        anchor_category_transactions=n,
    )
    d.score = round(a * sem + b * dat + g * bus, 6)
    return d
