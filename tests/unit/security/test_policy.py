"""The one decision every request goes through: allow, 401 or 403, with the reason."""

from __future__ import annotations

import pytest

from security import (
    NO_KEY,
    UNKNOWN_KEY,
    Principal,
    admin_only,
    chat_route,
    decide,
    guarded,
    open_route,
    parse_scope,
    policy_of,
    store_route,
)
from security.policy import Access, RoutePolicy


def who(scope: str) -> Principal:
    return Principal("0123456789ab", parse_scope(scope), "test")


ADMIN, GATEWAY, S1, S2 = who("admin"), who("gateway"), who("store:s1"), who("store:s2")
STORE_PATH = store_route(param="store")
STORE_BODY = store_route(in_view=True, rate_limit="uploads")
CHAT = chat_route(in_view=True, rate_limit="chat_turns")


def test_no_policy_is_refused_even_for_admin() -> None:
    decision = decide(None, ADMIN)
    assert decision.status == 403 and "no access policy" in decision.reason


def test_open_routes_need_no_key() -> None:
    policy = open_route("liveness")
    assert decide(policy, None).allowed
    assert decide(policy, S1).allowed


@pytest.mark.parametrize("policy", [admin_only(), STORE_PATH, STORE_BODY, CHAT])
def test_no_key_is_401_with_the_reason_given(policy) -> None:
    assert decide(policy, None, "s1") == decide(policy, None, "s1")
    decision = decide(policy, None, "s1")
    assert (decision.status, decision.reason) == (401, NO_KEY)
    assert decide(policy, None, "s1", UNKNOWN_KEY).reason == UNKNOWN_KEY


@pytest.mark.parametrize("principal,status", [(ADMIN, 200), (GATEWAY, 403), (S1, 403)])
def test_admin_routes(principal: Principal, status: int) -> None:
    assert decide(admin_only(), principal).status == status


@pytest.mark.parametrize(
    "principal,store,status",
    [
        (ADMIN, "s1", 200),
        (S1, "s1", 200),
        (S2, "s1", 403),
        (GATEWAY, "s1", 403),
    ],
)
def test_store_routes_cover_only_the_keys_store(
    principal: Principal, store: str, status: int
) -> None:
    decision = decide(STORE_PATH, principal, store)
    assert decision.status == status
    if status == 403:
        assert decision.reason


def test_a_store_key_for_another_store_is_told_which_store() -> None:
    decision = decide(STORE_PATH, S2, "s1")
    assert "store:s2" in decision.reason and "'s1'" in decision.reason


@pytest.mark.parametrize(
    "principal,store,status",
    [
        (ADMIN, "s1", 200),
        (GATEWAY, "s1", 200),
        (GATEWAY, "any", 200),
        (S1, "s1", 200),
        (S2, "s1", 403),
    ],
)
def test_chat_routes_admit_gateways_for_any_store(
    principal: Principal, store: str, status: int
) -> None:
    assert decide(CHAT, principal, store).status == status


def test_store_in_view_passes_provisionally_then_decides_with_the_store() -> None:
    assert decide(STORE_BODY, S1, None).allowed  # the middleware: store not known yet
    assert not decide(STORE_BODY, S1, "s2").allowed  # the view, once it knows
    assert decide(STORE_BODY, GATEWAY, None).status == 403  # gateways never reach the view


def test_policies_must_say_why_open_and_where_the_store_is() -> None:
    with pytest.raises(ValueError):
        RoutePolicy(Access.OPEN)
    with pytest.raises(ValueError):
        RoutePolicy(Access.STORE)
    with pytest.raises(ValueError):
        store_route(param="store", rate_limit="everything")


def test_guarded_marks_a_view_class_and_policy_of_reads_it() -> None:
    @guarded(admin_only())
    class View:
        pass

    class Unmarked:
        pass

    assert policy_of(View) == admin_only() and policy_of(View()) == admin_only()
    assert policy_of(Unmarked) is None
    assert "admin" in admin_only().describe() and "liveness" in open_route("liveness").describe()
