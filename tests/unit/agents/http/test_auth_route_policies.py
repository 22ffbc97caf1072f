"""Every route of the worker's live route table has an access decision (default deny otherwise)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass

import pytest

from core.settings import REPO_ROOT
from security import Access

# Run in a fresh interpreter: initialising the web server mutates the process-wide Faust app
# (it adds Faust's blueprint routes), which other tests compare against.
_DUMP = """
import json
from agents.http.auth import auth_middleware, route_policies
from agents.worker import app
app.web.init_server()
print(json.dumps({
    "middleware": auth_middleware in app.web.web_app.middlewares,
    "routes": sorted({r.resource.canonical for r in app.web.web_app.router.routes() if r.resource is not None}),
    "policies": {p: (None if pol is None else {"access": pol.access.value, "reason": pol.reason,
                     "store_param": pol.store_param, "rate_limit": pol.rate_limit})
                 for p, pol in route_policies().items()},
}))
"""


@dataclass(frozen=True)
class Policy:
    access: Access
    reason: str
    store_param: str | None
    rate_limit: str | None


@pytest.fixture(scope="module")
def routes() -> tuple[set[str], dict[str, Policy | None]]:
    """The route table a serving worker has (Faust's blueprints applied) and each route's policy."""
    out = subprocess.run(
        [sys.executable, "-c", _DUMP],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(REPO_ROOT),
        env={**os.environ, "BUNDLESTREAM_METRICS_PUBLIC": "false"},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert data["middleware"], "the auth middleware is not installed on the web app"
    policies = {
        path: None
        if p is None
        else Policy(Access(p["access"]), p["reason"], p["store_param"], p["rate_limit"])
        for path, p in data["policies"].items()
    }
    return set(data["routes"]), policies


def test_every_route_in_the_router_has_a_policy(routes) -> None:
    table, policies = routes
    undecided = sorted(path for path in table if policies.get(path) is None)
    assert not undecided, f"routes without an access decision (they answer 403): {undecided}"


def test_open_routes_are_exactly_the_documented_ones(routes) -> None:
    _, policies = routes
    open_paths = {
        path
        for path, policy in policies.items()
        if policy is not None and policy.access is Access.OPEN
    }
    assert open_paths == {
        "/",
        "/healthz",
        "/api/v1/webhooks/orders",
        "/api/v1/webhooks/inventory",
        "/demo",
        "/config",
        "/stores/{store}",
        "/static/{name}",
    }
    assert all(policies[p].reason for p in open_paths)


def test_data_routes_are_closed(routes) -> None:
    _, policies = routes
    assert policies["/api/v1/config"].access is Access.ADMIN
    assert policies["/api/v1/keys"].access is Access.ADMIN
    assert policies["/metrics"].access is Access.ADMIN  # metrics_public is off by default
    assert policies["/api/v1/stores/{store}/popularity"].store_param == "store"
    assert policies["/api/v1/stores/{store}/inventory"].store_param == "store"
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
