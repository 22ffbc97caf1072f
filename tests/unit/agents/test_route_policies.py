"""Every route of the worker's live route table has an access decision (default deny otherwise)."""

from __future__ import annotations

import pytest

from security import Access


@pytest.fixture(scope="module")
def routes():
    from agents.http.auth import auth_middleware, route_policies
    from agents.worker import app

    app.web.init_server()  # applies Faust's blueprints: the table a serving worker has
    assert auth_middleware in app.web.web_app.middlewares
    table = {route.resource.canonical for route in app.web.web_app.router.routes() if route.resource is not None}
    return table, route_policies()


def test_every_route_in_the_router_has_a_policy(routes) -> None:
    table, policies = routes
    undecided = sorted(path for path in table if policies.get(path) is None)
    assert not undecided, f"routes without an access decision (they answer 403): {undecided}"


def test_open_routes_are_exactly_the_documented_ones(routes) -> None:
    _, policies = routes
    open_paths = {path for path, policy in policies.items() if policy is not None and policy.access is Access.OPEN}
    assert open_paths == {"/", "/healthz", "/api/v1/webhooks/orders", "/demo", "/config", "/static/{name}"}
    assert all(policies[p].reason for p in open_paths)


def test_data_routes_are_closed(routes) -> None:
    _, policies = routes
    assert policies["/api/v1/config"].access is Access.ADMIN
    assert policies["/api/v1/keys"].access is Access.ADMIN
    assert policies["/metrics"].access is Access.ADMIN  # metrics_public is off by default
    assert policies["/api/v1/stores/{store}/popularity"].store_param == "store"
    assert policies["/api/v1/chat/turns"].access is Access.CHAT
    for path in ("/api/v1/uploads", "/api/v1/chat/turns", "/api/v1/bundle/add-bulk"):
        assert policies[path].rate_limit is not None, path


def test_faust_table_and_router_pages_are_not_served(routes) -> None:
    table, _ = routes
    assert not any(path.startswith(("/table", "/router")) for path in table)


def test_metrics_open_only_when_metrics_public_is_set(monkeypatch) -> None:
    from agents.http import auth

    assert auth.metrics_policy().access is Access.ADMIN
    monkeypatch.setattr(auth.settings, "metrics_public", True)
    assert auth.metrics_policy().access is Access.OPEN and auth.metrics_policy().reason
