"""Authentication, authorization, per-key rate limits and CORS for every HTTP route.

One aiohttp middleware on Faust's web app: it finds the route's ``RoutePolicy`` (the marker a
view gets with ``@guarded(...)``), authenticates ``Authorization: Bearer <key>`` against the key
registry, and asks ``security.decide``. A route with no policy is refused (default deny). When
the store is only known inside the view (a form field, a body field, a lookup), the view calls
``authorize_store(request, store_id)`` once it knows it; a 2xx answer from such a route that
never did is turned into a 500, so a forgotten check fails loudly instead of leaking.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web as aioweb

from security import (
    NO_KEY,
    UNKNOWN_KEY,
    Principal,
    RoutePolicy,
    admin_only,
    bearer_token,
    decide,
    guarded,
    open_route,
    policy_of,
    retry_after_seconds,
)
from security.ratelimit import RATE_LIMIT_LUA

from .. import readmodel
from ..app import app, settings
from ..keys_view import note_used, registry_view
from .common import AnyRequest, HttpError, aiohttp_request, redis_unavailable_middleware

log = logging.getLogger(__name__)
__all__ = [
    "auth_middleware",
    "authorize_store",
    "guarded",
    "install",
    "nothing_to_authorize",
    "principal_of",
]

# Typed request-storage keys (aiohttp >= 3.12; plain strings on older aiohttp).
_RequestKey: Any = getattr(aioweb, "RequestKey", None)
PRINCIPAL: Any = (
    _RequestKey("bundlestream.principal", Principal) if _RequestKey else "bundlestream.principal"
)
POLICY: Any = (
    _RequestKey("bundlestream.policy", RoutePolicy) if _RequestKey else "bundlestream.policy"
)
STORE_CHECKED: Any = (
    _RequestKey("bundlestream.store_checked", bool) if _RequestKey else "bundlestream.store_checked"
)

# Routes Faust itself registers (not our views, so they carry no marker): decided here.
FAUST_INDEX = open_route('Faust\'s built-in index: a constant {"status": "OK"}, no data')
METRICS_PUBLIC = open_route(
    "metrics_public is set: a scraper on a private network reads it without a key"
)


def metrics_policy() -> RoutePolicy:
    """Prometheus metrics name topics and stores in labels, so they need an admin key unless the
    operator says the network is private (``metrics_public``)."""
    return METRICS_PUBLIC if settings.metrics_public else admin_only()


def route_policies() -> dict[str, RoutePolicy | None]:
    """Path pattern -> policy for every view on the app (None = no decision: refused)."""
    out: dict[str, RoutePolicy | None] = {}
    for path, view in app.web.views.items():
        policy = policy_of(view)
        if policy is None and path == "/metrics":
            policy = metrics_policy()
        if policy is None and path == "/" and type(view).__module__.startswith("faust.web.apps"):
            policy = FAUST_INDEX
        out[path] = policy
    return out


_policies: dict[str, RoutePolicy | None] | None = None


def _policy_for(request: aioweb.Request) -> RoutePolicy | None:
    global _policies
    if _policies is None:
        _policies = route_policies()  # the route table is complete once the server serves
    route = request.match_info.route
    resource = getattr(route, "resource", None)
    return _policies.get(resource.canonical) if resource is not None else None


def _json_error(status: int, reason: str, headers: dict[str, str] | None = None) -> aioweb.Response:
    return aioweb.Response(
        body=orjson.dumps({"error": reason}),
        status=status,
        headers=headers,
        content_type="application/json",
    )


# Faust's aiohttp driver hands views aiohttp's own request, where the middleware left its state.


def principal_of(request: aioweb.Request) -> Principal:
    """The authenticated caller (set by the middleware; open routes have none: 401)."""
    principal = request.get(PRINCIPAL)
    if principal is None:
        raise HttpError(401, NO_KEY)
    return principal


def authorize_store(request: AnyRequest, store_id: str) -> None:
    """Raise HttpError 403 (with the reason) unless the caller's key covers ``store_id``."""
    request = aiohttp_request(request)
    decision = decide(request.get(POLICY), request.get(PRINCIPAL), store_id)
    if not decision.allowed:
        raise HttpError(decision.status, decision.reason)
    request[STORE_CHECKED] = True


