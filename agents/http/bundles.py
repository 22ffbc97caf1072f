"""POST /api/v1/bundle/add-bulk, GET /api/v1/bundles/{bundle_id}, attach stats.

Request and response are exactly the seed's (``AddBulkRequest``/``AddBulkResponse``); the
optional store_id/session_id/option_label say where the click came from. The store is the
request's store_id, else the session's store, else ``settings.default_store_id``.
"""

from __future__ import annotations

import orjson
from faust import web
from pydantic import ValidationError

from composite.bulk_add import UnknownProductsError
from models.chat import AddBulkRequest
from security import store_route

from ..app import app, settings
from ..bundles_store import (
    BundleConflict,
    add_bulk,
    publish_added,
    read_attach_stats,
    read_bundle,
    session_store,
)
from ..catalogs import catalog_for
from .auth import authorize_store, guarded
from .common import HttpError, check_id, error_response, read_body
from .config import validation_errors


async def parse_request(body: bytes) -> AddBulkRequest:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise HttpError(422, f"body is not JSON: {exc}") from exc
    try:
        return AddBulkRequest.model_validate(data)
    except ValidationError as exc:
        errors = validation_errors(exc)
        raise HttpError(
            422,
            "invalid add-bulk request: " + "; ".join(f"{e['loc']}: {e['msg']}" for e in errors[:5]),
            errors,
        ) from exc


async def resolve_store(req: AddBulkRequest) -> str:
    if req.store_id:
        return req.store_id
    if req.session_id:
        store = await session_store(req.session_id)
        if store:
            return store
    return settings.default_store_id


@app.page("/api/v1/bundle/add-bulk")
@guarded(store_route(in_view=True, rate_limit="bulk_add"))
class AddBulk(web.View):
    async def post(self, request: web.Request) -> web.Response:
        try:
            req = await parse_request(await read_body(request))
            store_id = await resolve_store(req)
            authorize_store(request, store_id)
            catalog = await catalog_for(store_id)
            if catalog is None:
                raise HttpError(
                    422,
                    f"store {store_id!r} has no catalog, so no product id can be added",
                    [
                        {
                            "loc": "product_ids",
                            "msg": "unknown product ids",
                            "unknown_ids": list(req.product_ids),
                        }
                    ],
                )
            try:
                result = await add_bulk(req, catalog.by_id, store_id)
            except UnknownProductsError as exc:
                raise HttpError(
                    422,
                    f"unknown product ids for store {store_id!r}: {', '.join(exc.unknown_ids)}",
                    [
                        {
                            "loc": "product_ids",
                            "msg": "unknown product ids",
                            "unknown_ids": exc.unknown_ids,
                        }
                    ],
                ) from exc
            except BundleConflict as exc:
                raise HttpError(409, str(exc)) from exc
        except HttpError as exc:
            return error_response(self, exc)
        await publish_added(result.record)
        return self.json(result.response.model_dump(mode="json"), status=200)


@app.page("/api/v1/bundles/{bundle_id}")
@guarded(store_route(in_view=True))
class Bundle(web.View):
    async def get(self, request: web.Request, bundle_id: str) -> web.Response:
        try:
            check_id("bundle_id", bundle_id)
        except HttpError as exc:
            return error_response(self, exc)
        doc = await read_bundle(bundle_id)
        if doc is None:
            return self.json({"error": f"no bundle {bundle_id!r}"}, status=404)
        try:
            authorize_store(request, str(doc.get("store_id", "")))
        except HttpError as exc:
            return error_response(self, exc)
        return self.json(doc)


@app.page("/api/v1/stores/{store}/attach-stats")
@guarded(store_route(param="store"))
class AttachStats(web.View):
    async def get(self, request: web.Request, store: str) -> web.Response:
        try:
            check_id("store", store)
        except HttpError as exc:
            return error_response(self, exc)
        try:
            limit = int(request.query.get("limit", "20"))
        except ValueError:
            return self.json({"error": "limit must be an integer"}, status=422)
        if not 1 <= limit <= 500:
            return self.json({"error": "limit must be between 1 and 500"}, status=422)
        return self.json({"store_id": store, "products": await read_attach_stats(store, limit)})
