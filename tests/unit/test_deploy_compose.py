"""docker-compose.yml parses, wires the services the design needs, and only sets real settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from bundlestream.settings import Settings

import yaml  # noqa: E402 - test extra

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return env


def test_services(compose: dict) -> None:
    services = compose["services"]
    assert {"kafka", "redis", "topics", "worker"} <= set(services)
    assert services["kafka"]["image"] == "apache/kafka:3.9.1"
    assert str(services["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"]) == "false"
    assert services["topics"]["command"] == ["bundlestream", "topics", "create"]
    assert services["topics"]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (ROOT / services["topics"]["build"]["dockerfile"]).is_file()
    worker = services["worker"]
    assert "replicas" in worker["deploy"]
    assert worker["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert "/healthz" in " ".join(worker["healthcheck"]["test"])
    for name in ("kafka", "redis", "worker"):
        assert "healthcheck" in services[name], name


def test_bundlestream_env_keys_are_real_settings(compose: dict) -> None:
    fields = set(Settings.model_fields)
    prefix = "BUNDLESTREAM_"
    seen = 0
    for name, service in compose["services"].items():
        for key in _env(service):
            if key.startswith(prefix):
                seen += 1
                assert key[len(prefix):].lower() in fields, f"{name}: {key} is not a Settings field"
    assert seen > 0


def test_dockerfile_env_keys_are_real_settings() -> None:
    fields = set(Settings.model_fields)
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    keys = {tok.split("=")[0] for tok in text.replace("\\", " ").split() if tok.startswith("BUNDLESTREAM_") and "=" in tok}
    assert keys, "Dockerfile sets no BUNDLESTREAM_ settings"
    for key in keys:
        assert key[len("BUNDLESTREAM_"):].lower() in fields, key
    assert "python:3.11-slim" in text and '"bundlestream", "worker"' in text


REQUIRED_SECRETS = ("BUNDLESTREAM_ADMIN_TOKEN", "BUNDLESTREAM_SHOPIFY_WEBHOOK_SECRET")


def test_secrets_come_from_the_environment_and_compose_refuses_to_start_without_them(compose: dict) -> None:
    import re

    for name in ("topics", "worker"):
        env = _env(compose["services"][name])
        for key in REQUIRED_SECRETS:
            # ${VAR:?message}: compose stops with the message when VAR is unset or empty
            match = re.fullmatch(r"\$\{(\w+):\?(.+)\}", str(env.get(key, "")))
            assert match and match.group(1) == key and key in match.group(2), f"{name}: {key}={env.get(key)!r}"
        assert env["BUNDLESTREAM_SHOPIFY_WEBHOOK_SECRETS"] == "${BUNDLESTREAM_SHOPIFY_WEBHOOK_SECRETS:-}"
    text = (ROOT / "docker-compose.yml").read_text()
    assert "change-me" not in text and "dev-webhook-secret" not in text
    for key in (*REQUIRED_SECRETS, "BUNDLESTREAM_SHOPIFY_WEBHOOK_SECRETS"):
        assert f"#   {key}" in text, f"{key} is not documented in the compose file's header"


def test_the_compose_worker_would_refuse_the_old_placeholder() -> None:
    """Belt and braces: were the placeholder ever back, the worker on 0.0.0.0 would not start."""
    from bundlestream.production import production_problems

    settings = Settings().model_copy(update={"web_host": "0.0.0.0", "shopify_webhook_secret": "change-me", "admin_token": None})
    assert len(production_problems(settings)) == 2


def test_env_example_names_real_settings_and_holds_no_secret() -> None:
    lines = [line.strip() for line in (ROOT / ".env.example").read_text().splitlines()]
    assigned = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    assert set(REQUIRED_SECRETS) <= set(assigned)
    fields = set(Settings.model_fields)
    for key, value in assigned.items():
        assert key.startswith("BUNDLESTREAM_") and key[len("BUNDLESTREAM_"):].lower() in fields, key
        assert value == "", f"{key} has a value in .env.example"
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()
