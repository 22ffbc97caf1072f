"""The merchant's bundle page (/stores/{store}) in headless Chromium, on a real upload.

The Shopify samples are uploaded through ``POST /api/v1/uploads`` to a worker on the real
broker; the page then reads the store's bundle set with the store's key. Without a key it asks for
one, another store's key gets the 403 message, and a catalog whose titles and image addresses are
hostile renders as inert text. Live performance: the page is checked against whatever the
worker's performance route answers (404 means "no live data yet"), and once with a
StorePerformance answer put in front of the page (a fetch wrapper installed through the DevTools
protocol) so the per-bundle figures are checked whatever the worker has counted.

Setting ``BUNDLESTREAM_MERCHANT_SCREENSHOT=<png path>`` makes the first test save the page there
(the README's screenshot: see README, Merchant page).
"""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

import topics as registry
from models import BundleSet, OrderEvent
from models.performance import StorePerformance
from tests.e2e.support import start_worker
from tests.e2e.test_pages_browser import (
    IMG_TRAP,
    SCRIPT_TRAP,
    assert_no_key_in_any_url,
    create_key,
    enter_key,
    key_status,
    stored_key,
    wait_for,
)
from tests.integration.harness import Worker, admin_headers, produce_raw
from tests.shared_data import shared_data

pytestmark = [pytest.mark.timeout(300), pytest.mark.integration]
SHOPIFY = shared_data("shopify")
STORE = "jewelry-shop"
CATALOG = "jewelery.csv"  # 20 handles with names, variants and pictures
HOSTILE_STORE = "hostile-garden-shop"
SCREENSHOT_ENV = "BUNDLESTREAM_MERCHANT_SCREENSHOT"
JS_IMAGE = "javascript:window.__pwned=4"
QUOTE_IMAGE = 'https://img.example/a.png" onerror="window.__pwned=5'


async def upload(worker: Worker, store: str, catalog: bytes, orders: bytes) -> BundleSet:
    """POST the files as a merchant would and wait (bounded) until the page's API serves the set."""
    form = aiohttp.FormData()
    form.add_field("store_id", store)
    form.add_field("catalog", catalog, filename="products.csv", content_type="text/csv")
    form.add_field("orders", orders, filename="orders_export.csv", content_type="text/csv")
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        async with session.post(
            f"{worker.url}/api/v1/uploads", data=form, headers=admin_headers()
        ) as resp:
            body = await resp.json(content_type=None)
            assert resp.status == 202, body
        upload_id = body["upload_id"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if not worker.alive():
                raise RuntimeError(f"worker died:\n{worker.log_tail()}")
            async with session.get(
                f"{worker.url}/api/v1/stores/{store}/bundles", headers=admin_headers()
            ) as resp:
                raw = await resp.read()
            if resp.status == 200 and orjson.loads(raw)["upload_id"] == upload_id:
                return BundleSet.model_validate_json(raw)
            await asyncio.sleep(0.3)
    raise TimeoutError(f"bundle set of {upload_id} not served within 120 s\n{worker.log_tail()}")


def live_order(order_id: str, lines: list[tuple[str, float]]) -> OrderEvent:
    """An order placed now (after the set was published) holding ``lines``, one unit each."""
    return OrderEvent.model_validate(
        {
            "order_id": order_id,
            "store_id": STORE,
            "lines": [{"product_id": pid, "quantity": 1, "price": price} for pid, price in lines],
        }
    )


async def wait_performance(
    worker: Worker, orders: int, timeout_s: float = 60.0
) -> StorePerformance:
    """Until the performance route has counted ``orders`` orders since publication (bounded)."""
    deadline = time.monotonic() + timeout_s
    perf = None
    while time.monotonic() < deadline:
        assert worker.alive(), worker.log_tail()
        status, _, body = await get(worker, f"/api/v1/stores/{STORE}/bundles/performance")
        if status == 200:
            perf = StorePerformance.model_validate_json(body)
            if perf.orders_since_published >= orders:
                return perf
        await asyncio.sleep(0.3)
    raise TimeoutError(f"performance not counted: {perf}\n{worker.log_tail()}")


async def get(worker: Worker, path: str) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        async with session.get(f"{worker.url}{path}", headers=admin_headers()) as resp:
            return resp.status, dict(resp.headers), await resp.read()


def hostile_products() -> bytes:
    """The garden sample with HTML, script and a formula in titles, and unsafe image addresses."""
    text = (SHOPIFY / "products_export.csv").read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0]
    title, image = header.index("Title"), header.index("Image Src")
    first_rows = [r for r in rows[1:] if r[title]]
    for i, row in enumerate(first_rows):
        name = f"{IMG_TRAP}<b>{row[title]}</b>{SCRIPT_TRAP}"
        row[title] = f'=HYPERLINK("http://evil.example","x"){name}' if i % 3 == 0 else name
        if i % 2 == 0:
            row[image] = JS_IMAGE if i % 4 == 0 else QUOTE_IMAGE
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


