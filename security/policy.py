"""Route policies and the one decision function every request goes through.

Each HTTP view carries a ``RoutePolicy`` (see ``guarded``); the middleware refuses a route
without one, so a new view is closed until someone decides who may call it. ``decide`` is pure:
the middleware calls it with the store named in the path (if any), and a view whose store is
only known from the body or a lookup calls it again once the store is known.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

from .scopes import Scope

POLICY_ATTR = "route_policy"
RATE_LIMITED_ACTIONS = ("uploads", "chat_turns", "bulk_add")


class Access(str, Enum):
    OPEN = "open"  # no key: the route holds no data or authenticates otherwise (say why)
    ADMIN = "admin"  # admin keys only
    STORE = "store"  # admin, or the key of the store the request is about
    CHAT = "chat"  # admin, gateway, or the key of the store the request is about


@dataclass(frozen=True)
class RoutePolicy:
    access: Access
    reason: str = ""  # why an open route is open (documented, shown in tests)
    store_param: str | None = None  # path parameter that names the store
    store_in_view: bool = False  # the store is known only inside the view (body or lookup)
    rate_limit: str | None = None  # per-key limit bucket: one of RATE_LIMITED_ACTIONS

    def __post_init__(self) -> None:
        if self.access is Access.OPEN and not self.reason:
            raise ValueError("an open route must say why it is open")
        if self.access in (Access.STORE, Access.CHAT) and not (
            self.store_param or self.store_in_view
        ):
            raise ValueError("a store route must name its store: a path parameter or store_in_view")
        if self.rate_limit is not None and self.rate_limit not in RATE_LIMITED_ACTIONS:
            raise ValueError(f"unknown rate limit bucket {self.rate_limit!r}")

    def describe(self) -> str:
        """One line for docs and test output."""
        if self.access is Access.OPEN:
            return f"open: {self.reason}"
        who = {
            Access.ADMIN: "admin",
            Access.STORE: "admin or store:<store>",
            Access.CHAT: "admin, gateway or store:<store>",
        }[self.access]
        return who + (f" (rate limit: {self.rate_limit})" if self.rate_limit else "")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id (never its secret), its name and scope."""

    key_id: str
    scope: Scope
    name: str = ""


@dataclass(frozen=True)
class Decision:
    status: int  # 200 = allowed, else 401 or 403
    reason: str

    @property
    def allowed(self) -> bool:
        return self.status == 200


def open_route(reason: str) -> RoutePolicy:
    return RoutePolicy(Access.OPEN, reason=reason)


def admin_only() -> RoutePolicy:
    return RoutePolicy(Access.ADMIN)


def store_route(
    *, param: str | None = None, in_view: bool = False, rate_limit: str | None = None
) -> RoutePolicy:
    return RoutePolicy(
        Access.STORE, store_param=param, store_in_view=in_view, rate_limit=rate_limit
    )


def chat_route(
    *, param: str | None = None, in_view: bool = False, rate_limit: str | None = None
) -> RoutePolicy:
    return RoutePolicy(Access.CHAT, store_param=param, store_in_view=in_view, rate_limit=rate_limit)


NO_KEY = "missing API key: send Authorization: Bearer <key>"
UNKNOWN_KEY = "unknown or revoked API key"


def decide(
    policy: RoutePolicy | None,
    principal: Principal | None,
    store_id: str | None = None,
    unauthenticated: str = NO_KEY,
) -> Decision:
    """Allow (200), 401 (no usable key) or 403 (the key's scope does not cover this), with why.

    ``store_id`` None on a ``store_in_view`` route means "not known yet": a key that could be
    allowed for some store passes here and the view decides again with the store.
    """
    if policy is None:
        return Decision(403, "route has no access policy (closed by default)")
    if policy.access is Access.OPEN:
        return Decision(200, policy.reason)
    if principal is None:
        return Decision(401, unauthenticated)
    scope = principal.scope
    if scope.is_admin:
        return Decision(200, "admin key")
    if policy.access is Access.ADMIN:
        return Decision(
            403, f"this route needs an admin key; key {principal.key_id} has scope {scope}"
        )
    if scope.is_gateway:
        if policy.access is Access.CHAT:
            return Decision(200, "gateway key")
        return Decision(
            403,
            f"gateway keys may only send chat turns and read replies; key {principal.key_id} "
            "cannot use this route",
        )
    if store_id is None:
        if policy.store_in_view:
            return Decision(200, "store key; the store is checked once known")
        return Decision(403, "the request names no store")
    if scope.store_id == store_id:
        return Decision(200, f"key of store {store_id}")
    return Decision(
        403, f"key {principal.key_id} has scope {scope}, which does not cover store {store_id!r}"
    )


V = TypeVar("V")


def guarded(policy: RoutePolicy) -> Callable[[V], V]:
    """Class decorator: attach ``policy`` to a view (the marker the middleware looks for)."""

    def mark(view: V) -> V:
        setattr(view, POLICY_ATTR, policy)
        return view

    return mark


def policy_of(view: Any) -> RoutePolicy | None:
    """The policy of a view class or instance, or None when it was never given one."""
    policy = getattr(view, POLICY_ATTR, None)
    return policy if isinstance(policy, RoutePolicy) else None
