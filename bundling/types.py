"""Objective -> bundle types (1-2 each): which kinds of offer serve each merchant goal.

==================  ====================  ==============================================
objective           types                 why
==================  ====================  ==============================================
margin_guard        FIXED, FBT            curated high-margin sets with a capped discount,
                                          and proven pairs that need little discount
clear_slow_movers   BXGY, VOLUME          ride a best seller's traffic; move units in bulk
increase_aov        FBT, MIX_MATCH        add what is bought together; widen the basket
new_launch          NEW_LAUNCH, FBT       anchor the new product on a best seller
seasonal_promo      MIX_MATCH, FIXED      recent best sellers as a themed set
category_bundle     MIX_MATCH             one pick per category (category diverse)
gift_box            GIFT_BOX              curated cross-category gift set
subscription_push   SUBSCRIPTION, VOLUME  replenishment items; bulk on repeat buys
==================  ====================  ==============================================
"""

from __future__ import annotations

from models.bundles import BundleType, Objective

OBJECTIVE_TYPES: dict[Objective, tuple[BundleType, ...]] = {
    Objective.MARGIN_GUARD: (BundleType.FIXED, BundleType.FBT),
    Objective.CLEAR_SLOW_MOVERS: (BundleType.BXGY, BundleType.VOLUME),
    Objective.INCREASE_AOV: (BundleType.FBT, BundleType.MIX_MATCH),
    Objective.NEW_LAUNCH: (BundleType.NEW_LAUNCH, BundleType.FBT),
    Objective.SEASONAL_PROMO: (BundleType.MIX_MATCH, BundleType.FIXED),
    Objective.CATEGORY_BUNDLE: (BundleType.MIX_MATCH,),
    Objective.GIFT_BOX: (BundleType.GIFT_BOX,),
    Objective.SUBSCRIPTION_PUSH: (BundleType.SUBSCRIPTION, BundleType.VOLUME),
}


def get_bundle_types_for_objective(objective: Objective) -> tuple[BundleType, ...]:
    return OBJECTIVE_TYPES[Objective(objective)]


def build_combos(objectives: list[Objective]) -> list[tuple[Objective, BundleType]]:
    return [(o, t) for o in objectives for t in get_bundle_types_for_objective(o)]
