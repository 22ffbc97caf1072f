"""Small helpers shared by the views: bounded body reads and JSON error answers."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web as aioweb
from faust import web

from models.common import safe_id_problem

from .. import readmodel
from ..app import settings

log = logging.getLogger(__name__)


class HttpError(Exception):
    def __init__(self, status: int, reason: str, errors: list[dict] | None = None) -> None:
        super().__init__(reason)
        self.status, self.reason, self.errors = status, reason, errors or []


async def read_body(request: web.Request, limit: int | None = None) -> bytes:
    """Read at most ``limit`` bytes; a larger body is a 413 without reading it all."""
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
