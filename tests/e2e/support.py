"""Shared helpers of the composite-flow tests and benches (chat, config, bulk add, browser).

Everything runs against the real local broker and Redis with worker subprocesses started by
``tests.integration.harness.Worker``. The test catalog is registered the way production does it:
an UploadEvent with an inline generic catalog CSV on the uploads topic; the uploads agent parses
it and records the catalog reference that the chat agent and add-bulk resolve.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import aiohttp
import orjson
import redis.asyncio as aioredis

import topics as registry
from core.settings import Settings
from models import UploadEvent
from tests.integration.harness import TEST_ADMIN_TOKEN, Worker, produce_raw, read_topic

# A small date-night catalog: categories that the default date_night experience draws from
# (flowers, dinner, movie), two vegetarian dinners, prices that fit a $100 budget many ways.
DATE_NIGHT_CSV = """product_id,title,price,category,tags,description,rating,partner_id,partner_name
fl-roses,Red Roses Bouquet,35.00,flowers,roses|romantic,A dozen red roses,4.8,p1,Bloom Co
fl-tulips,Tulip Bunch,22.00,flowers,tulips,Fresh spring tulips,4.5,p1,Bloom Co
fl-sunflower,Sunflower Basket,18.00,flowers,sunflower,Bright sunflowers,4.2,p2,Petal Farm
fl-orchid,Orchid Pot,55.00,flowers,orchid,Potted white orchid,4.6,p2,Petal Farm
fl-daisies,Mini Daisies,9.50,flowers,daisies,Small bunch of daisies,4.0,p3,Green Stem
dn-pasta,Italian Pasta Dinner Kit,30.00,dinner,italian|pasta,Pasta for two with sauce,4.4,p4,Trattoria
dn-veglasagna,Vegetarian Lasagna for Two,28.00,dinner,vegetarian|italian,Spinach and ricotta lasagna,4.7,p4,Trattoria
dn-sushi,Sushi Set for Two,45.00,dinner,sushi,Salmon and tuna sushi,4.3,p5,Sakura
dn-vegcurry,Vegetarian Curry Night,24.00,dinner,vegetarian|vegan|curry,Chickpea curry with rice,4.5,p5,Sakura
dn-steak,Steakhouse Dinner Box,65.00,dinner,steak,Ribeye dinner for two,4.6,p6,Grill House
mv-romcom,Romantic Comedy Blu-ray,15.00,movie,comedy|romance,A classic romantic comedy,4.1,p7,Cinema Shop
mv-classic,Classic Film DVD,9.00,movie,classic,Black and white classic,3.9,p7,Cinema Shop
mv-jazz,Live Jazz Concert DVD,20.00,movie,jazz|music,Concert film,4.4,p8,Music Hall
mv-tickets,Cinema Tickets for Two,24.00,movie,tickets|cinema,Two movie tickets,4.7,p8,Music Hall
"""
DATE_NIGHT_IDS = {line.split(",", 1)[0] for line in DATE_NIGHT_CSV.strip().splitlines()[1:]}
PRICES = {
    line.split(",")[0]: float(line.split(",")[2])
    for line in DATE_NIGHT_CSV.strip().splitlines()[1:]
}


def upload_event(store_id: str, csv_text: str = DATE_NIGHT_CSV) -> UploadEvent:
    return UploadEvent.model_validate(
        {
            "upload_id": f"up-{uuid.uuid4().hex[:10]}",
            "store_id": store_id,
            "files": [
                {
                    "kind": "catalog",
                    "format": "generic",
                    "filename": "catalog.csv",
                    "inline_text": csv_text,
                    "size_bytes": len(csv_text.encode()),
                }
            ],
        }
    )


def rkey(settings: Settings, *parts: str) -> str:
    return ":".join((settings.topic_prefix, *parts))


async def register_catalog(
    settings: Settings,
    store_id: str,
    csv_text: str = DATE_NIGHT_CSV,
    timeout_s: float = 90.0,
    worker: Worker | None = None,
) -> None:
    """Publish the upload and wait (bounded) until its catalog reference is in Redis."""
    event = upload_event(store_id, csv_text)
    await produce_raw(
        settings,
        [(store_id.encode(), event.to_bytes())],
        topic=registry.UPLOADS.name(settings.topic_prefix),
    )
    client = aioredis.from_url(settings.redis_url, decode_responses=True)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            raw = await client.get(rkey(settings, "catalog", store_id))
            if raw and orjson.loads(raw)["summary"]["upload_id"] == event.upload_id:
                return
            if worker is not None and not worker.alive():
                raise RuntimeError(
                    f"worker died while registering the catalog:\n{worker.log_tail()}"
                )
            await asyncio.sleep(0.2)
    finally:
        await client.aclose()
    tail = (
        f"notable lines:\n{worker.log_notable()}\n--- tail:\n{worker.log_tail(1500)}"
        if worker
        else ""
    )
    raise TimeoutError(f"catalog of {store_id} not registered within {timeout_s:.0f} s\n{tail}")


async def start_worker(settings: Settings, name: str = "worker", **env: str) -> Worker:
    worker = Worker(settings, name=name, extra_env=dict(env)).start()
    try:
        await worker.wait_ready(timeout_s=90.0)
    except BaseException:
        worker.stop()
        raise
    return worker


async def wait_records(
    settings: Settings, topic: str, predicate: Any, count: int, timeout_s: float = 30.0
) -> list[Any]:
    """Records matching ``predicate`` once at least ``count`` exist (bounded wait)."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = [r for r in await read_topic(settings, topic) if predicate(r)]
        if len(got) >= count or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.3)