def wait_loaded(driver, upload_id: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if driver.execute_script("return document.body.dataset.loaded || '';") == upload_id:
            return
        time.sleep(0.1)
    raise AssertionError(f"page did not load {upload_id}:\n{driver.page_source[-3000:]}")


def money(value: float) -> str:
    return f"${value:,.2f}"


def live_answer(bs: BundleSet) -> dict[str, Any]:
    """A StorePerformance for ``bs``: figures for its first bundle only."""
    first = bs.bundles[0]
    now = datetime.now(UTC)
    perf = StorePerformance.model_validate(
        {
            "store_id": bs.store_id,
            "upload_id": bs.upload_id,
            "published_at": bs.generated_at,
            "orders_since_published": 12,
            "bundles": [
                {
                    "bundle_id": first.bundle_id,
                    "product_ids": [p.product_id for p in first.products],
                    "published_at": bs.generated_at,
                    "orders_whole": 3,
                    "orders_partial": 5,
                    "revenue_whole": 123.45,
                    "revenue_partial": 200.0,
                    "days": [
                        {
                            "day": now.date(),
                            "orders_whole": 3,
                            "orders_partial": 5,
                            "revenue_whole": 123.45,
                            "revenue_partial": 200.0,
                        }
                    ],
                }
            ],
            "as_of": now,
        }
    )
    return perf.model_dump(mode="json")


def answer_performance_with(driver, body: dict[str, Any]) -> None:
    """Before any page script runs, wrap fetch so the performance route answers ``body``."""
    source = (
        "(() => { const real = window.fetch.bind(window); const body = "
        + orjson.dumps(body).decode()
        + "; window.fetch = (input, init) => String(input).endsWith('/bundles/performance')"
        " ? Promise.resolve(new Response(JSON.stringify(body), {status: 200,"
        " headers: {'Content-Type': 'application/json'}})) : real(input, init); })();"
    )
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": source})


def save_screenshot(driver, path: Path) -> None:
    """The whole page as a PNG (DevTools captures beyond the window's height)."""
    width, height = driver.execute_script(
        "const d = document.documentElement; return [d.scrollWidth, d.scrollHeight];"
    )
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
        },
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))


@pytest.fixture
async def worker(isolated_settings):
    w = await start_worker(isolated_settings, "merchant-page-worker")
    try:
        yield w
    finally:
        w.stop()