def nothing_to_authorize(request: AnyRequest) -> None:
    """Say that this answer carries no store's data (e.g. no replies yet), so no store check applies."""
    request = aiohttp_request(request)
    request[STORE_CHECKED] = True


RATE_LIMITS: dict[str, Callable[[], int]] = {
    "uploads": lambda: settings.rate_limit_uploads_per_min,
    "chat_turns": lambda: settings.rate_limit_chat_turns_per_min,
    "bulk_add": lambda: settings.rate_limit_bulk_add_per_min,
}
_rate_script: Any = None


async def check_rate(bucket: str, principal: Principal) -> int | None:
    """None when allowed, else the seconds to wait (``Retry-After``)."""
    global _rate_script
    if _rate_script is None:
        _rate_script = readmodel.redis_client().register_script(RATE_LIMIT_LUA)
    allowed, retry_ms, _ = await _rate_script(
        keys=[readmodel.rkey("ratelimit", bucket, principal.key_id)],
        args=[RATE_LIMITS[bucket](), 60_000],
    )
    return None if int(allowed) == 1 else retry_after_seconds(int(retry_ms))


Handler = Callable[[aioweb.Request], Awaitable[aioweb.StreamResponse]]


@aioweb.middleware
async def auth_middleware(request: aioweb.Request, handler: Handler) -> aioweb.StreamResponse:
    if request.match_info.http_exception is not None:
        return await handler(request)  # no such route/method: aiohttp's own 404/405
    if request.method == "OPTIONS":
        return await handler(
            request
        )  # CORS preflight (aiohttp_cors): carries no credentials by design
    policy = _policy_for(request)
    token = bearer_token(request.headers.get("Authorization"))
    principal = registry_view.authenticate(token) if token else None
    path_store = (
        request.match_info.get(policy.store_param) if policy and policy.store_param else None
    )
    decision = decide(policy, principal, path_store, NO_KEY if token is None else UNKNOWN_KEY)
    if not decision.allowed:
        headers = (
            {"WWW-Authenticate": 'Bearer realm="bundlestream"'} if decision.status == 401 else None
        )
        return _json_error(decision.status, decision.reason, headers)
    assert policy is not None
    request[POLICY] = policy
    if principal is not None:
        request[PRINCIPAL] = principal
        await note_used(principal)
        if policy.rate_limit is not None:
            wait_s = await check_rate(policy.rate_limit, principal)
            if wait_s is not None:
                return _json_error(
                    429,
                    f"rate limit of {RATE_LIMITS[policy.rate_limit]()} {policy.rate_limit} "
                    f"per minute for key {principal.key_id} reached; retry in {wait_s} s",
                    {"Retry-After": str(wait_s)},
                )
    response = await handler(request)
    if policy.store_in_view and 200 <= response.status < 300 and not request.get(STORE_CHECKED):
        log.error("route %s answered without authorizing its store; refused", request.path)
        return _json_error(500, "internal error: the route did not authorize its store")
    return response


def install() -> None:
    """Add the middleware to Faust's aiohttp application (before the server starts)."""
    web_app: aioweb.Application = app.web.web_app  # type: ignore[attr-defined]  # faust's Web base type lacks the aiohttp driver's web_app
    if redis_unavailable_middleware not in web_app.middlewares:
        web_app.middlewares.insert(
            0, redis_unavailable_middleware
        )  # outermost: the rate limiter reads Redis
    if auth_middleware not in web_app.middlewares:
        web_app.middlewares.append(auth_middleware)


install()  # every view module imports this one, so no view is ever served without the middleware
