"""Small helpers shared by the views: bounded body reads, JSON bodies validated against a model,
and JSON error answers."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import orjson
from aiohttp import web as aioweb
from faust import web
from pydantic import BaseModel, ValidationError

from models.common import safe_id_problem

from .. import readmodel
from ..app import settings

log = logging.getLogger(__name__)

Model = TypeVar("Model", bound=BaseModel)
LISTED_ERRORS = 5  # validation errors named in the reason text (all are in ``errors``)


# What a view's ``request`` is typed as (faust's abstract Request), or aiohttp's own.
AnyRequest = web.Request | aioweb.Request


def aiohttp_request(request: AnyRequest) -> aioweb.Request:
    """The aiohttp request behind a view's ``request``: faust's aiohttp driver passes aiohttp's
    own ``Request``, while faust types views with an abstract one that lacks its attributes."""
    return cast(aioweb.Request, request)


class HttpError(Exception):
    def __init__(self, status: int, reason: str, errors: list[dict] | None = None) -> None:
        super().__init__(reason)
        self.status, self.reason, self.errors = status, reason, errors or []


async def read_body(request: AnyRequest, limit: int | None = None) -> bytes:
    """Read at most ``limit`` bytes; a larger body is a 413 without reading it all."""
    request = aiohttp_request(request)
    limit = limit or settings.max_body_bytes
    declared = request.content_length
    if declared is not None and declared > limit:
        raise HttpError(413, f"body of {declared} bytes exceeds the limit of {limit}")
    # StreamReader.read(n) returns what has arrived (one chunk), not n bytes: loop to the end.
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(limit + 1 - size)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise HttpError(413, f"body exceeds the limit of {limit} bytes")


def validation_errors(exc: ValidationError) -> list[dict[str, str]]:
    """Each validation error as ``{"loc": "a.b", "msg": ...}``, without the input or a URL."""
    return [
        {"loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"]}
        for e in exc.errors(include_url=False, include_input=False)
    ]


def invalid(exc: ValidationError, what: str, listed: int | None = LISTED_ERRORS) -> HttpError:
    """422 ``invalid <what>: loc: msg; ...`` naming the first ``listed`` errors (None: all)."""
    errors = validation_errors(exc)
    reason = "; ".join(f"{e['loc']}: {e['msg']}" for e in errors[:listed])
    return HttpError(422, f"invalid {what}: {reason}", errors)


def parse_json(body: bytes, *, object_required: bool = False) -> Any:
    """The body as JSON, or HttpError 422 (not JSON; not an object when one is required)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise HttpError(422, f"body is not JSON: {exc}") from exc
    if object_required and not isinstance(data, dict):
        raise HttpError(422, "body must be a JSON object")
    return data


def parse_model(
    body: bytes,
    model: type[Model],
    what: str,
    prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> Model:
    """A request body validated against ``model``, or HttpError 422 with the reason.

    ``prepare`` (defaults, fields the server sets, checks of its own) gets the body's JSON object
    and returns what to validate; with it, a body that is not a JSON object is refused first.
    Without it, the model itself refuses a non-object.
    """
    data = parse_json(body, object_required=prepare is not None)
    if prepare is not None:
        data = prepare(data)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid(exc, what) from exc


async def read_model(
    request: AnyRequest,
    model: type[Model],
    what: str,
    prepare: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> Model:
    """Read the body (413 past ``max_body_bytes``) and validate it: ``parse_model``."""
    return parse_model(await read_body(request), model, what, prepare)


def check_id(kind: str, value: str) -> str:
    """A client-named id (store, upload, session, bundle), or HttpError 422 naming the problem.

    Such ids end up in Redis keys, key scopes and URLs; one strict spelling rule (``SafeId``) at
    every door means a path trick or a look-alike never reaches another store's data.
    """
    problem = safe_id_problem(value)
    if problem:
        raise HttpError(422, f"invalid {kind} {value[:60]!r}: {problem}")
    return value


def error_response(view: web.View, exc: HttpError) -> web.Response:
    payload: dict[str, Any] = {"error": exc.reason}
    if exc.errors:
        payload["errors"] = exc.errors
    return view.json(payload, status=exc.status)


REDIS_RETRY_AFTER_S = 2
_last_logged = 0.0


@aioweb.middleware
async def redis_unavailable_middleware(
    request: aioweb.Request,
    handler: Callable[[aioweb.Request], Awaitable[aioweb.StreamResponse]],
) -> aioweb.StreamResponse:
    """A view (or the rate limiter) whose Redis call failed answers 503 with the reason, fast.

    Redis is the read model; while it is down the worker keeps counting and readers are told so
    (``{"error": "redis_unavailable"}`` with ``Retry-After``) instead of waiting on a socket."""
    global _last_logged
    started = time.monotonic()
    try:
        return await handler(request)
    except readmodel.UNAVAILABLE as exc:
        readmodel.note_unavailable(f"{request.method} {request.path}", exc)
        now = time.monotonic()
        if now - _last_logged > 10:
            _last_logged = now
            log.warning("Redis unavailable for %s %s: %s", request.method, request.path, exc)
        body = {
            "error": "redis_unavailable",
            "reason": f"the read model (Redis) did not answer: {type(exc).__name__}: {exc}"[:300],
            "retry_after_s": REDIS_RETRY_AFTER_S,
            "waited_s": round(now - started, 3),
        }
        return aioweb.Response(
            body=orjson.dumps(body),
            status=503,
            content_type="application/json",
            headers={"Retry-After": str(REDIS_RETRY_AFTER_S)},
        )