async def test_merchant_page_asks_for_a_key_refuses_another_store_then_shows_the_set(
    browser, worker, tmp_path
) -> None:
    from selenium.webdriver.common.by import By

    bs = await upload(
        worker,
        STORE,
        (SHOPIFY / CATALOG).read_bytes(),
        (SHOPIFY / "orders_export.csv").read_bytes(),
    )
    assert bs.status == "ok" and bs.bundles, bs.error
    assert any(p.image_url for b in bs.bundles for p in b.products), "the sample has images"
    store_key = await create_key(worker.url, f"store:{STORE}")
    other_key = await create_key(worker.url, "store:some-other-shop")

    # the page itself carries no data and a strict policy that allows https images only
    status, headers, html = await get(worker, f"/stores/{STORE}")
    assert status == 200 and b'<script src="/static/merchant.js"></script>' in html
    assert bs.bundles[0].products[0].title.encode() not in html
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "img-src 'self' data: https:;" in csp, csp
    status, _, _ = await get(worker, "/stores/..%2Fetc")
    assert status in (404, 422)

    # no key: it asks for one and shows nothing
    browser.get(f"{worker.url}/stores/{STORE}")
    key_status(browser, "Enter an API key")
    assert browser.find_element(By.ID, "store-name").text == STORE
    assert not browser.find_elements(By.CSS_SELECTOR, ".bundle-card")
    browser.find_element(By.ID, "reload").click()
    assert "API key" in browser.find_element(By.ID, "load-status").text

    # another store's key: the 403 message, the key is kept, nothing shown
    enter_key(browser, other_key)
    text = key_status(browser, "does not cover")
    assert f'store "{STORE}"' in text, text
    assert stored_key(browser) == other_key
    assert not browser.find_elements(By.CSS_SELECTOR, ".bundle-card")

    # the store's key: the set
    enter_key(browser, store_key)
    wait_loaded(browser, bs.upload_id)
    cards = wait_for(browser, ".bundle-card", len(bs.bundles))
    assert len(cards) == len(bs.bundles)
    for card, bundle in zip(cards, bs.bundles, strict=True):
        assert card.get_attribute("data-bundle-id") == bundle.bundle_id
        titles = [e.text for e in card.find_elements(By.CSS_SELECTOR, ".ptitle")]
        assert titles == [p.title for p in bundle.products]
        assert card.find_element(By.CSS_SELECTOR, ".bundle-price").text == money(
            bundle.pricing.bundle_price
        )
        assert card.find_element(By.CSS_SELECTOR, ".list-price").text == money(
            bundle.pricing.list_price
        )
        assert card.find_element(By.CSS_SELECTOR, ".badge.type").text == bundle.bundle_type
        assert card.find_element(By.CSS_SELECTOR, ".badge.objective").text == (
            bundle.objective.value.replace("_", " ")
        )
        assert card.find_element(By.CSS_SELECTOR, ".rationale").text == bundle.rationale
        assert "margin" in card.find_element(By.CSS_SELECTOR, ".margin").text
        thumbs = card.find_elements(By.CSS_SELECTOR, ".thumb")
        for thumb, product in zip(thumbs, bundle.products, strict=True):
            https = bool(product.image_url and product.image_url.startswith("https://"))
            assert (thumb.get_attribute("data-image") != "none") == https, product

    # the chart: one bar per scored objective, the selected ones marked
    bars = browser.find_elements(By.CSS_SELECTOR, "#objective-svg g.objective")
    assert [b.get_attribute("data-objective") for b in bars] == sorted(
        bs.metrics.objective_selection, key=lambda k: bs.metrics.objective_selection[k].rank
    )
    assert len(bars) >= 2
    marked = {
        b.get_attribute("data-objective")
        for b in browser.find_elements(By.CSS_SELECTOR, "#objective-svg g.objective.selected")
    }
    assert marked == {o.value for o in bs.metrics.selected_objectives}
    widths = [float(b.find_element(By.CSS_SELECTOR, "rect").get_attribute("width")) for b in bars]
    assert max(widths) == pytest.approx(220)

    # the gate counts
    gates = bs.metrics.policy_gates.model_dump()
    shown = {
        row.get_attribute("data-gate"): int(row.find_element(By.CSS_SELECTOR, "td.num").text)
        for row in browser.find_elements(By.CSS_SELECTOR, "#gate-rows tr.gate")
    }
    assert shown == gates

    # before any order: the real route answers zero counts, the page says so
    status, _, body = await get(worker, f"/api/v1/stores/{STORE}/bundles/performance")
    assert status == 200, body
    assert StorePerformance.model_validate_json(body).orders_since_published == 0
    live = browser.find_element(By.ID, "live-status").text
    assert live.startswith("0 orders since publication"), live

    # live orders through the orders topic: the first bundle whole twice, the second with only
    # two of its products once; the page shows what the orders agent counted
    first, second = bs.bundles[0], bs.bundles[1]
    orders = [
        live_order(f"live-{i}", [(p.product_id, p.unit_price) for p in first.products])
        for i in range(2)
    ] + [live_order("live-2", [(p.product_id, p.unit_price) for p in second.products[:2]])]
    await produce_raw(
        worker.settings,
        [(STORE.encode(), o.to_bytes()) for o in orders],
        topic=registry.ORDERS.name(worker.settings.topic_prefix),
    )
    perf = await wait_performance(worker, len(orders))
    by_id = {b.bundle_id: b for b in perf.bundles}
    assert by_id[first.bundle_id].orders_whole == 2
    assert by_id[second.bundle_id].orders_partial >= 1
    browser.find_element(By.ID, "reload").click()
    deadline = time.monotonic() + 30
    live = browser.find_element(By.ID, "live-status").text
    while not live.startswith("3 orders since publication") and time.monotonic() < deadline:
        time.sleep(0.2)
        live = browser.find_element(By.ID, "live-status").text
    assert live.startswith("3 orders since publication"), live
    # the orders also took stock: a bundle whose component sold out may be gone from the set
    status, _, body = await get(worker, f"/api/v1/stores/{STORE}/bundles")
    assert status == 200
    current = BundleSet.model_validate_json(body)
    cards = wait_for(browser, ".bundle-card", len(current.bundles))
    assert len(cards) == len(current.bundles)
    for card in cards:
        figures = by_id[card.get_attribute("data-bundle-id")]
        shown = card.find_element(By.CSS_SELECTOR, ".perf").text
        assert f"{figures.orders_whole} whole-bundle orders" in shown, shown
        assert f"{figures.orders_partial} orders with 2+ of its products" in shown, shown
        if card.get_attribute("data-bundle-id") == first.bundle_id:
            assert "2 whole-bundle orders (66.7% of 3 orders)" in shown, shown

    assert_no_key_in_any_url(browser, store_key, other_key)
    assert browser.execute_script("return window.__pwned === undefined;")
    shot = Path(os.environ.get(SCREENSHOT_ENV) or tmp_path / "merchant-page.png")
    save_screenshot(browser, shot)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


