"""Browser tests reuse the integration fixtures (real Kafka + Redis, isolated topics) and share
one headless Chromium fixture (Debian's chromium + chromium-driver; missing ones FAIL)."""

import shutil
import tempfile

import pytest

from tests.integration.conftest import _require_stack, isolated_settings, stack  # noqa: F401 - fixtures shared with the integration suite

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture
def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        pytest.fail(f"selenium is not installed ({exc}); pip install selenium", pytrace=False)
    binary = shutil.which("chromium") or (CHROMIUM if shutil.os.path.exists(CHROMIUM) else None)
    driver_path = shutil.which("chromedriver") or (
        CHROMEDRIVER if shutil.os.path.exists(CHROMEDRIVER) else None
    )
    if not binary or not driver_path:
        pytest.fail(
            "headless Chromium is required: install the Debian packages 'chromium' and 'chromium-driver'",
            pytrace=False,
        )
    profile = tempfile.mkdtemp(prefix="bs-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1280,1600",
    ):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
