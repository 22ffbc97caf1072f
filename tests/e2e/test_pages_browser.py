"""The demo and config pages in headless Chromium (Debian's chromium + chromium-driver).

The pages work with API keys: a key field kept in sessionStorage, every call sends
``Authorization: Bearer``, a wrong key is rejected and asked for again, a key for another store
gets the 403 message. Merchant text (product names with HTML or formulas) stays inert text.
A missing browser FAILS (CI installs it); these tests never skip.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time

import aiohttp
import pytest

from tests.e2e.support import DATE_NIGHT_CSV, register_catalog, start_worker
from tests.integration.harness import TEST_ADMIN_TOKEN, admin_headers

pytestmark = [pytest.mark.timeout(300), pytest.mark.integration]
STORE = "browser-shop"
HOSTILE_STORE = "hostile-names-shop"
KEY_STORAGE = "bundlestream.apiKey"
IMG_TRAP = '<img src=x onerror="window.__pwned=1">'
SCRIPT_TRAP = "<script>window.__pwned=2</script>"
PROMPT_TRAP = '</textarea><img src=x onerror="window.__pwned=3">'


def hostile_catalog() -> str:
    """The date-night catalog with HTML and spreadsheet formulas in every title and description."""
    rows = list(csv.DictReader(io.StringIO(DATE_NIGHT_CSV)))
    for row in rows:
        title = row["title"]
        row["title"] = {
            "flowers": f"{IMG_TRAP}{title}",
            "dinner": f'=HYPERLINK("http://evil.example","{title}")',
            "movie": f"<b>{title}</b>{SCRIPT_TRAP}",
        }[row["category"]]
        row["description"] = f"{SCRIPT_TRAP}{row['description']}"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


async def create_key(base_url: str, scope: str) -> str:
    """A new key through the admin API (the way an operator or `make demo` creates one)."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        async with session.post(
            f"{base_url}/api/v1/keys",
            json={"scope": scope, "name": f"browser test {scope}"},
            headers=admin_headers(),
        ) as resp:
            body = await resp.json(content_type=None)
            assert resp.status in (200, 201), (resp.status, body)
            key = body["key"]
        # the registry is a topic every worker reads: wait (bounded) until this worker knows the key
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            async with session.get(
                f"{base_url}/api/v1/keys", headers={"Authorization": f"Bearer {key}"}
            ) as resp:
                if resp.status != 401:
                    return key
            await asyncio.sleep(0.2)
    raise AssertionError(f"key for {scope} not usable within 30 s")


@pytest.fixture
async def worker(isolated_settings):
    w = await start_worker(isolated_settings, "browser-worker")
    try:
        await register_catalog(isolated_settings, STORE, worker=w)
        await register_catalog(isolated_settings, HOSTILE_STORE, hostile_catalog(), worker=w)
        yield w
    finally:
        w.stop()


def wait_for(driver, css: str, count: int = 1, timeout_s: float = 30.0):
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = [e for e in driver.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()]
        if len(found) >= count:
            return found
        time.sleep(0.1)
    raise AssertionError(
        f"{css!r} x{count} not visible within {timeout_s:.0f} s; page:\n{driver.page_source[-3000:]}"
    )


def send(driver, text: str) -> None:
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.ID, "message")
    box.send_keys(text)
    driver.find_element(By.ID, "send").click()


def enter_key(driver, key: str) -> None:
    from selenium.webdriver.common.by import By

    field = driver.find_element(By.ID, "api-key")
    field.clear()
    field.send_keys(key)
    driver.find_element(By.ID, "key-use").click()


def key_status(driver, contains: str, timeout_s: float = 30.0) -> str:
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout_s
    text = ""
    while time.monotonic() < deadline:
        text = driver.find_element(By.ID, "key-status").text
        if contains in text:
            return text
        time.sleep(0.1)
    raise AssertionError(f"key status {text!r} does not say {contains!r} within {timeout_s:.0f} s")


def stored_key(driver) -> str | None:
    return driver.execute_script(f"return sessionStorage.getItem({KEY_STORAGE!r});")


def assert_no_key_in_any_url(driver, *keys: str) -> None:
    """The page's own address and every request it made (Resource Timing) carry no key."""
    urls = [
        driver.current_url,
        *driver.execute_script(
            "return performance.getEntriesByType('resource').map((e) => e.name);"
        ),
    ]
    assert len(urls) > 3, urls
    for key in keys:
        assert not any(key in url for url in urls), urls


