"""GET bundles/performance: which read-model value answers, and who may call it."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from popularity.performance import PerformanceState, PublishedSet, store_performance
from security import Access

SET1 = PublishedSet("up1", 1_700_000_000, (("b1", ("a", "b")),))
SET2 = PublishedSet("up2", 1_700_100_000, (("b2", ("c", "d")),))


def bundle_set_json(published: PublishedSet, status: str = "ok") -> str:
    return orjson.dumps(
        {
            "upload_id": published.upload_id,
            "status": status,
            "generated_at": datetime.fromtimestamp(published.generated_at_s, UTC).isoformat(),
            "bundles": [
                {"bundle_id": bid, "products": [{"product_id": p} for p in pids]}
                for bid, pids in published.bundles
            ],
        }
    ).decode()


def perf_json(published: PublishedSet, orders: int) -> str:
    state = PerformanceState.fresh(published)
    state.orders = orders
    return store_performance("s", state, datetime.now(UTC)).model_dump_json()


def test_answer_prefers_counts_of_the_latest_set() -> None:
    from agents.http.performance import answer

    assert answer("s", None, None) is None
    assert answer("s", None, bundle_set_json(SET1, status="error")) is None
    zero = answer("s", None, bundle_set_json(SET1))
    assert zero is not None and zero.upload_id == "up1" and zero.orders_since_published == 0
    counted = answer("s", perf_json(SET1, 7), bundle_set_json(SET1))
    assert counted is not None and counted.orders_since_published == 7
    # a newer set with no order yet: zero counts for it, not the old set's
    newer = answer("s", perf_json(SET1, 7), bundle_set_json(SET2))
    assert newer is not None and newer.upload_id == "up2" and newer.orders_since_published == 0
    assert [b.bundle_id for b in newer.bundles] == ["b2"]
    # the latest set failed: the counts of the published one still answer
    kept = answer("s", perf_json(SET1, 7), bundle_set_json(SET2, status="error"))
    assert kept is not None and kept.upload_id == "up1"


def test_route_is_guarded_like_the_store_bundles() -> None:
    from agents.http.auth import route_policies
    from agents.http.performance import StoreBundlePerformance  # noqa: F401  (registers)
    from agents.http.uploads import StoreBundles  # noqa: F401  (registers)

    policies = route_policies()
    mine = policies["/api/v1/stores/{store}/bundles/performance"]
    theirs = policies["/api/v1/stores/{store}/bundles"]
    assert mine == theirs and mine.access is not Access.OPEN