class Api:
    """A tiny aiohttp client for one worker's HTTP API, with bounded waits."""

    def __init__(self, base_url: str, key: str = TEST_ADMIN_TOKEN) -> None:
        """``key``: the API key every request carries (default: the test workers' bootstrap admin key)."""
        self.base_url = base_url
        self.key = key
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=40))

    async def close(self) -> None:
        await self.session.close()

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = orjson.dumps(body) if body is not None else None
        async with self.session.request(
            method,
            self.base_url + path,
            data=data,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.key}"},
        ) as resp:
            raw = await resp.read()
            try:
                return resp.status, orjson.loads(raw) if raw else None
            except orjson.JSONDecodeError:
                return resp.status, raw.decode(errors="replace")

    async def turn(self, session_id: str, store_id: str, text: str) -> dict[str, Any]:
        status, body = await self.request(
            "POST",
            "/api/v1/chat/turns",
            {"session_id": session_id, "store_id": store_id, "text": text},
        )
        assert status == 202, (status, body)
        return body

    async def replies(
        self, session_id: str, after: int = 0, wait: float = 0
    ) -> list[dict[str, Any]]:
        status, body = await self.request(
            "GET", f"/api/v1/chat/sessions/{session_id}/replies?after={after}&wait={wait}"
        )
        assert status == 200, (status, body)
        return body["replies"]

    async def next_reply(
        self, session_id: str, after: int, timeout_s: float = 30.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            got = await self.replies(
                session_id, after, wait=min(5.0, max(0.1, deadline - time.monotonic()))
            )
            if got:
                return got[0]
        raise TimeoutError(
            f"no reply after seq {after} for session {session_id} within {timeout_s:.0f} s"
        )

    async def say(
        self, session_id: str, store_id: str, text: str, after: int, timeout_s: float = 30.0
    ) -> dict[str, Any]:
        """Send a turn and return its reply (the next one after ``after``)."""
        await self.turn(session_id, store_id, text)
        return await self.next_reply(session_id, after, timeout_s)

    async def config(self) -> dict[str, Any]:
        status, body = await self.request("GET", "/api/v1/config")
        assert status == 200, (status, body)
        return body

    async def put_config(self, doc: dict[str, Any]) -> tuple[int, Any]:
        return await self.request("PUT", "/api/v1/config", doc)
