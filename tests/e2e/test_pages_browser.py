"""The demo and config pages in headless Chromium (Debian's chromium + chromium-driver).

A missing browser FAILS (CI installs it); these tests never skip.
"""

from __future__ import annotations

import shutil
import tempfile
import time

import pytest

from tests.e2e.support import Api, register_catalog, start_worker

pytestmark = [pytest.mark.timeout(300), pytest.mark.integration]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
STORE = "browser-shop"


@pytest.fixture
def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        pytest.fail(f"selenium is not installed ({exc}); pip install selenium", pytrace=False)
    binary = shutil.which("chromium") or (CHROMIUM if shutil.os.path.exists(CHROMIUM) else None)
    driver_path = shutil.which("chromedriver") or (CHROMEDRIVER if shutil.os.path.exists(CHROMEDRIVER) else None)
    if not binary or not driver_path:
        pytest.fail("headless Chromium is required: install the Debian packages 'chromium' and 'chromium-driver'",
                    pytrace=False)
    profile = tempfile.mkdtemp(prefix="bs-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                f"--user-data-dir={profile}", "--window-size=1280,1600"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
async def worker(isolated_settings):
    w = await start_worker(isolated_settings, "browser-worker")
    try:
        await register_catalog(isolated_settings, STORE, worker=w)
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
    raise AssertionError(f"{css!r} x{count} not visible within {timeout_s:.0f} s; page:\n{driver.page_source[-3000:]}")


def send(driver, text: str) -> None:
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.ID, "message")
    box.send_keys(text)
    driver.find_element(By.ID, "send").click()


async def test_demo_page_probe_options_add_bundle(browser, worker) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{worker.url}/demo?store={STORE}")
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
    api = Api(worker.url)
    try:
        code, doc = await api.request("GET", f"/api/v1/bundles/{bundle_id}")
    finally:
        await api.close()
    assert code == 200 and len(doc["product_ids"]) == len(items)


async def test_config_page_live_validation_and_save(browser, worker) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{worker.url}/config")
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
    save.click()
    deadline = time.monotonic() + 20
    result = browser.find_element(By.ID, "result")
    while "Saved" not in result.text and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "Saved: version 1" in result.text, result.text
    api = Api(worker.url)
    try:
        doc = await api.config()
    finally:
        await api.close()
    cfg = doc["platform"]["composite_discovery_config"]
    assert doc["version"] == 1 and cfg["products_per_category"] == 4
    assert [s["pct"] for s in cfg["product_mix"]] == [45, 20, 10, 10, 10, 5]
    assert cfg["product_mix"][-1]["sort"] == "recent"
