"""Small helpers shared by the views: bounded body reads and JSON error answers."""

from __future__ import annotations

from typing import Any

from faust import web

from ..app import settings


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
    body = await request.content.read(limit + 1)
    if len(body) > limit:
        raise HttpError(413, f"body exceeds the limit of {limit} bytes")
    return body


def error_response(view: web.View, exc: HttpError) -> web.Response:
    payload: dict[str, Any] = {"error": exc.reason}
    if exc.errors:
        payload["errors"] = exc.errors
    return view.json(payload, status=exc.status)
