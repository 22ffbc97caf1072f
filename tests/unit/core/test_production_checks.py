"""A worker reachable from other machines refuses development secrets and a missing admin key."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from agents.cli import EXIT_UNSAFE_CONFIG
from core.production import is_loopback, production_problems
from core.settings import DEV_WEBHOOK_SECRET, Settings

# TEST-NET-1 (RFC 5737): non-loopback, and assigned to no machine, so even a broken check that let
# the worker go on could never listen on a real interface.
UNASSIGNED = "192.0.2.1"
GOOD = {
    "shopify_webhook_secret": "a-real-secret-4f0c1e",
    "admin_token": SecretStr("a-real-admin-key-9b7d2a"),
}


def settings(**overrides: object) -> Settings:
    return Settings().model_copy(update=overrides)


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.8.9.10", "localhost", "LOCALHOST", "::1", "[::1]"]
)
def test_loopback_addresses(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "::", "", UNASSIGNED, "10.0.0.5", "worker.internal", "example.com"]
)
def test_everything_else_is_reachable(host: str) -> None:
    assert not is_loopback(host)


def test_loopback_workers_may_use_development_defaults() -> None:
    assert (
        production_problems(
            settings(
                web_host="127.0.0.1", shopify_webhook_secret=DEV_WEBHOOK_SECRET, admin_token=None
            )
        )
        == []
    )


def test_a_public_worker_with_real_secrets_may_start() -> None:
    assert production_problems(settings(web_host="0.0.0.0", **GOOD)) == []
    shops = {"a.myshopify.com": SecretStr("shop-a-secret-77")}
    assert (
        production_problems(settings(web_host=UNASSIGNED, shopify_webhook_secrets=shops, **GOOD))
        == []
    )


@pytest.mark.parametrize("secret", [DEV_WEBHOOK_SECRET, "change-me", "  ", ""])
def test_a_public_worker_refuses_the_development_webhook_secret(secret: str) -> None:
    problems = production_problems(
        settings(web_host="0.0.0.0", **{**GOOD, "shopify_webhook_secret": secret})
    )
    assert len(problems) == 1
    assert "BUNDLESTREAM_SHOPIFY_WEBHOOK_SECRET" in problems[0] and "'0.0.0.0'" in problems[0]


def test_a_public_worker_refuses_a_development_secret_for_any_shop() -> None:
    shops = {
        "good.myshopify.com": SecretStr("shop-secret-55"),
        "lazy.myshopify.com": SecretStr(DEV_WEBHOOK_SECRET),
    }
    problems = production_problems(
        settings(web_host=UNASSIGNED, shopify_webhook_secrets=shops, **GOOD)
    )
    assert len(problems) == 1 and "'lazy.myshopify.com'" in problems[0]
    assert DEV_WEBHOOK_SECRET not in problems[0]  # a shop secret, even a weak one, is never echoed


@pytest.mark.parametrize("token", [None, SecretStr(""), SecretStr("   ")])
def test_a_public_worker_refuses_to_run_without_an_admin_token(token: SecretStr | None) -> None:
    problems = production_problems(settings(web_host="10.1.2.3", **{**GOOD, "admin_token": token}))
    assert len(problems) == 1 and "BUNDLESTREAM_ADMIN_TOKEN is not set" in problems[0]


@pytest.mark.parametrize("token", ["hunter2", "change-me", "q" * 15])
def test_a_public_worker_refuses_a_guessable_admin_token(token: str) -> None:
    problems = production_problems(
        settings(web_host="0.0.0.0", **{**GOOD, "admin_token": SecretStr(token)})
    )
    assert len(problems) == 1 and "too easy to guess" in problems[0]
    assert token not in problems[0]  # the token itself is never echoed


def test_every_problem_is_reported_at_once() -> None:
    assert (
        len(
            production_problems(
                settings(
                    web_host="0.0.0.0", shopify_webhook_secret=DEV_WEBHOOK_SECRET, admin_token=None
                )
            )
        )
        == 2
    )


def _run_worker(env_overrides: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUNDLESTREAM_")}
    env.update(
        {
            "BUNDLESTREAM_WEB_HOST": UNASSIGNED,
            "BUNDLESTREAM_KAFKA_BOOTSTRAP": "127.0.0.1:9",  # discard port: a broken check reaches no broker
            **env_overrides,
        }
    )
    script = Path(sys.executable).with_name("bundlestream")
    return subprocess.run(
        [str(script), "worker", "--loglevel", "warn"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_worker_command_refuses_to_start_with_development_secrets() -> None:
    started = time.monotonic()
    result = _run_worker({})
    assert result.returncode == EXIT_UNSAFE_CONFIG, result.stderr
    assert "bundlestream worker refuses to start" in result.stderr
    assert "BUNDLESTREAM_SHOPIFY_WEBHOOK_SECRET is the development default" in result.stderr
    assert "BUNDLESTREAM_ADMIN_TOKEN is not set" in result.stderr
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 30  # refused up front, not after trying to connect or bind


def test_the_worker_command_refuses_a_development_shop_secret_even_with_an_admin_token() -> None:
    result = _run_worker(
        {
            "BUNDLESTREAM_ADMIN_TOKEN": "a-real-admin-key-9b7d2a",
            "BUNDLESTREAM_SHOPIFY_WEBHOOK_SECRET": "a-real-secret-4f0c1e",
            "BUNDLESTREAM_SHOPIFY_WEBHOOK_SECRETS": '{"lazy.myshopify.com": "change-me"}',
        }
    )
    assert result.returncode == EXIT_UNSAFE_CONFIG, result.stderr
    assert "'lazy.myshopify.com'" in result.stderr and "ADMIN_TOKEN" not in result.stderr
