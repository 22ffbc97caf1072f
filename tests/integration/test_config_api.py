"""GET/PUT /api/v1/config against real workers: validation (422 with the reason), optimistic
versions (409), read-your-writes, every worker's view, and invalid topic records -> config DLQ."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest

import topics as registry
from models import DeadLetter
from tests.e2e.support import Api, start_worker, wait_records
from tests.integration.harness import produce_raw

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
async def workers(isolated_settings):
    a = await start_worker(isolated_settings, "cfg-a")
    b = await start_worker(isolated_settings, "cfg-b")
    apis = (Api(a.url), Api(b.url))
    try:
        yield apis
    finally:
        for api in apis:
            await api.close()
        b.stop()
        a.stop()


def _mix(*pcts: float) -> list[dict]:
    sorts = ["price_desc", "price_asc", "rating", "popularity", "sponsored", "recent"]
    return [{"sort": sorts[i], "limit": 10, "pct": p} for i, p in enumerate(pcts)]


async def test_validation_versions_and_views(workers, isolated_settings) -> None:
    a, b = workers
    doc = await a.config()
    assert doc["version"] == 0 and doc["stored"] is False
    assert doc["platform"]["composite_discovery_config"]["products_per_category"] == 5

    bad_cases = {
        "pct": (
            lambda d: d["platform"]["composite_discovery_config"].update(
                product_mix=_mix(50, 20, 10)
            ),
            "sum to 100",
        ),
        "ppc high": (
            lambda d: d["platform"]["composite_discovery_config"].update(products_per_category=11),
            "products_per_category",
        ),
        "ppc low": (
            lambda d: d["platform"]["composite_discovery_config"].update(products_per_category=0),
            "products_per_category",
        ),
        "sort": (
            lambda d: d["platform"]["composite_discovery_config"].update(
                product_mix=[{"sort": "cheapest", "limit": 10, "pct": 100}]
            ),
            "sort",
        ),
        "prompt size": (
            lambda d: d["prompts"]["prompts"]["planner"].update(system_prompt="x" * 8001),
            "system_prompt",
        ),
        "prompt empty": (
            lambda d: d["prompts"]["prompts"]["planner"].update(system_prompt=""),
            "system_prompt",
        ),
        "unknown key": (lambda d: d["platform"].update(surprise=True), "surprise"),
    }
    for name, (mutate, needle) in bad_cases.items():
        body = orjson.loads(orjson.dumps(doc))
        mutate(body)
        code, answer = await a.put_config(body)
        assert code == 422, (name, answer)
        assert needle in answer["error"], (name, answer)
    code, answer = await a.request("PUT", "/api/v1/config", {"platform": {}})
    assert code == 422 and "version" in answer["error"]
    code, answer = await a.request("PUT", "/api/v1/config", None)
    assert code == 422

    good = orjson.loads(orjson.dumps(doc))
    good["platform"]["composite_discovery_config"].update(
        products_per_category=3, product_mix=_mix(40, 40, 20)
    )
    code, answer = await a.put_config(good)
    assert code == 200, answer
    assert (
        answer["version"] == 1
        and answer["platform"]["composite_discovery_config"]["products_per_category"] == 3
    )
    assert (await a.config())["version"] == 1  # read-your-writes on the worker that served the PUT

    # the other worker's view follows (bounded), and a stale version is a 409 on either worker
    deadline = time.monotonic() + 15
    while (await b.config())["version"] != 1:
        assert time.monotonic() < deadline, "worker b never saw version 1"
        await asyncio.sleep(0.2)
    code, answer = await b.put_config(good)  # still says version 0
    assert code == 409, answer
    # concurrent writers from version 1: exactly one wins
    newer = orjson.loads(orjson.dumps(await b.config()))
    newer["platform"]["enable_composite_bundle_suggestion"] = False
    results = await asyncio.gather(a.put_config(newer), b.put_config(newer))
    assert sorted(code for code, _ in results) == [200, 409], results

    # an invalid document published straight to the topic is never applied and is dead-lettered
    topic = registry.CONFIG.name(isolated_settings.topic_prefix)
    bad_doc = {
        "scope": "platform",
        "version": 99,
        "platform": {"composite_discovery_config": {"product_mix": _mix(10)}},
    }
    await produce_raw(
        isolated_settings,
        [
            (b"platform", orjson.dumps(bad_doc)),
            (b"platform", b"not json"),
            (b"other", orjson.dumps({"scope": "platform", "version": 98})),
        ],
        topic=topic,
    )
    letters = await wait_records(
        isolated_settings,
        registry.CONFIG_DLQ.name(isolated_settings.topic_prefix),
        lambda r: True,
        3,
    )
    dead = [DeadLetter.model_validate(orjson.loads(r.value)) for r in letters]
    assert sorted(d.reason_code for d in dead) == [
        "invalid_schema",
        "invalid_schema",
        "undecodable",
    ], dead
    assert any("scope mismatch" in d.reason for d in dead) and any(
        "sum to 100" in d.reason for d in dead
    ), dead
    for api in (a, b):
        assert (await api.config())["version"] == 2


async def test_config_page_served(workers) -> None:
    a, _ = workers
    async with a.session.get(a.base_url + "/config") as resp:
        assert resp.status == 200 and "product-mix" not in (await resp.text())[:0]
    for path in ("/static/config.js", "/static/demo.js", "/static/app.css", "/demo"):
        async with a.session.get(a.base_url + path) as resp:
            assert resp.status == 200, path
    async with a.session.get(a.base_url + "/static/..%2Fchat.py") as resp:
        assert resp.status == 404
