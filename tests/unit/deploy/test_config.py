"""The local stack's rendered configuration: ports, listeners, and the settings that matter."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import REPO_ROOT, Settings
from deploy.config import (
    Endpoint,
    kafka_command,
    kafka_endpoints,
    parse_hostport,
    redis_command,
    redis_endpoint,
    render_log4j_properties,
    render_server_properties,
)
from deploy.kafka_local import new_cluster_id
from tests.unit.deploy.properties import props


@pytest.mark.parametrize(
    "value, expected",
    [
        ("127.0.0.1:19092", Endpoint("127.0.0.1", 19092)),
        ("localhost:9093,otherhost:9094", Endpoint("localhost", 9093)),
        ("PLAINTEXT://127.0.0.1:29092", Endpoint("127.0.0.1", 29092)),
        ("kafka", Endpoint("kafka", 9092)),
        ("[::1]:9095", Endpoint("::1", 9095)),
    ],
)
def test_parse_hostport(value: str, expected: Endpoint) -> None:
    assert parse_hostport(value) == expected


@pytest.mark.parametrize("value", ["127.0.0.1:notaport", "127.0.0.1:70000", ""])
def test_parse_hostport_rejects_garbage(value: str) -> None:
    with pytest.raises(ValueError):
        parse_hostport(value)


def test_controller_port_is_next_port() -> None:
    broker, controller = kafka_endpoints(Settings(kafka_bootstrap="127.0.0.1:24000"))
    assert (broker.port, controller.port) == (24000, 24001)
    assert broker.host == controller.host == "127.0.0.1"


def test_server_properties_from_settings(tmp_path: Path) -> None:
    s = Settings(kafka_bootstrap="127.0.0.1:24000", cache_dir=tmp_path, partitions=6)
    p = props(render_server_properties(s))
    assert p["process.roles"] == "broker,controller"
    assert p["node.id"] == "1"
    assert p["controller.quorum.voters"] == "1@127.0.0.1:24001"
    assert p["listeners"] == "PLAINTEXT://127.0.0.1:24000,CONTROLLER://127.0.0.1:24001"
    assert p["advertised.listeners"] == "PLAINTEXT://127.0.0.1:24000"
    assert p["controller.listener.names"] == "CONTROLLER"
    assert p["log.dirs"] == str(tmp_path / "kafka" / "data")
    # an auto-created 1-partition topic breaks Faust co-partitioning (PartitionsMismatch)
    assert p["auto.create.topics.enable"] == "false"
    assert p["offsets.topic.replication.factor"] == "1"
    assert p["transaction.state.log.replication.factor"] == "1"
    assert p["transaction.state.log.min.isr"] == "1"
    assert p["group.initial.rebalance.delay.ms"] == "0"


def test_everything_listens_on_loopback_by_default() -> None:
    s = Settings()
    p = props(render_server_properties(s))
    assert all("127.0.0.1" in listener for listener in p["listeners"].split(","))
    cmd = redis_command(s, "redis-server")
    assert cmd[cmd.index("--bind") + 1] == "127.0.0.1"


def test_log4j_is_quiet() -> None:
    assert "log4j.rootLogger=WARN" in render_log4j_properties()


def test_kafka_command_uses_cache_layout(tmp_path: Path) -> None:
    cmd = kafka_command(Settings(cache_dir=tmp_path), java="/usr/bin/java")
    assert cmd[0] == "/usr/bin/java"
    assert cmd[-2:] == ["kafka.Kafka", str(tmp_path / "kafka" / "server.properties")]
    assert f"{tmp_path / 'kafka' / 'libs'}/*" in cmd
    assert f"-Dlog4j.configuration=file:{tmp_path / 'kafka' / 'log4j.properties'}" in cmd


def test_redis_endpoint_and_command(tmp_path: Path) -> None:
    s = Settings(redis_url="redis://127.0.0.1:23456/3", cache_dir=tmp_path)
    assert redis_endpoint(s) == Endpoint("127.0.0.1", 23456)
    cmd = redis_command(s, "/usr/bin/redis-server")
    assert cmd[cmd.index("--port") + 1] == "23456"
    assert cmd[cmd.index("--save") + 1] == ""  # no RDB snapshots: Redis is rebuildable from Kafka
    assert cmd[cmd.index("--dir") + 1] == str(tmp_path / "redis")
    assert redis_endpoint(Settings(redis_url="redis://localhost/0")) == Endpoint("localhost", 6379)


def test_redis_endpoint_rejects_tls_url() -> None:
    with pytest.raises(ValueError):
        redis_endpoint(Settings(redis_url="rediss://127.0.0.1:6380/0"))


def test_cluster_id_shape() -> None:
    for _ in range(200):
        cid = new_cluster_id()
        assert len(cid) == 22 and not cid.startswith("-")
        assert set(cid) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_pom_pins_kafka_391() -> None:
    pom = (REPO_ROOT / "deploy" / "kafka" / "pom.xml").read_text()
    assert "<kafka.version>3.9.1</kafka.version>" in pom
    assert "<artifactId>kafka_2.13</artifactId>" in pom
