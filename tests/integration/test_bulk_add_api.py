"""POST /api/v1/bundle/add-bulk against a real worker: the documented request/response, unknown ids
-> 422 naming them, duplicates once, create then extend, concurrent extends, store resolution,
bundle-adds records and the attach statistics."""

from __future__ import annotations

import asyncio

import orjson
import pytest

import topics as registry
from tests.e2e.support import PRICES, Api, register_catalog, start_worker, wait_records

pytestmark = pytest.mark.timeout(300)
STORE = "bulk-shop"


@pytest.fixture
async def api(isolated_settings):
    worker = await start_worker(
        isolated_settings, "bulk-worker", BUNDLESTREAM_DEFAULT_STORE_ID=STORE
    )
    client = Api(worker.url)
    try:
        await register_catalog(isolated_settings, STORE, worker=worker)
        yield client
    finally:
        await client.close()
        worker.stop()


async def test_bulk_add(api: Api, isolated_settings) -> None:
    # the documented request, nothing more (no store: falls back to the default store)
    code, body = await api.request(
        "POST", "/api/v1/bundle/add-bulk", {"product_ids": ["fl-roses", "dn-pasta", "fl-roses"]}
    )
    assert code == 200, body
    assert set(body) == {"bundle_id", "products_added", "total_price", "currency"}
    assert body["products_added"] == ["Red Roses Bouquet", "Italian Pasta Dinner Kit"]
    assert body["total_price"] == pytest.approx(65.0) and body["currency"] == "USD"
    bundle_id = body["bundle_id"]

    # unknown ids -> 422 naming them, nothing changed
    code, err = await api.request(
        "POST",
        "/api/v1/bundle/add-bulk",
        {"product_ids": ["fl-roses", "nope-1", "nope-2"], "bundle_id": bundle_id},
    )
    assert code == 422 and "nope-1" in err["error"] and "nope-2" in err["error"], err
    assert err["errors"][0]["unknown_ids"] == ["nope-1", "nope-2"]
    for bad in (
        {"product_ids": []},
        {"product_ids": "x"},
        {"nothing": 1},
        {"product_ids": ["a"], "extra": 1},
    ):
        code, err = await api.request("POST", "/api/v1/bundle/add-bulk", bad)
        assert code == 422, (bad, err)

    # extend: only new products are added, the total is the whole bundle's
    code, body = await api.request(
        "POST",
        "/api/v1/bundle/add-bulk",
        {"product_ids": ["dn-pasta", "mv-romcom"], "bundle_id": bundle_id, "user_id": "u1"},
    )
    assert code == 200 and body["bundle_id"] == bundle_id
    assert body["products_added"] == ["Romantic Comedy Blu-ray"] and body[
        "total_price"
    ] == pytest.approx(80.0)

    # concurrent extends of one bundle: every product lands exactly once
    extra = ["fl-tulips", "fl-daisies", "dn-sushi", "mv-classic", "mv-jazz", "dn-vegcurry"]
    results = await asyncio.gather(
        *(
            api.request(
                "POST",
                "/api/v1/bundle/add-bulk",
                {"product_ids": [pid, "fl-roses"], "bundle_id": bundle_id},
            )
            for pid in extra
        )
    )
    assert all(code == 200 for code, _ in results), results
    code, bundle = await api.request("GET", f"/api/v1/bundles/{bundle_id}")
    assert code == 200
    assert sorted(bundle["product_ids"]) == sorted(["fl-roses", "dn-pasta", "mv-romcom", *extra])
    assert bundle["total_price"] == pytest.approx(sum(PRICES[p] for p in bundle["product_ids"]))
    assert bundle["store_id"] == STORE
    code, _ = await api.request("GET", "/api/v1/bundles/does-not-exist")
    assert code == 404

    # a named store without a catalog -> 422; bundle-adds records; attach statistics
    code, err = await api.request(
        "POST", "/api/v1/bundle/add-bulk", {"product_ids": ["fl-roses"], "store_id": "nobody"}
    )
    assert code == 422 and "nobody" in err["error"]
    adds = await wait_records(
        isolated_settings,
        registry.BUNDLE_ADDS.name(isolated_settings.topic_prefix),
        lambda r: r.key == bundle_id.encode(),
        8,
    )
    assert len(adds) == 8 and orjson.loads(adds[0].value)["created"] is True
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        code, stats = await api.request("GET", f"/api/v1/stores/{STORE}/attach-stats")
        counts = {p["product_id"]: p["times_added"] for p in stats["products"]}
        if (
            counts.get("fl-roses") == 1 and len(counts) == 9
        ) or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.3)
    # fl-roses was in the request 8 times but added once; each product is counted once per add
    assert counts.get("fl-roses") == 1 and len(counts) == 9, counts
