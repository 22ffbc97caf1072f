"""GET/PUT /api/v1/config and the config page: configuration changes without a deploy.

PUT validates with the pydantic models (product mix pct sums to 100, products_per_category 1-10,
known sort keys, prompt size) and answers 422 with the reason; it is an optimistic write: the
body's ``version`` is the version the editor read, a stale one is a 409. The version check is a
compare-and-set in Redis seeded from this worker's view, so two workers that both read version
N cannot both publish N+1. After publishing, the handler waits (bounded) until this worker's
config view has read the record, so the answer and a following GET show the new document.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import orjson
from faust import web
from pydantic import ValidationError

from models.config import DEFAULT_PROMPTS, ConfigDocument
from security import admin_only, open_route

from .. import readmodel
from ..app import app
from ..config_view import PLATFORM_SCOPE, current_config, current_version, publish_config, state
from .auth import guarded
from .common import HttpError, error_response, read_body

STATIC = Path(__file__).resolve().parent.parent / "static"
# The pages show merchant text (product names, prompts) as text; this policy makes a slip inert
# too: scripts only from this origin (no inline script, no eval), no plugins or framing, no form
# may submit anywhere (the key field is never sent by a form), and no URL leaks as a referrer.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
READ_YOUR_WRITES_S = 5.0

# KEYS[1] = version key; ARGV = expected, floor (the view's version). Returns -1 when claimed.
# The claim expires so that a publish that failed after claiming cannot wedge the scope.
_CAS = """
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local floor = tonumber(ARGV[2])
if floor > cur then cur = floor end
if cur ~= tonumber(ARGV[1]) then return cur end
redis.call('SET', KEYS[1], cur + 1, 'EX', 30)
return -1
"""


def document_json(scope: str) -> dict[str, Any]:
    """The effective document; ``version`` 0 means nothing stored yet (defaults)."""
    data = current_config(scope).model_dump(mode="json")
    data["scope"] = scope
    data["version"] = current_version(scope)
    data["stored"] = scope in state.docs
    return data


def validation_errors(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {"loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"]}
        for e in exc.errors(include_url=False, include_input=False)
    ]


def build_document(body: bytes, scope: str) -> tuple[int, ConfigDocument]:
    """Parse a PUT body into (expected version, the document to publish); HttpError 422 if bad."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise HttpError(422, f"body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise HttpError(422, "body must be a JSON object")
    expected = data.pop("version", None)
    if not isinstance(expected, int) or isinstance(expected, bool) or expected < 0:
        raise HttpError(
            422,
            "version (the version you read, 0 for a first write) is required and must be an integer >= 0",
        )
    for ignored in ("stored", "schema_version", "updated_at", "scope"):
        data.pop(ignored, None)
    prompts = data.get("prompts")
    if isinstance(prompts, dict) and isinstance(prompts.get("prompts"), dict):
        # a partial prompt set keeps the defaults of the prompts it does not mention
        merged = {k: dict(v) for k, v in DEFAULT_PROMPTS.items()}
        for key, value in prompts["prompts"].items():
            merged[key] = {**merged.get(key, {}), **value} if isinstance(value, dict) else value
        prompts["prompts"] = merged
    try:
        doc = ConfigDocument.model_validate({**data, "scope": scope, "version": expected + 1})
    except ValidationError as exc:
        errors = validation_errors(exc)
        reason = "; ".join(f"{e['loc']}: {e['msg']}" for e in errors[:5])
        raise HttpError(422, f"invalid config: {reason}", errors) from exc
    return expected, doc


@app.page("/api/v1/config")
@guarded(admin_only())
class ConfigApi(web.View):
    """The platform document (or ``?scope=<store>``)."""

    async def get(self, request: web.Request) -> web.Response:
        scope = request.query.get("scope") or PLATFORM_SCOPE
        return self.json(document_json(scope))

    async def put(self, request: web.Request) -> web.Response:
        scope = request.query.get("scope") or PLATFORM_SCOPE
        try:
            expected, doc = build_document(await read_body(request), scope)
            claimed = await readmodel.redis_client().eval(
                _CAS, 1, readmodel.rkey("config-version", scope), expected, current_version(scope)
            )
            if int(claimed) != -1:
                raise HttpError(
                    409,
                    f"stale version {expected}: the current version is {int(claimed)}; reload and retry",
                )
        except HttpError as exc:
            return error_response(self, exc)
        offset = await publish_config(doc)
        if not await state.wait_for_offset(offset, READ_YOUR_WRITES_S):
            return self.json(
                {
                    "status": "accepted",
                    "version": doc.version,
                    "offset": offset,
                    "warning": "published, not yet visible on this worker",
                },
                status=202,
            )
        return self.json(
            {"status": "applied", "offset": offset, **document_json(scope)}, status=200
        )


@app.page("/config")
@guarded(open_route("static HTML of the config page: no data; its API calls carry the admin key"))
class ConfigPage(web.View):
    async def get(self, request: web.Request) -> web.Response:
        return self.html(
            (STATIC / "config.html").read_text(encoding="utf-8"), headers=dict(PAGE_HEADERS)
        )


@app.page("/static/{name}")
@guarded(open_route("the pages' static scripts and styles: no data"))
class Static(web.View):
    """The pages' scripts and styles (flat folder; names are checked, never joined blindly)."""

    TYPES: ClassVar[dict[str, str]] = {
        ".js": "application/javascript",
        ".css": "text/css",
        ".html": "text/html",
    }

    async def get(self, request: web.Request, name: str) -> web.Response:
        path = STATIC / name
        if (
            "/" in name
            or name.startswith(".")
            or path.suffix not in self.TYPES
            or not path.is_file()
        ):
            return self.json({"error": f"no static file {name!r}"}, status=404)
        return self.bytes(
            path.read_bytes(), content_type=self.TYPES[path.suffix], headers=dict(PAGE_HEADERS)
        )