async def test_demo_page_login_wrong_key_other_store_and_the_demo_flow(browser, worker) -> None:
    from selenium.webdriver.common.by import By

    store_key = await create_key(worker.url, f"store:{STORE}")
    other_key = await create_key(worker.url, "store:some-other-shop")
    browser.get(f"{worker.url}/demo?store={STORE}")
    key_status(browser, "Enter an API key")
    assert stored_key(browser) is None

    # no key: nothing is sent, the page asks for one
    send(browser, "plan a date night")
    key_status(browser, "Enter an API key")
    assert browser.switch_to.active_element.get_attribute("id") == "api-key"

    # a wrong key: rejected, forgotten, asked for again
    enter_key(browser, "bs-not-a-real-key-0000")
    send(browser, "plan a date night")
    assert "Key rejected" in key_status(browser, "Key rejected")
    assert "Enter a valid key" in browser.find_element(By.ID, "key-status").text
    assert stored_key(browser) is None
    assert not browser.find_elements(By.CSS_SELECTOR, ".reply")

    # a key for another store: the 403 message names the store; the key is kept
    enter_key(browser, other_key)
    send(browser, "plan a date night")
    text = key_status(browser, "does not cover")
    assert f'store "{STORE}"' in text, text
    assert stored_key(browser) == other_key
    assert not browser.find_elements(By.CSS_SELECTOR, ".reply")

    # the store's own key: the demo flow, key kept in sessionStorage across a reload
    enter_key(browser, store_key)
    assert (
        browser.find_element(By.ID, "api-key").get_attribute("value") == ""
    )  # not left in the DOM
    browser.refresh()
    assert stored_key(browser) == store_key
    send(browser, "plan a date night")
    reply = wait_for(browser, ".reply[data-kind=questions]")[0]
    assert reply.find_elements(By.CSS_SELECTOR, ".questions li")
    assert not browser.find_elements(By.CSS_SELECTOR, ".option")
    send(browser, "Saturday, $100, vegetarian")
    wait_for(browser, ".reply[data-kind=options]")
    options = wait_for(browser, ".option", 2)
    assert 2 <= len(options) <= 4
    options[0].find_element(By.CSS_SELECTOR, "button.add-bundle").click()
    wait_for(browser, "#bundle")
    bundle_id = browser.find_element(By.ID, "bundle-id").text
    assert bundle_id
    items = wait_for(browser, "#bundle-products li", 2)
    assert browser.find_element(By.ID, "bundle-total").text.startswith("$")
    assert_no_key_in_any_url(browser, store_key, other_key)
    async with aiohttp.ClientSession() as session:
        async with session.get(
            f"{worker.url}/api/v1/bundles/{bundle_id}",
            headers={"Authorization": f"Bearer {store_key}"},
        ) as resp:
            assert resp.status == 200
            doc = await resp.json()
        async with session.get(f"{worker.url}/demo") as resp:  # the page itself holds no data
            assert resp.status == 200
            csp = resp.headers["Content-Security-Policy"]
            assert "script-src 'self'" in csp and "form-action 'none'" in csp
    assert len(doc["product_ids"]) == len(items)


async def test_demo_page_renders_html_and_formulas_in_product_names_as_text(
    browser, worker
) -> None:
    from selenium.webdriver.common.by import By

    key = await create_key(worker.url, f"store:{HOSTILE_STORE}")
    browser.get(f"{worker.url}/demo?store={HOSTILE_STORE}")
    enter_key(browser, key)
    send(browser, "plan a date night")
    wait_for(browser, ".reply[data-kind=questions]")
    send(browser, "Saturday, $100, vegetarian")
    wait_for(browser, ".reply[data-kind=options]")
    wait_for(browser, ".listing li", 3)
    log = browser.find_element(By.ID, "log")
    shown = log.text
    assert IMG_TRAP in shown and "=HYPERLINK(" in shown, shown
    # nothing the merchant wrote became an element or ran
    assert log.find_elements(By.CSS_SELECTOR, "img, script, b, a, iframe") == []
    assert browser.execute_script("return window.__pwned === undefined;")


async def test_config_page_needs_an_admin_key_then_validates_and_saves(browser, worker) -> None:
    from selenium.webdriver.common.by import By

    store_key = await create_key(worker.url, f"store:{STORE}")
    browser.get(f"{worker.url}/config")
    key_status(browser, "Enter an API key")
    assert not browser.find_elements(
        By.CSS_SELECTOR, "#mix tr.slice"
    )  # nothing loads without a key
    enter_key(browser, store_key)
    key_status(browser, "does not cover the platform config")
    assert not browser.find_elements(By.CSS_SELECTOR, "#mix tr.slice")
    enter_key(browser, TEST_ADMIN_TOKEN)
    pcts = wait_for(browser, "#mix tr.slice input.pct", 5)
    save = browser.find_element(By.ID, "save")
    assert save.is_enabled()
    pcts[0].clear()
    pcts[0].send_keys("45")  # 45+20+10+10+10 = 95
    status = browser.find_element(By.ID, "pct-status")
    assert not save.is_enabled()
    assert "sum to 100" in status.text and "95" in status.text
    # fix it by adding a slice worth 5
    browser.find_element(By.ID, "add-slice").click()
    new_pct = browser.find_elements(By.CSS_SELECTOR, "#mix tr.slice input.pct")[-1]
    new_pct.clear()
    new_pct.send_keys("5")
    assert save.is_enabled(), status.text
    ppc = browser.find_element(By.ID, "products_per_category")
    ppc.clear()
    ppc.send_keys("4")
    # a prompt with markup in it: saved and shown back as the text it is
    planner = browser.find_element(By.ID, "prompt-planner")
    planner.send_keys(PROMPT_TRAP)
    planner_text = planner.get_attribute("value")
    save.click()
    deadline = time.monotonic() + 20
    result = browser.find_element(By.ID, "result")
    while "Saved" not in result.text and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "Saved: version 1" in result.text, result.text
    browser.refresh()  # the key survives the reload (sessionStorage) and the page loads by itself
    wait_for(browser, "#mix tr.slice input.pct", 6)
    assert browser.find_element(By.ID, "prompt-planner").get_attribute("value") == planner_text
    assert PROMPT_TRAP in planner_text
    assert browser.find_elements(By.CSS_SELECTOR, "img, iframe") == []
    assert browser.execute_script("return window.__pwned === undefined;")
    assert_no_key_in_any_url(browser, TEST_ADMIN_TOKEN, store_key)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{worker.url}/api/v1/config", headers=admin_headers()) as resp:
            assert resp.status == 200
            doc = await resp.json()
    cfg = doc["platform"]["composite_discovery_config"]
    assert doc["version"] == 1 and cfg["products_per_category"] == 4
    assert [s["pct"] for s in cfg["product_mix"]] == [45, 20, 10, 10, 10, 5]
    assert cfg["product_mix"][-1]["sort"] == "recent"
    assert doc["prompts"]["prompts"]["planner"]["system_prompt"] == planner_text
