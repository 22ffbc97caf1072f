"""Live popularity and category maturity from order events: broker-free, exact under replay."""

from .aggregate import (
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
from .retention import ExpiryIndex, SeenOrder, TopN

__all__ = [
    "CategoryTally",
    "ExpiryIndex",
    "OrderAtOffset",
    "PopularityUpdates",
    "Retention",
    "SeenOrder",
    "SoldCount",
    "TopN",
    "ground_truth",
    "key_of",
    "plan_updates",
    "split_key",
    "writes_by_partition",
]
