"""Per-shop webhook secrets and the X-Shopify-Triggered-At freshness window (pure, no HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.settings import Settings
from webhooks.shopify import (
    CLOCK_SKEW_S,
    WEBHOOK_DEDUPE_TTL_S,
    WebhookRejected,
    authenticate_delivery,
    check_window,
    delivery_id,
    parse_triggered_at,
    secret_for_shop,
    sign,
)

SHOPS = {"alpha.myshopify.com": "alpha-secret", "Beta.MyShopify.com": "beta-secret"}
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_a_configured_shop_uses_its_own_secret() -> None:
    assert secret_for_shop("alpha.myshopify.com", SHOPS, "fallback", "default") == (
        "alpha.myshopify.com",
        "alpha-secret",
    )


def test_shop_domains_match_case_insensitively_and_give_one_store_id() -> None:
    assert secret_for_shop(" BETA.myshopify.com ", SHOPS, "fallback", "default") == (
        "beta.myshopify.com",
        "beta-secret",
    )
    assert (
        secret_for_shop("ALPHA.myshopify.com", SHOPS, "fallback", "default")[0]
        == "alpha.myshopify.com"
    )


@pytest.mark.parametrize("header", [None, "", "   ", "default", "DEFAULT"])
def test_the_fallback_secret_covers_only_the_default_store(header: str | None) -> None:
    assert secret_for_shop(header, SHOPS, "fallback", "default") == ("default", "fallback")


def test_the_map_wins_over_the_fallback_even_for_the_default_store() -> None:
    assert secret_for_shop(None, {"default": "own"}, "fallback", "default") == ("default", "own")


def test_an_unknown_shop_is_a_401_naming_the_shop_and_the_setting() -> None:
    with pytest.raises(WebhookRejected) as info:
        secret_for_shop("mallory.myshopify.com", SHOPS, "fallback", "default")
    assert info.value.status == 401
    assert "unknown shop 'mallory.myshopify.com'" in info.value.reason
    assert "BUNDLESTREAM_SHOPIFY_WEBHOOK_SECRETS" in info.value.reason


def test_an_unknown_shop_is_refused_even_with_no_map_at_all() -> None:
    with pytest.raises(WebhookRejected):
        secret_for_shop("anything.myshopify.com", {}, "fallback", "default")


def test_a_huge_shop_header_is_cut_in_the_reason() -> None:
    with pytest.raises(WebhookRejected) as info:
        secret_for_shop("x" * 100_000, SHOPS, "fallback", "default")
    assert len(info.value.reason) < 400


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-05-01T11:59:00Z", datetime(2026, 5, 1, 11, 59, tzinfo=UTC)),
        (
            "2026-05-01T11:59:00.123456789Z",
            datetime(2026, 5, 1, 11, 59, 0, 123456, tzinfo=UTC),
        ),
        ("2026-05-01T13:59:00+02:00", datetime(2026, 5, 1, 11, 59, tzinfo=UTC)),
    ],
)
def test_triggered_at_parses_shopify_times(value: str, expected: datetime) -> None:
    assert parse_triggered_at(value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        ("yesterday", "not an ISO 8601"),
        ("2026-05-01T11:59:00", "no time zone"),
    ],
)
def test_a_missing_or_unreadable_triggered_at_is_a_401(value: str | None, reason: str) -> None:
    with pytest.raises(WebhookRejected) as info:
        parse_triggered_at(value)
    assert info.value.status == 401 and reason in info.value.reason


def test_the_window_accepts_fresh_deliveries_and_shopify_retries() -> None:
    check_window(NOW, NOW, 3600)
    check_window(NOW - timedelta(seconds=3599), NOW, 3600)
    # Shopify's last retry comes about 4 hours after the trigger, with the original Triggered-At
    check_window(NOW - timedelta(hours=4, minutes=5), NOW, Settings().webhook_max_age_s)


def test_a_stale_delivery_is_a_401_naming_its_age_and_the_window() -> None:
    with pytest.raises(WebhookRejected) as info:
        check_window(NOW - timedelta(seconds=3700), NOW, 3600)
    assert info.value.status == 401
    assert (
        "stale" in info.value.reason
        and "3700s old" in info.value.reason
        and "3600s window" in info.value.reason
    )


def test_clock_skew_is_tolerated_up_to_the_allowance_only() -> None:
    check_window(NOW + timedelta(seconds=CLOCK_SKEW_S - 1), NOW, 3600)
    with pytest.raises(WebhookRejected) as info:
        check_window(NOW + timedelta(seconds=CLOCK_SKEW_S + 60), NOW, 3600)
    assert info.value.status == 401 and "in the future" in info.value.reason


def test_the_dedupe_outlives_every_allowed_window() -> None:
    """A replay inside the window is deduplicated; outside it, refused. No gap between the two."""
    field = Settings.model_fields["webhook_max_age_s"]
    max_allowed = next(m.le for m in field.metadata if hasattr(m, "le"))
    assert Settings().webhook_max_age_s < max_allowed < WEBHOOK_DEDUPE_TTL_S
    # and the default covers Shopify's 4-hour retry schedule
    assert Settings().webhook_max_age_s > 4 * 3600


def test_shop_secrets_come_from_json_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUNDLESTREAM_SHOPIFY_WEBHOOK_SECRETS", '{"a.myshopify.com": "s3cret"}')
    settings = Settings()
    assert {k: v.get_secret_value() for k, v in settings.shopify_webhook_secrets.items()} == {
        "a.myshopify.com": "s3cret"
    }
    assert "s3cret" not in repr(settings)


def test_blank_shop_secrets_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUNDLESTREAM_SHOPIFY_WEBHOOK_SECRETS", '{"a.myshopify.com": ""}')
    with pytest.raises(ValueError, match="non-empty"):
        Settings()


def _headers(shop: str, body: bytes, secret: str, at: datetime) -> dict[str, str]:
    return {
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-Hmac-Sha256": sign(secret, body),
        "X-Shopify-Triggered-At": at.isoformat(),
    }


def test_a_genuine_current_delivery_names_its_store() -> None:
    body = b'{"id": 1}'
    headers = _headers("Alpha.myshopify.com", body, "alpha-secret", NOW - timedelta(seconds=5))
    store = authenticate_delivery(headers, body, SHOPS, "fallback", "default", 3600, NOW)
    assert store == "alpha.myshopify.com"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"X-Shopify-Hmac-Sha256": sign("beta-secret", b'{"id": 1}')}, "signature"),
        ({"X-Shopify-Shop-Domain": "mallory.myshopify.com"}, "unknown shop"),
        ({"X-Shopify-Triggered-At": (NOW - timedelta(hours=2)).isoformat()}, "stale"),
        ({"X-Shopify-Triggered-At": ""}, "missing X-Shopify-Triggered-At"),
    ],
)
def test_a_delivery_is_refused_with_the_first_check_it_fails(
    change: dict[str, str], reason: str
) -> None:
    body = b'{"id": 1}'
    headers = _headers("alpha.myshopify.com", body, "alpha-secret", NOW) | change
    with pytest.raises(WebhookRejected) as exc:
        authenticate_delivery(headers, body, SHOPS, "fallback", "default", 3600, NOW)
    assert exc.value.status == 401 and reason in exc.value.reason


def test_the_signature_is_checked_before_the_clock() -> None:
    """A forged delivery learns nothing about the window: it fails on its signature."""
    headers = {"X-Shopify-Hmac-Sha256": "forged", "X-Shopify-Triggered-At": "garbage"}
    with pytest.raises(WebhookRejected, match="signature"):
        authenticate_delivery(headers, b"{}", SHOPS, "fallback", "default", 3600, NOW)


def test_a_delivery_is_named_by_its_event_id_else_its_webhook_id() -> None:
    assert delivery_id({"X-Shopify-Event-Id": "e1", "X-Shopify-Webhook-Id": "w1"}) == "e1"
    assert delivery_id({"X-Shopify-Webhook-Id": "w1"}) == "w1"
    assert delivery_id({"X-Shopify-Event-Id": ""}) is None
    assert delivery_id({}) is None
