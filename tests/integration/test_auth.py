"""Authentication and tenancy against real workers: every route's 401/403/success, keys created
on one worker working on another, revocation on every worker within seconds, the CLI, per-key
rate limits (429 + Retry-After) and CORS (closed by default, open for a configured origin)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import pytest

from core.settings import REPO_ROOT, Settings
from tests.e2e.support import DATE_NIGHT_CSV, register_catalog, start_worker
from tests.integration.harness import TEST_ADMIN_TOKEN, Worker, settings_env

pytestmark = pytest.mark.timeout(300)
S1, S2 = "shop-one", "shop-two"
UNKNOWN_KEY = "bsk_0123456789ab_" + "x" * 43


@dataclass
class Reply:
    status: int
    body: Any
    headers: Any


async def call(
    worker: Worker,
    method: str,
    path: str,
    key: str | None = None,
    body: Any = None,
    data: Any = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    sent = dict(headers or {})
    if key is not None:
        sent["Authorization"] = f"Bearer {key}"
    if body is not None:
        data = orjson.dumps(body)
        sent["Content-Type"] = "application/json"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        async with session.request(method, worker.url + path, data=data, headers=sent) as resp:
            raw = await resp.read()
            try:
                parsed = orjson.loads(raw) if raw else None
            except orjson.JSONDecodeError:
                parsed = raw.decode(errors="replace")
            return Reply(resp.status, parsed, resp.headers)


async def create_key(worker: Worker, scope: str, name: str = "") -> str:
    reply = await call(
        worker, "POST", "/api/v1/keys", TEST_ADMIN_TOKEN, {"scope": scope, "name": name}
    )
    assert reply.status == 201, reply.body
    assert reply.body["active_on_this_worker"] is True
    return reply.body["key"]


def upload_form(store: str) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("store_id", store)
    form.add_field(
        "catalog", DATE_NIGHT_CSV.encode(), filename="catalog.csv", content_type="text/csv"
    )
    return form


async def wait_for(predicate, timeout_s: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if await predicate():
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{what} not within {timeout_s} s")


async def test_every_route_answers_401_403_or_success_by_key(isolated_settings: Settings) -> None:
    worker = await start_worker(isolated_settings, "auth-routes")
    try:
        k1 = await create_key(worker, f"store:{S1}", "shop one")
        k2 = await create_key(worker, f"store:{S2}", "shop two")
        gateway = await create_key(worker, "gateway", "chat gateway")
        admin = TEST_ADMIN_TOKEN

        async def expect(
            method: str,
            path: str,
            right: str,
            *,
            body: Any = None,
            form=None,
            ok: tuple[int, ...] = (200,),
            wrong: tuple[str, ...] = (),
        ) -> Reply:
            """no key -> 401, unknown key -> 401, each wrong key -> 403, the right key -> ``ok``."""
            for key, status in ((None, 401), (UNKNOWN_KEY, 401), *((w, 403) for w in wrong)):
                reply = await call(worker, method, path, key, body, form() if form else None)
                assert reply.status == status, (method, path, key, reply.status, reply.body)
                assert isinstance(reply.body, dict) and reply.body["error"], reply.body
                if status == 401:
                    assert reply.headers.get("WWW-Authenticate", "").startswith("Bearer")
            reply = await call(worker, method, path, right, body, form() if form else None)
            assert reply.status in ok, (method, path, reply.status, reply.body)
            return reply

        # admin-only routes
        await expect("GET", "/api/v1/config", admin, wrong=(k1, gateway))
        await expect("PUT", "/api/v1/config", admin, body={"version": 0}, wrong=(k1, gateway))
        listing = await expect("GET", "/api/v1/keys", admin, wrong=(k1, gateway))
        assert {k["scope"] for k in listing.body["keys"]} >= {
            f"store:{S1}",
            f"store:{S2}",
            "gateway",
        }
        assert all("key_hash" not in k and "key" not in k for k in listing.body["keys"])
        await expect(
            "POST",
            "/api/v1/keys",
            admin,
            body={"scope": "store:other"},
            ok=(201,),
            wrong=(k1, gateway),
        )
        doomed = (await call(worker, "POST", "/api/v1/keys", admin, {"scope": "store:x"})).body[
            "key_id"
        ]
        await expect("DELETE", f"/api/v1/keys/{doomed}", admin, wrong=(k1, gateway))
        await expect("GET", "/metrics", admin, wrong=(k1, gateway))
        bad_scope = await call(worker, "POST", "/api/v1/keys", admin, {"scope": "store:a/b"})
        assert bad_scope.status == 422 and "store id" in bad_scope.body["error"]
        assert (await call(worker, "DELETE", "/api/v1/keys/ffffffffffff", admin)).status == 404
        again = await call(worker, "DELETE", f"/api/v1/keys/{doomed}", admin)
        assert again.status == 200 and again.body["status"] == "already revoked"

        # the store is in the upload form: the view decides once it has read it
        accepted = await expect(
            "POST",
            "/api/v1/uploads",
            k1,
            form=lambda: upload_form(S1),
            ok=(202,),
            wrong=(k2, gateway),
        )
        upload_id = accepted.body["upload_id"]
        await expect("GET", f"/api/v1/uploads/{upload_id}", k1, wrong=(k2, gateway))
        await register_catalog(isolated_settings, S1, worker=worker)  # bundles and catalog ready
        for path in (
            f"/api/v1/stores/{S1}/bundles",
            f"/api/v1/stores/{S1}/popularity",
            f"/api/v1/stores/{S1}/attach-stats",
        ):
            await expect("GET", path, k1, wrong=(k2, gateway))
        added = await expect(
            "POST",
            "/api/v1/bundle/add-bulk",
            k1,
            wrong=(k2, gateway),
            body={"product_ids": ["fl-roses", "dn-pasta"], "store_id": S1},
        )
        await expect("GET", f"/api/v1/bundles/{added.body['bundle_id']}", k1, wrong=(k2, gateway))

        # chat: the store's key or a gateway key; the session is bound to its first turn's store
        session = uuid.uuid4().hex
        turn = {"session_id": session, "store_id": S1, "text": "date night under $100"}
        await expect("POST", "/api/v1/chat/turns", k1, body=turn, ok=(202,), wrong=(k2,))
        assert (await call(worker, "POST", "/api/v1/chat/turns", gateway, turn)).status == 202
        hijack = await call(worker, "POST", "/api/v1/chat/turns", k2, {**turn, "store_id": S2})
        assert hijack.status == 409 and S1 in hijack.body["error"]
        replies = f"/api/v1/chat/sessions/{session}/replies?wait=10"
        got = await expect("GET", replies, k1, wrong=(k2,))
        assert got.body["replies"], got.body
        assert (await call(worker, "GET", replies, gateway)).status == 200

        # a store key never acts on another store, whatever the route
        denied = await call(worker, "GET", f"/api/v1/stores/{S1}/popularity", k2)
        assert f"store:{S2}" in denied.body["error"] and S1 in denied.body["error"]

        # open routes, and why: no data, or authenticated otherwise
        for path in ("/healthz", "/demo", "/config", "/static/demo.js", "/"):
            assert (await call(worker, "GET", path)).status == 200, path
        webhook = await call(worker, "POST", "/api/v1/webhooks/orders", body={"id": 1})
        assert webhook.status == 401 and "Hmac" in webhook.body["error"]  # the HMAC, not an API key
        assert (await call(worker, "GET", "/no/such/route", admin)).status == 404

        # CORS is closed by default: a preflight gets no allow-origin
        preflight = await call(
            worker,
            "OPTIONS",
            "/api/v1/chat/turns",
            headers={"Origin": "https://chat.example.com", "Access-Control-Request-Method": "POST"},
        )
        assert "Access-Control-Allow-Origin" not in preflight.headers
    finally:
        worker.stop()


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bundlestream.cli", "keys", *args],
        cwd=str(REPO_ROOT),
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_keys_work_on_every_worker_and_revocation_stops_them_within_seconds(
    isolated_settings: Settings,
) -> None:
    a = await start_worker(isolated_settings, "keys-a")
    b = await start_worker(isolated_settings, "keys-b")
    try:
        path = f"/api/v1/stores/{S1}/popularity"
        key = await create_key(a, f"store:{S1}", "two workers")
        key_id = key.split("_")[1]
        assert (await call(a, "GET", path, key)).status == 200
        took = await wait_for(lambda: _status_is(b, path, key, 200), 5.0, "key known on worker b")
        print(f"key created on a usable on b after {took:.2f} s")

        revoked = await call(b, "DELETE", f"/api/v1/keys/{key_id}", TEST_ADMIN_TOKEN)
        assert (
            revoked.status == 200
            and revoked.body["status"] == "revoked"
            and revoked.body["revoked_on_this_worker"]
        )
        assert (await call(b, "GET", path, key)).status == 401
        took = await wait_for(
            lambda: _status_is(a, path, key, 401), 5.0, "revocation seen on worker a"
        )
        print(f"key revoked on b refused on a after {took:.2f} s")
        again = await call(a, "GET", path, key)
        assert again.body["error"] == "unknown or revoked API key"

        # the CLI writes the same records: create, list (no secret), revoke
        created = cli(
            isolated_settings, "create", "--scope", f"store:{S2}", "--name", "from the cli"
        )
        assert created.returncode == 0, created.stderr
        cli_key = next(
            line.split()[-1] for line in created.stdout.splitlines() if line.startswith("key:")
        )
        cli_id = cli_key.split("_")[1]
        await wait_for(
            lambda: _status_is(a, f"/api/v1/stores/{S2}/popularity", cli_key, 200),
            5.0,
            "CLI key on a",
        )
        assert (await call(b, "GET", f"/api/v1/stores/{S1}/popularity", cli_key)).status == 403
        listed = cli(isolated_settings, "list")
        assert (
            listed.returncode == 0 and cli_id in listed.stdout and "from the cli" in listed.stdout
        )
        assert cli_key not in listed.stdout and cli_key.split("_", 2)[2] not in listed.stdout
        assert key_id not in listed.stdout  # revoked keys only with --all
        everything = cli(isolated_settings, "list", "--all")
        assert key_id in everything.stdout and "revoked" in everything.stdout
        http_list = (await call(a, "GET", "/api/v1/keys", TEST_ADMIN_TOKEN)).body["keys"]
        used = {k["key_id"]: k["last_used_at"] for k in http_list}
        assert (
            used[key_id] is not None and used[cli_id] is not None
        )  # last use recorded (throttled)
        assert cli(isolated_settings, "revoke", cli_id).returncode == 0
        await wait_for(
            lambda: _status_is(b, f"/api/v1/stores/{S2}/popularity", cli_key, 401),
            5.0,
            "CLI revoke on b",
        )
        bad = cli(isolated_settings, "create", "--scope", "store:a/b")
        assert bad.returncode == 2 and "store id" in bad.stderr
    finally:
        a.stop()
        b.stop()


async def _status_is(worker: Worker, path: str, key: str, status: int) -> bool:
    return (await call(worker, "GET", path, key)).status == status


async def test_rate_limit_answers_429_with_retry_after_and_cors_opens_for_configured_origins(
    isolated_settings: Settings,
) -> None:
    origin = "https://chat.example.com"
    worker = await start_worker(
        isolated_settings,
        "auth-limits",
        BUNDLESTREAM_RATE_LIMIT_CHAT_TURNS_PER_MIN="3",
        BUNDLESTREAM_CORS_ALLOWED_ORIGINS=orjson.dumps([origin]).decode(),
    )
    try:
        gateway = await create_key(worker, "gateway")
        other = await create_key(worker, "gateway")
        turn = {"store_id": S1, "text": "gift ideas"}
        statuses = [
            (await call(worker, "POST", "/api/v1/chat/turns", gateway, turn)).status
            for _ in range(3)
        ]
        assert statuses == [202, 202, 202]
        limited = await call(worker, "POST", "/api/v1/chat/turns", gateway, turn)
        assert limited.status == 429, limited.body
        assert 1 <= int(limited.headers["Retry-After"]) <= 20  # one turn per 20 s refills
        assert "rate limit" in limited.body["error"]
        assert (
            await call(worker, "POST", "/api/v1/chat/turns", other, turn)
        ).status == 202  # per key
        assert (
            await call(worker, "GET", "/api/v1/config", TEST_ADMIN_TOKEN)
        ).status == 200  # other routes unaffected

        preflight = await call(
            worker,
            "OPTIONS",
            "/api/v1/chat/turns",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "Authorization, Content-Type",
            },
        )
        assert preflight.status == 200, preflight.body
        assert preflight.headers["Access-Control-Allow-Origin"] == origin
        assert "AUTHORIZATION" in preflight.headers["Access-Control-Allow-Headers"].upper()
        actual = await call(
            worker, "GET", "/api/v1/config", TEST_ADMIN_TOKEN, headers={"Origin": origin}
        )
        assert actual.status == 200 and actual.headers["Access-Control-Allow-Origin"] == origin
        stranger = await call(
            worker,
            "OPTIONS",
            "/api/v1/chat/turns",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert "Access-Control-Allow-Origin" not in stranger.headers
        denied = await call(worker, "GET", "/api/v1/config", headers={"Origin": origin})
        assert (
            denied.status == 401 and denied.headers["Access-Control-Allow-Origin"] == origin
        )  # readable error
    finally:
        worker.stop()


async def test_rate_limit_script_admits_a_minutes_allowance_then_spaces_requests(
    isolated_settings: Settings,
) -> None:
    """The GCRA script itself, on the real Redis: 5/min admits a burst of 5, then one per 12 s."""
    import redis.asyncio as aioredis

    from security import RATE_LIMIT_LUA, retry_after_seconds

    client = aioredis.from_url(isolated_settings.redis_url, decode_responses=True)
    try:
        script = client.register_script(RATE_LIMIT_LUA)
        bucket = f"{isolated_settings.topic_prefix}:ratelimit:test:{uuid.uuid4().hex}"
        answers = [await script(keys=[bucket], args=[5, 60_000]) for _ in range(6)]
        assert [int(a[0]) for a in answers] == [1, 1, 1, 1, 1, 0]
        assert [int(a[2]) for a in answers[:5]] == [4, 3, 2, 1, 0]  # remaining
        retry_ms = int(answers[5][1])
        assert 11_000 <= retry_ms <= 12_000 and retry_after_seconds(retry_ms) == 12
        other = await script(keys=[bucket + ":other"], args=[5, 60_000])
        assert int(other[0]) == 1  # buckets are independent (per key, per action)
        assert 0 < await client.pttl(bucket) <= 61_000  # the bucket expires once idle
    finally:
        await client.aclose()
