"""OpenAPI 3.1 for the worker's HTTP API, generated from the live route table.

Paths and methods come from the Faust app's registered views (so a new view appears here without a
second edit); request and response bodies from the pydantic models named below. The committed copy
``docs/openapi.json`` is checked for staleness like the AsyncAPI document.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from bundlestream import __version__
from models import (
    AddBulkRequest,
    AddBulkResponse,
    BundleSet,
    ChatTurn,
    ConfigDocument,
    StorePerformance,
)

METHODS = ("get", "post", "put", "delete", "patch")

# (path, method) -> (request body model or media type, 2xx response model or None)
BODIES: dict[tuple[str, str], tuple[type[BaseModel] | str | None, type[BaseModel] | None]] = {
    ("/api/v1/bundle/add-bulk", "post"): (AddBulkRequest, AddBulkResponse),
    ("/api/v1/chat/turns", "post"): (ChatTurn, None),
    ("/api/v1/config", "get"): (None, ConfigDocument),
    ("/api/v1/config", "put"): (ConfigDocument, ConfigDocument),
    ("/api/v1/stores/{store}/bundles", "get"): (None, BundleSet),
    ("/api/v1/stores/{store}/bundles/performance", "get"): (None, StorePerformance),
    ("/api/v1/uploads", "post"): ("multipart/form-data", None),
    ("/api/v1/webhooks/orders", "post"): ("application/json", None),
    ("/api/v1/keys", "post"): ("application/json", None),
}

ERRORS = {
    "401": "No API key, or an unknown or revoked one (the webhook: missing or invalid signature).",
    "403": "The key's scope does not cover this store or route.",
    "404": "Not found.",
    "409": "Version conflict or resource owned by another store.",
    "413": "Body larger than the configured limit.",
    "422": 'Invalid input; the body says why: {"error": reason, "errors": [...]}.',
}


BEARER = "apiKey"
SECURITY_SCHEMES = {
    BEARER: {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key (`bundlestream keys create --scope SCOPE`), scope admin, gateway or "
        "store:<store_id>, sent as `Authorization: Bearer <key>`.",
    }
}


def _policies() -> dict[str, Any]:
    from agents.http.auth import route_policies

    return route_policies()


def _security(policy: Any) -> tuple[list[dict[str, list]], str]:
    """(the operation's security requirement, a sentence on who may call it)."""
    from security import Access

    if policy is None:
        return [{BEARER: []}], "Refused: this route has no access policy."
    if policy.access is Access.OPEN:
        return [], f"Open (no key): {policy.reason}."
    return [{BEARER: []}], f"Key scope: {policy.describe()}."


def _views() -> dict[str, Any]:
    from agents.worker import app  # registers every view; no connection is made at import

    return dict(app.web.views)


def _methods(view: Any) -> list[str]:
    from faust.web import View

    return [m for m in METHODS if getattr(type(view), m) is not getattr(View, m)]


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def openapi() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    models: dict[str, type[BaseModel]] = {}
    views = _views()
    policies = _policies()
    for path, view in sorted(views.items()):
        item: dict[str, Any] = {}
        params = re.findall(r"{(\w+)}", path)
        if params:
            item["parameters"] = [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                for p in params
            ]
        doc = (type(view).__doc__ or "").strip().splitlines()
        for method in _methods(view):
            request, response = BODIES.get((path, method), (None, None))
            op: dict[str, Any] = {
                "operationId": f"{method}_{type(view).__name__}",
                "summary": doc[0] if doc else path,
            }
            policy = policies.get(path)
            op["security"], op["description"] = _security(policy)
            if isinstance(request, type):
                models[request.__name__] = request
                op["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": _ref(request)}},
                }
            elif isinstance(request, str):
                op["requestBody"] = {
                    "required": True,
                    "content": {request: {"schema": {"type": "object"}}},
                }
            ok: dict[str, Any] = {"description": "OK"}
            if response is not None:
                models[response.__name__] = response
                ok["content"] = {"application/json": {"schema": _ref(response)}}
            errors = dict(ERRORS)
            if not op["security"]:
                errors.pop("403")
                if path != "/api/v1/webhooks/orders":
                    errors.pop("401")
            if policy is not None and policy.rate_limit:
                errors["429"] = (
                    "Per-key rate limit reached; `Retry-After` says in how many seconds to retry."
                )
            op["responses"] = {
                "200": ok,
                **{code: {"description": text} for code, text in sorted(errors.items())},
            }
            item[method] = op
        paths[path] = item
    schemas: dict[str, Any] = {}
    for name, model in sorted(models.items()):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for def_name, definition in schema.pop("$defs", {}).items():
            schemas.setdefault(def_name, definition)
        schemas[name] = schema
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "bundlestream worker HTTP API",
            "version": __version__,
            "description": "Generated by `bundlestream docs` from the worker's routes; do not edit.",
        },
        "servers": [{"url": "http://127.0.0.1:6066"}],
        "paths": paths,
        "security": [{BEARER: []}],
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": SECURITY_SCHEMES,
        },
    }
