"""The local replicated cluster's rendered configuration, the CLI flag, and the replication settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import Settings
from deploy.config import (
    ClusterNode,
    ClusterSpec,
    Endpoint,
    cluster_node_command,
    cluster_spec,
    render_cluster_node_properties,
)
from deploy.topics_admin import plan_topics, replication_config
from tests.unit.deploy.properties import props


def test_dev_cluster_takes_consecutive_port_pairs_from_the_bootstrap_port(tmp_path: Path) -> None:
    spec = cluster_spec(
        Settings(kafka_bootstrap="127.0.0.1:24000", cache_dir=tmp_path, partitions=6), 3
    )
    assert [(n.node_id, n.client.port, n.controller.port) for n in spec.nodes] == [
        (1, 24000, 24001),
        (2, 24002, 24003),
        (3, 24004, 24005),
    ]
    assert spec.bootstrap == "127.0.0.1:24000,127.0.0.1:24002,127.0.0.1:24004"
    assert spec.quorum_voters == "1@127.0.0.1:24001,2@127.0.0.1:24003,3@127.0.0.1:24005"
    # beside the single broker's folder, sharing its Maven-resolved jars
    assert spec.root == tmp_path / "kafka-cluster"
    assert spec.libs == tmp_path / "kafka" / "libs"
    assert (spec.replication_factor, spec.min_insync_replicas) == (3, 2)


def test_every_node_votes_and_replicates_internal_topics(tmp_path: Path) -> None:
    spec = cluster_spec(
        Settings(kafka_bootstrap="127.0.0.1:24000", cache_dir=tmp_path, partitions=6), 3
    )
    rendered = [props(render_cluster_node_properties(spec, node)) for node in spec.nodes]
    assert [p["node.id"] for p in rendered] == ["1", "2", "3"]
    for node, p in zip(spec.nodes, rendered):
        assert p["process.roles"] == "broker,controller"
        assert p["controller.quorum.voters"] == spec.quorum_voters
        assert p["listeners"] == f"PLAINTEXT://{node.client},CONTROLLER://{node.controller}"
        assert p["advertised.listeners"] == f"PLAINTEXT://{node.client}"
        assert p["log.dirs"] == str(spec.root / f"node-{node.node_id}" / "data")
        assert p["auto.create.topics.enable"] == "false"
        assert p["default.replication.factor"] == "3"
        assert p["min.insync.replicas"] == "2"
        assert p["offsets.topic.replication.factor"] == "3"
        assert p["transaction.state.log.replication.factor"] == "3"
        assert p["transaction.state.log.min.isr"] == "2"
        assert p["unclean.leader.election.enable"] == "false"
        assert p["num.partitions"] == "6"
    assert len({p["log.dirs"] for p in rendered}) == 3


def test_node_command_has_a_small_heap_and_its_own_config(tmp_path: Path) -> None:
    spec = cluster_spec(Settings(cache_dir=tmp_path), 3)
    node = spec.nodes[1]
    cmd = cluster_node_command(spec, node, java="/usr/bin/java")
    assert cmd[0] == "/usr/bin/java" and "-Xmx384m" in cmd
    assert cmd[-2:] == ["kafka.Kafka", str(spec.root / "node-2" / "server.properties")]
    assert f"{spec.libs}/*" in cmd


@pytest.mark.parametrize("count", [1, 2, 4])
def test_a_cluster_needs_an_odd_quorum_of_three_or_more(count: int, tmp_path: Path) -> None:
    nodes = tuple(
        ClusterNode(
            i + 1, Endpoint("127.0.0.1", 30000 + 2 * i), Endpoint("127.0.0.1", 30001 + 2 * i)
        )
        for i in range(count)
    )
    with pytest.raises(ValueError):
        ClusterSpec(nodes, tmp_path, tmp_path / "libs", 4)


def test_nodes_may_not_share_ports(tmp_path: Path) -> None:
    a = ClusterNode(1, Endpoint("127.0.0.1", 30000), Endpoint("127.0.0.1", 30001))
    b = ClusterNode(2, Endpoint("127.0.0.1", 30002), Endpoint("127.0.0.1", 30001))
    c = ClusterNode(3, Endpoint("127.0.0.1", 30004), Endpoint("127.0.0.1", 30005))
    with pytest.raises(ValueError, match="share ports"):
        ClusterSpec((a, b, c), tmp_path, tmp_path / "libs", 4)


def test_five_nodes_still_keep_three_replicas(tmp_path: Path) -> None:
    spec = cluster_spec(Settings(cache_dir=tmp_path), 5)
    assert (spec.replication_factor, spec.min_insync_replicas) == (3, 2)
    assert len(spec.quorum_voters.split(",")) == 5


@pytest.mark.parametrize(
    "replication, explicit, effective",
    [
        (1, None, 1),
        (2, None, 1),
        (3, None, 2),
        (5, None, 4),
        (3, 3, 3),
        (3, 1, 1),
    ],
)
def test_min_insync_replicas_defaults_to_one_less_than_the_replicas(
    replication: int, explicit: int | None, effective: int
) -> None:
    settings = Settings(replication_factor=replication, min_insync_replicas=explicit)
    assert settings.effective_min_insync_replicas == effective
    assert replication_config(settings) == {"min.insync.replicas": str(effective)}


def test_min_insync_replicas_above_the_replicas_is_refused() -> None:
    with pytest.raises(ValueError, match="min_insync_replicas"):
        Settings(replication_factor=3, min_insync_replicas=4)


def test_every_planned_topic_carries_replication_and_min_isr() -> None:
    plans = plan_topics(Settings(topic_prefix="px", replication_factor=3))
    assert plans and all(
        p.replication == 3 and p.config["min.insync.replicas"] == "2" for p in plans
    )


def test_faust_created_topics_get_min_isr_but_a_table_may_override(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from agents import transport
    from core import settings as settings_module

    monkeypatch.setattr(
        transport, "get_settings", lambda: settings_module.Settings(replication_factor=3)
    )
    assert transport.with_replication_config(None) == {"min.insync.replicas": "2"}
    assert transport.with_replication_config({"cleanup.policy": "compact"}) == {
        "min.insync.replicas": "2",
        "cleanup.policy": "compact",
    }
    assert transport.with_replication_config({"min.insync.replicas": "3"}) == {
        "min.insync.replicas": "3"
    }


def test_worker_producer_always_needs_all_in_sync_replicas() -> None:
    from agents.transport import DurableProducer, LowLatencyTransport

    assert LowLatencyTransport.Producer is DurableProducer

    class NoTransactions:
        in_transaction = False

    producer = DurableProducer.__new__(DurableProducer)
    producer.app = NoTransactions()  # type: ignore[assignment]
    assert producer._settings_extra()["acks"] == "all"


def test_cli_accepts_brokers_and_prints_the_cluster_env(tmp_path: Path) -> None:
    import argparse

    from deploy import cli

    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    assert parser.parse_args(["dev", "up"]).brokers == 1
    assert parser.parse_args(["dev", "up", "--brokers", "3"]).brokers == 3
    with pytest.raises(SystemExit):
        parser.parse_args(["dev", "up", "--brokers", "2"])
    env = cli.cluster_env(Settings(kafka_bootstrap="127.0.0.1:24000", cache_dir=tmp_path), 3)
    assert env == {
        "BUNDLESTREAM_KAFKA_BOOTSTRAP": "127.0.0.1:24000,127.0.0.1:24002,127.0.0.1:24004",
        "BUNDLESTREAM_REPLICATION_FACTOR": "3",
        "BUNDLESTREAM_MIN_INSYNC_REPLICAS": "2",
    }
    clustered = cli.cluster_settings(
        Settings(kafka_bootstrap="127.0.0.1:24000", cache_dir=tmp_path), 3
    )
    assert clustered.replication_factor == 3 and clustered.effective_min_insync_replicas == 2


def test_status_without_a_cluster_marker_is_the_single_broker(tmp_path: Path) -> None:
    from deploy import local

    assert local.cluster_brokers(Settings(cache_dir=tmp_path)) is None
    (tmp_path / "kafka-cluster").mkdir()
    (tmp_path / "kafka-cluster" / "brokers").write_text("3\n")
    assert local.cluster_brokers(Settings(cache_dir=tmp_path)) == 3


def test_dev_up_cluster_writes_nothing_when_a_port_belongs_to_another_program(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broker already on the first port (the shared single broker) must stay untouched, and no
    cluster marker may appear: `dev status`/`dev down` of everyone would then look for a cluster."""
    import socket

    from deploy import kafka_local, local, redis_local
    from deploy.errors import StackError

    libs = tmp_path / "kafka" / "libs"
    libs.mkdir(parents=True)
    (libs / "kafka_2.13-3.9.1.jar").write_bytes(b"")
    monkeypatch.setattr(kafka_local, "resolve_jars", lambda settings, log=print: libs)
    monkeypatch.setattr(
        redis_local, "start", lambda *a, **k: pytest.fail("redis started before the checks")
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = Settings(
            kafka_bootstrap=f"127.0.0.1:{taken.getsockname()[1]}", cache_dir=tmp_path
        )
        with pytest.raises(StackError, match="taken by another program"):
            local.up(settings, log=lambda line: None, brokers=3)
    assert local.cluster_brokers(settings) is None
    assert not (tmp_path / "kafka-cluster").exists()


def test_a_process_started_through_a_symlinked_cache_is_still_ours(tmp_path: Path) -> None:
    """Worktrees see the shared cache through a symlink; checking the shared broker from one must
    neither call it stale nor delete its pid file."""
    import subprocess
    import sys

    from deploy import procs

    real = tmp_path / "real"
    (real / "kafka").mkdir(parents=True)
    (tmp_path / "link").symlink_to(real)
    config = real / "kafka" / "server.properties"
    config.write_text("")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", str(config)])
    try:
        pid_file = tmp_path / "link" / "kafka" / "kafka.pid"
        pid_file.write_text(f"{child.pid}\n")
        seen_through_link = tmp_path / "link" / "kafka" / "server.properties"
        assert procs.running_pid(pid_file, procs.path_markers(seen_through_link)) == child.pid
        assert pid_file.exists()
        assert (
            procs.running_pid(pid_file, str(tmp_path / "other.properties")) is None
        )  # stale: removed
        assert not pid_file.exists()
    finally:
        child.kill()
        child.wait()
