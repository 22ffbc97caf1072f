"""What `make demo` prints about its keys (pure parts; the live run is exercised by hand and CI's demo)."""

from __future__ import annotations

from bundlestream.demo import DemoKey, demo_key_plan, usage_text
from security.scopes import parse_scope

BASE = "http://127.0.0.1:6066"
KEYS = [
    DemoKey("admin", "admin", "adm-123"),
    DemoKey("store", "store:olist-demo", "sto-456"),
    DemoKey("gateway", "gateway", "gw-789"),
]


def test_the_demo_creates_a_store_key_and_a_gateway_key_with_valid_scopes() -> None:
    plan = demo_key_plan("olist-demo")
    assert [(label, scope) for label, scope, _ in plan] == [
        ("store", "store:olist-demo"),
        ("gateway", "gateway"),
    ]
    for _, scope, name in plan:
        assert str(parse_scope(scope)) == scope and name


def test_usage_shows_each_key_once_and_how_to_use_it() -> None:
    text = usage_text(BASE, "olist-demo", KEYS, admin_from_env=False)
    for key in KEYS:
        assert key.key in text and key.scope in text
    assert (
        f"curl -H 'Authorization: Bearer sto-456' '{BASE}/api/v1/stores/olist-demo/popularity?limit=3'"
        in text
    )
    assert f"{BASE}/demo?store=olist-demo" in text and "paste the store key" in text
    assert f"{BASE}/config" in text and "paste the admin key" in text


def test_no_key_ever_appears_in_a_url() -> None:
    text = usage_text(BASE, "olist-demo", KEYS, admin_from_env=False)
    urls = [word.strip("'\"") for word in text.split() if "://" in word]
    assert urls and not any(k.key in url for url in urls for k in KEYS)


def test_an_admin_token_from_the_environment_is_not_echoed() -> None:
    text = usage_text(BASE, "olist-demo", KEYS, admin_from_env=True)
    assert "adm-123" not in text and "your BUNDLESTREAM_ADMIN_TOKEN" in text


def test_the_gift_shop_gets_its_own_store_key_and_a_performance_curl_line() -> None:
    plan = demo_key_plan("olist-demo", "uk-gift-shop")
    assert plan[-1][:2] == ("shop", "store:uk-gift-shop")
    keys = [*KEYS, DemoKey("shop", "store:uk-gift-shop", "shp-000")]
    text = usage_text(BASE, "olist-demo", keys, admin_from_env=False)
    assert (
        f"curl -H 'Authorization: Bearer shp-000' '{BASE}/api/v1/stores/uk-gift-shop/bundles/performance'"
        in text
    )
    urls = [word.strip("'\"") for word in text.split() if "://" in word]
    assert not any("shp-000" in url for url in urls)
