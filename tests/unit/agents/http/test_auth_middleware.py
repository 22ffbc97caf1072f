"""The auth middleware on a bare aiohttp app: default deny, 401/403 bodies, and a store-in-view
route that answers 2xx without checking its store is refused (no broker: key records are fed to
the registry the way its topic reader would)."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from models.keys import ApiKeyRecord
from security import admin_only, generate_key, store_route


@pytest.fixture
async def client(monkeypatch):
    from agents import keys_view
    from agents.http import auth

    async def no_bookkeeping(principal) -> None:  # last-use writes go to Redis; not under test here
        return None

    monkeypatch.setattr(auth, "note_used", no_bookkeeping)
    monkeypatch.setattr(
        auth,
        "_policies",
        {
            "/admin": admin_only(),
            "/stores/{store}": store_route(param="store"),
            "/checked": store_route(in_view=True),
            "/forgot": store_route(in_view=True),
        },
    )
    key = generate_key()
    record = ApiKeyRecord(key_id=key.key_id, scope="store:s1", key_hash=key.key_hash)
    monkeypatch.setitem(keys_view.registry_view.records, key.key_id, record)

    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def checked(request: web.Request) -> web.Response:
        try:
            auth.authorize_store(request, request.query["store"])
        except auth.HttpError as exc:
            return web.json_response({"error": exc.reason}, status=exc.status)
        return web.json_response(
            {"store": request.query["store"], "key": auth.principal_of(request).key_id}
        )

    app = web.Application(middlewares=[auth.auth_middleware])
    for path in ("/admin", "/stores/{store}", "/forgot", "/unmarked"):
        app.router.add_get(path, ok)
    app.router.add_get("/checked", checked)
    async with TestClient(TestServer(app)) as test_client:
        test_client.key = key.secret_key  # type: ignore[attr-defined]
        test_client.key_id = key.key_id  # type: ignore[attr-defined]
        yield test_client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_a_route_without_a_policy_is_refused(client) -> None:
    resp = await client.get("/unmarked", headers=bearer(client.key))
    assert resp.status == 403 and "no access policy" in (await resp.json())["error"]


async def test_401_without_or_with_an_unknown_key_and_403_outside_the_scope(client) -> None:
    resp = await client.get("/stores/s1")
    assert resp.status == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in (await resp.json())["error"]
    tampered = client.key[:-1] + ("B" if client.key.endswith("A") else "A")  # never the real key
    resp = await client.get("/stores/s1", headers=bearer(tampered))
    assert resp.status == 401 and (await resp.json())["error"] == "unknown or revoked API key"
    assert (await client.get("/stores/s2", headers=bearer(client.key))).status == 403
    assert (await client.get("/admin", headers=bearer(client.key))).status == 403
    assert (await client.get("/stores/s1", headers=bearer(client.key))).status == 200


async def test_the_view_decides_once_it_knows_the_store(client) -> None:
    resp = await client.get("/checked", params={"store": "s1"}, headers=bearer(client.key))
    assert resp.status == 200 and (await resp.json())["key"] == client.key_id
    resp = await client.get("/checked", params={"store": "s2"}, headers=bearer(client.key))
    assert resp.status == 403 and "'s2'" in (await resp.json())["error"]


async def test_a_store_in_view_route_that_never_checked_its_store_is_refused(client) -> None:
    resp = await client.get("/forgot", headers=bearer(client.key))
    assert resp.status == 500 and "did not authorize its store" in (await resp.json())["error"]


async def test_a_revoked_key_stops_at_once(client, monkeypatch) -> None:
    from agents import keys_view
    from agents.keys_view import revoked

    record = keys_view.registry_view.records[client.key_id]
    keys_view.registry_view.apply(client.key_id.encode(), revoked(record).to_bytes(), 0)
    assert (await client.get("/stores/s1", headers=bearer(client.key))).status == 401
    keys_view.registry_view.apply(client.key_id.encode(), None, 1)  # a tombstone forgets it too
    assert client.key_id not in keys_view.registry_view.records