async def test_merchant_page_keeps_hostile_text_inert_and_shows_live_figures(
    browser, worker
) -> None:
    from selenium.webdriver.common.by import By

    bs = await upload(
        worker, HOSTILE_STORE, hostile_products(), (SHOPIFY / "orders_export.csv").read_bytes()
    )
    assert bs.status == "ok" and bs.bundles, bs.error
    titles = [p.title for b in bs.bundles for p in b.products]
    assert all(IMG_TRAP in t and SCRIPT_TRAP in t for t in titles), titles
    images = {p.image_url for b in bs.bundles for p in b.products}
    assert JS_IMAGE not in images and QUOTE_IMAGE not in images  # dropped at ingest
    key = await create_key(worker.url, f"store:{HOSTILE_STORE}")

    answer = live_answer(bs)
    answer_performance_with(browser, answer)
    browser.get(f"{worker.url}/stores/{HOSTILE_STORE}")
    enter_key(browser, key)
    wait_loaded(browser, bs.upload_id)
    cards = wait_for(browser, ".bundle-card", len(bs.bundles))
    main = browser.find_element(By.TAG_NAME, "main")
    shown = main.text
    assert all(t in shown for t in titles), shown
    # nothing the merchant wrote became an element or ran; no image but https ones
    assert main.find_elements(By.CSS_SELECTOR, "script, b, a, iframe, object, embed") == []
    for img in main.find_elements(By.CSS_SELECTOR, "img"):
        assert img.get_attribute("src").startswith("https://"), img.get_attribute("src")
    assert browser.execute_script("return window.__pwned === undefined;")

    # the per-bundle figures of the performance answer
    assert browser.find_element(By.ID, "live-status").text.startswith("12 orders since publication")
    first = cards[0].find_element(By.CSS_SELECTOR, ".perf").text
    assert "3 whole-bundle orders (25% of 12 orders), $123.45" in first, first
    assert "5 orders with 2+ of its products, $200.00" in first, first
    assert "1 day(s) with orders" in first, first
    day = cards[0].find_element(By.CSS_SELECTOR, ".perf .days .day")
    assert day.get_attribute("title").endswith(": 3 whole, 5 with 2+"), day.get_attribute("title")
    for card in cards[1:]:
        assert card.find_element(By.CSS_SELECTOR, ".perf").text == (
            "No live data yet for this bundle"
        )
