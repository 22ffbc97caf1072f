"""The local stack for real: idempotent up/down/status, topic contracts on the broker, Redis."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from core.settings import Settings, get_settings
from deploy import kafka_local, local
from deploy.config import kafka_layout, redis_layout
from deploy.errors import TopicMismatchError
from deploy.net import free_port, free_port_pair
from deploy.topics_admin import (
    delete_topics,
    describe_topic_configs,
    ensure_topics,
    partition_counts,
    plan_topics,
)
from topics import ALL_TOPICS, partitions_for


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bundlestream.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


def test_dev_up_twice_is_idempotent_and_status_is_up(stack: local.StackStatus) -> None:
    first = cli("dev", "up")
    second = cli("dev", "up")
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert first.stdout.splitlines() == second.stdout.splitlines()  # same pids, nothing restarted
    status = cli("dev", "status")
    assert status.returncode == 0, status.stdout + status.stderr
    kafka_line, redis_line = status.stdout.splitlines()[:2]
    assert kafka_line.split()[:3] == ["kafka", "up", stack.kafka.endpoint], kafka_line
    assert redis_line.split()[:3] == ["redis", "up", stack.redis.endpoint], redis_line
    assert local.status().ok


def test_topics_have_their_contract_on_the_broker(isolated_settings: Settings) -> None:
    s = isolated_settings
    names = [spec.name(s.topic_prefix) for spec in ALL_TOPICS]
    counts = partition_counts(s, names)
    configs = describe_topic_configs(s, names)
    for spec in ALL_TOPICS:
        name = spec.name(s.topic_prefix)
        assert counts[name] == partitions_for(spec, s.partitions), name
        assert configs[name]["cleanup.policy"] == ("compact" if spec.compacted else "delete"), name
        if spec.retention_ms is not None and not spec.compacted:
            assert configs[name]["retention.ms"] == str(spec.retention_ms), name
    # a second run finds everything in place
    assert set(ensure_topics(s).values()) == {"exists"}


def test_wrong_partition_count_names_the_topic(isolated_settings: Settings) -> None:
    wrong = isolated_settings.model_copy(update={"partitions": isolated_settings.partitions + 1})
    with pytest.raises(TopicMismatchError) as err:
        ensure_topics(wrong)
    assert f"{isolated_settings.topic_prefix}.orders" in str(err.value)


def test_topics_create_cli(stack: local.StackStatus) -> None:
    prefix = f"cli{os.getpid()}x{free_port()}"
    env = {"BUNDLESTREAM_TOPIC_PREFIX": prefix, "BUNDLESTREAM_PARTITIONS": "3"}
    try:
        result = cli("topics", "create", env=env)
        assert result.returncode == 0, result.stderr
        assert result.stdout.count("created") == len(ALL_TOPICS)
        again = cli("topics", "create", env=env)
        assert again.returncode == 0 and again.stdout.count("exists") == len(ALL_TOPICS)
        mismatch = cli("topics", "create", env={**env, "BUNDLESTREAM_PARTITIONS": "4"})
        assert mismatch.returncode == 2 and f"{prefix}.orders" in mismatch.stderr
    finally:
        delete_topics(get_settings(), prefix)


def test_redis_answers_ping(stack: local.StackStatus) -> None:
    client = redis.Redis.from_url(get_settings().redis_url)
    try:
        assert client.ping() is True
        client.set("bundlestream:test:ping", "pong", ex=10)
        assert client.get("bundlestream:test:ping") == b"pong"
    finally:
        client.close()


def test_private_stack_full_lifecycle(stack: local.StackStatus, tmp_path: Path) -> None:
    """A second stack on free ports in its own cache dir: fresh format, up twice, down, restart."""
    shared_libs = kafka_local.resolve_jars(get_settings(), log=lambda _: None)  # no-op when present
    cache = tmp_path / "cache"
    (cache / "kafka").mkdir(parents=True)
    (cache / "kafka" / "libs").symlink_to(
        shared_libs, target_is_directory=True
    )  # no second Maven run
    kafka_port, redis_port = free_port_pair(), free_port()
    env = {
        "BUNDLESTREAM_CACHE_DIR": str(cache),
        "BUNDLESTREAM_KAFKA_BOOTSTRAP": f"127.0.0.1:{kafka_port}",
        "BUNDLESTREAM_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "BUNDLESTREAM_TOPIC_PREFIX": "private",
        "BUNDLESTREAM_PARTITIONS": "2",
    }
    settings = Settings(
        cache_dir=cache,
        kafka_bootstrap=env["BUNDLESTREAM_KAFKA_BOOTSTRAP"],
        redis_url=env["BUNDLESTREAM_REDIS_URL"],
    )
    try:
        assert cli("dev", "status", env=env).returncode == 1
        first = cli("dev", "up", env=env)
        assert first.returncode == 0, first.stdout + first.stderr
        assert "formatting storage" in first.stdout
        assert (cache / "kafka" / "data" / "meta.properties").exists()
        second = cli("dev", "up", env=env)
        assert second.returncode == 0 and second.stdout.count("already running") == 2, second.stdout
        status = cli("dev", "status", env=env)
        assert status.returncode == 0 and f"127.0.0.1:{kafka_port}" in status.stdout, status.stdout
        assert cli("topics", "create", env=env).returncode == 0

        down = cli("dev", "down", env=env)
        assert down.returncode == 0, down.stderr
        assert not kafka_layout(settings).pid_file.exists()
        assert not redis_layout(settings).pid_file.exists()
        assert cli("dev", "status", env=env).returncode == 1

        again = cli("dev", "up", env=env)  # restart on the formatted storage: topics survive
        assert again.returncode == 0 and "formatting storage" not in again.stdout, again.stdout
        counts = partition_counts(settings, ["private.orders", "private.config"])
        assert counts == {"private.orders": 2, "private.config": 1}
    finally:
        cli("dev", "down", env=env)
    assert not local.status(settings).kafka.up
    # the shared session stack was never touched
    assert local.status().ok


def test_plan_matches_settings_partitions(isolated_settings: Settings) -> None:
    plans = {p.name: p.partitions for p in plan_topics(isolated_settings)}
    assert partition_counts(isolated_settings, list(plans)) == plans
