"""Live popularity and category maturity from order events: broker-free, exact under replay."""

from .aggregate import (
    CategoryTally, OrderAtOffset, PopularityUpdates, SoldCount, ground_truth, key_of, plan_updates, split_key, writes_by_partition,
)

__all__ = ["CategoryTally", "OrderAtOffset", "PopularityUpdates", "SoldCount", "key_of", "plan_updates", "split_key", "ground_truth", "writes_by_partition"]
