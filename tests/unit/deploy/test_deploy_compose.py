"""docker-compose.yml parses, wires the services the design needs, and only sets real settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from core.settings import REPO_ROOT, Settings


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())


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
    assert (REPO_ROOT / services["topics"]["build"]["dockerfile"]).is_file()
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
                assert key[len(prefix) :].lower() in fields, (
                    f"{name}: {key} is not a Settings field"
                )
    assert seen > 0


def test_dockerfile_env_keys_are_real_settings() -> None:
    fields = set(Settings.model_fields)
    text = (REPO_ROOT / "deploy" / "Dockerfile").read_text()
    keys = {
        tok.split("=")[0]
        for tok in text.replace("\\", " ").split()
        if tok.startswith("BUNDLESTREAM_") and "=" in tok
    }
    assert keys, "Dockerfile sets no BUNDLESTREAM_ settings"
    for key in keys:
        assert key[len("BUNDLESTREAM_") :].lower() in fields, key
    assert "python:3.11-slim" in text and '"bundlestream", "worker"' in text


REQUIRED_SECRETS = ("BUNDLESTREAM_ADMIN_TOKEN", "BUNDLESTREAM_SHOPIFY_WEBHOOK_SECRET")


def test_secrets_come_from_the_environment_and_compose_refuses_to_start_without_them(
    compose: dict,
) -> None:
    import re

    for name in ("topics", "worker"):
        env = _env(compose["services"][name])
        for key in REQUIRED_SECRETS:
            # ${VAR:?message}: compose stops with the message when VAR is unset or empty
            match = re.fullmatch(r"\$\{(\w+):\?(.+)\}", str(env.get(key, "")))
            assert match and match.group(1) == key and key in match.group(2), (
                f"{name}: {key}={env.get(key)!r}"
            )
        assert (
            env["BUNDLESTREAM_SHOPIFY_WEBHOOK_SECRETS"]
            == "${BUNDLESTREAM_SHOPIFY_WEBHOOK_SECRETS:-}"
        )
    text = (REPO_ROOT / "docker-compose.yml").read_text()
    assert "change-me" not in text and "dev-webhook-secret" not in text
    for key in (*REQUIRED_SECRETS, "BUNDLESTREAM_SHOPIFY_WEBHOOK_SECRETS"):
        assert f"#   {key}" in text, f"{key} is not documented in the compose file's header"


def test_the_compose_worker_would_refuse_the_old_placeholder() -> None:
    """Belt and braces: were the placeholder ever back, the worker on 0.0.0.0 would not start."""
    from core.production import production_problems

    settings = Settings().model_copy(
        update={"web_host": "0.0.0.0", "shopify_webhook_secret": "change-me", "admin_token": None}
    )
    assert len(production_problems(settings)) == 2


def test_env_example_names_real_settings_and_holds_no_secret() -> None:
    lines = [line.strip() for line in (REPO_ROOT / ".env.example").read_text().splitlines()]
    assigned = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    assert set(REQUIRED_SECRETS) <= set(assigned)
    fields = set(Settings.model_fields)
    for key, value in assigned.items():
        assert key.startswith("BUNDLESTREAM_") and key[len("BUNDLESTREAM_") :].lower() in fields, (
            key
        )
        assert value == "", f"{key} has a value in .env.example"
    assert ".env" in (REPO_ROOT / ".gitignore").read_text().splitlines()


# --------------------------------------------------------------------------------------------
# The `cluster` profile: the same file, interpolated with deploy/cluster.env
# --------------------------------------------------------------------------------------------


def _interpolate(value: object, env: dict[str, str]) -> object:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?message}`` for the values we use."""
    import re

    if isinstance(value, dict):
        return {k: _interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3) or ""
        if env.get(name):
            return env[name]
        if op == ":?":
            raise KeyError(f"{name}: {arg}")
        return arg if op == ":-" else ""

    return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", one, value)


def _env_file(path: Path) -> dict[str, str]:
    lines = [line.strip() for line in path.read_text().splitlines()]
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


SECRETS = {"BUNDLESTREAM_ADMIN_TOKEN": "x" * 32, "BUNDLESTREAM_SHOPIFY_WEBHOOK_SECRET": "y" * 32}


def _active(compose: dict, env: dict[str, str], profiles: set[str]) -> dict[str, dict]:
    """The services ``docker compose --profile ...`` would start, with variables substituted."""
    return {
        name: _interpolate(service, env)
        for name, service in compose["services"].items()
        if not service.get("profiles") or set(service["profiles"]) & profiles
    }


def test_default_is_still_the_single_broker(compose: dict) -> None:
    services = _active(compose, SECRETS, set())
    assert not {"kafka-2", "kafka-3"} & set(services)
    kafka = services["kafka"]["environment"]
    assert kafka["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
    assert str(kafka["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"]) == "1"
    assert str(kafka["KAFKA_MIN_INSYNC_REPLICAS"]) == "1"
    worker = _env(services["worker"])
    assert worker["BUNDLESTREAM_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert worker["BUNDLESTREAM_REPLICATION_FACTOR"] == "1"


def test_cluster_profile_is_three_voting_nodes_with_replicated_topics(compose: dict) -> None:
    env = {**_env_file(REPO_ROOT / "deploy" / "cluster.env"), **SECRETS}
    services = _active(compose, env, {"cluster"})
    nodes = {name: services[name]["environment"] for name in ("kafka", "kafka-2", "kafka-3")}
    assert sorted(int(e["KAFKA_NODE_ID"]) for e in nodes.values()) == [1, 2, 3]
    voters = {e["KAFKA_CONTROLLER_QUORUM_VOTERS"] for e in nodes.values()}
    assert voters == {"1@kafka:9093,2@kafka-2:9093,3@kafka-3:9093"}
    for name, e in nodes.items():
        assert e["KAFKA_PROCESS_ROLES"] == "broker,controller", name
        assert e["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{name}:9092"
        assert str(e["KAFKA_AUTO_CREATE_TOPICS_ENABLE"]) == "false"
        assert str(e["KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE"]) == "false"
        for key in (
            "KAFKA_DEFAULT_REPLICATION_FACTOR",
            "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
            "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        ):
            assert str(e[key]) == "3", (name, key)
        assert (
            str(e["KAFKA_MIN_INSYNC_REPLICAS"])
            == str(e["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"])
            == "2"
        )
        assert "healthcheck" in services[name]
    # each node keeps its own log dirs
    volumes = [services[name]["volumes"][0].split(":")[0] for name in nodes]
    assert len(set(volumes)) == 3 and set(volumes) <= set(compose["volumes"])
    for name in ("topics", "worker"):
        settings = Settings(
            **{
                k[len("BUNDLESTREAM_") :].lower(): v
                for k, v in _env(services[name]).items()
                if k.startswith("BUNDLESTREAM_") and v
            }
        )
        assert settings.kafka_bootstrap.split(",") == [f"{n}:9092" for n in nodes]
        assert settings.replication_factor == 3 and settings.effective_min_insync_replicas == 2
    topics_deps = services["topics"]["depends_on"]
    assert all(topics_deps[n]["condition"] == "service_healthy" for n in nodes)
