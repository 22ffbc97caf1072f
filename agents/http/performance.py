"""GET /api/v1/stores/{store}/bundles/performance: live performance of the store's published set.

Answers ``models.performance.StorePerformance`` from the Redis read model the orders agent keeps
(``perf:<store>``), so any worker answers. A set published after the last counted order (or one
no order reached yet) answers with zero counts, built from the latest bundle set; no ok set at
all is a 404 with the reason. Authorized like ``GET /api/v1/stores/{store}/bundles``: the
store's key or an admin key.
"""

from __future__ import annotations

from datetime import UTC, datetime

from faust import web

from models.performance import StorePerformance
from popularity.performance import empty_performance, published_from_json
from security import store_route

from .. import readmodel, redis_keys
from ..app import app
from .auth import guarded
from .common import HttpError, check_id, error_response


def answer(store: str, perf_raw: str | None, latest_raw: str | None) -> StorePerformance | None:
    """The answer from the two read-model values (None: the store has no published set)."""
    perf = StorePerformance.model_validate_json(perf_raw) if perf_raw else None
    latest = published_from_json(latest_raw)
    if latest is not None and (perf is None or perf.upload_id != latest.upload_id):
        published_at = datetime.fromtimestamp(latest.generated_at_s, UTC)
        if perf is None or published_at >= perf.published_at:
            return empty_performance(store, latest, datetime.now(UTC))
    return perf


@app.page("/api/v1/stores/{store}/bundles/performance")
@guarded(store_route(param="store"))
class StoreBundlePerformance(web.View):
    async def get(self, request: web.Request, store: str) -> web.Response:
        try:
            check_id("store", store)
        except HttpError as exc:
            return error_response(self, exc)
        pipe = readmodel.redis_client().pipeline(transaction=False)
        pipe.get(readmodel.rkey(redis_keys.BUNDLE_PERFORMANCE, store))
        pipe.get(readmodel.rkey(redis_keys.LATEST_BUNDLE_SET, store))
        perf_raw, latest_raw = await pipe.execute()
        perf = answer(store, perf_raw, latest_raw)
        if perf is None:
            return self.json(
                {"error": f"store {store!r} has no published bundle set to measure"}, status=404
            )
        return self.json(perf.model_dump(mode="json"))
