"""Live popularity and category maturity from order events: broker-free, exact under replay."""

from .aggregate import (
    AppliedOrder,
    CategoryTally,
    OrderAtOffset,
    PopularityUpdates,
    Retention,
    SoldCount,
    ground_truth,
    key_of,
    plan_updates,
    split_key,
    writes_by_partition,
)
from .ledger import MAX_REFUNDS_PER_ORDER, dedupe_identity, net_ground_truth
from .retention import ExpiryIndex, SeenOrder, TopN

__all__ = [
    "MAX_REFUNDS_PER_ORDER",
    "AppliedOrder",
    "CategoryTally",
    "ExpiryIndex",
    "OrderAtOffset",
    "PopularityUpdates",
    "Retention",
    "SeenOrder",
    "SoldCount",
    "TopN",
    "dedupe_identity",
    "ground_truth",
    "key_of",
    "net_ground_truth",
    "plan_updates",
    "split_key",
    "writes_by_partition",
]
