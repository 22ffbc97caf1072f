"""A replicated Kafka cluster on this machine: N KRaft nodes (broker+controller each) on loopback.

The nodes run the same Maven-resolved jars as the single broker (``deploy.kafka_local``); each has
its own ports, data dir, pid file and log under ``spec.root``. Besides starting and stopping the
whole cluster, single nodes can be killed and restarted: that is how the cluster tests lose a
broker on purpose.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping

from deploy import procs
from deploy.aio import run_sync
from deploy.config import (
    ClusterNode,
    ClusterSpec,
    cluster_node_command,
    render_cluster_node_properties,
    render_log4j_properties,
)
from deploy.errors import StackError
from deploy.kafka_local import new_cluster_id
from deploy.net import port_open

READY_TIMEOUT_S = 120.0
Log = Callable[[str], None]


def running_pid(spec: ClusterSpec, node: ClusterNode) -> int | None:
    """The node's pid; the marker (its own server.properties path) rules out any other JVM."""
    return procs.running_pid(spec.pid_file(node), procs.path_markers(spec.server_properties(node)))


def running_pids(spec: ClusterSpec) -> dict[int, int | None]:
    return {node.node_id: running_pid(spec, node) for node in spec.nodes}


def write_configs(spec: ClusterSpec) -> None:
    spec.root.mkdir(parents=True, exist_ok=True)
    spec.log4j_properties.write_text(render_log4j_properties())
    for node in spec.nodes:
        spec.node_dir(node).mkdir(parents=True, exist_ok=True)
        spec.server_properties(node).write_text(render_cluster_node_properties(spec, node))


def _cluster_id(spec: ClusterSpec) -> str:
    if spec.cluster_id_file.exists():
        return spec.cluster_id_file.read_text().strip()
    cluster_id = new_cluster_id()
    spec.cluster_id_file.write_text(cluster_id + "\n")
    return cluster_id


def format_storage(spec: ClusterSpec, java: str, log: Log = print) -> None:
    """Format every unformatted node with the one cluster id (in parallel: a JVM start each)."""
    todo = [n for n in spec.nodes if not (spec.data_dir(n) / "meta.properties").exists()]
    if not todo:
        return
    cluster_id = _cluster_id(spec)
    log(
        f"kafka cluster: formatting {len(todo)} node(s) under {spec.root} (cluster id {cluster_id})"
    )
    running = [
        (
            node,
            subprocess.Popen(
                [
                    java,
                    "-Xmx128m",
                    f"-Dlog4j.configuration=file:{spec.log4j_properties}",
                    "-cp",
                    f"{spec.libs}/*",
                    "kafka.tools.StorageTool",
                    "format",
                    "--ignore-formatted",
                    "-t",
                    cluster_id,
                    "-c",
                    str(spec.server_properties(node)),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
            ),
        )
        for node in todo
    ]
    failures = []
    for node, proc in running:
        out, _ = proc.communicate(timeout=120)
        if proc.returncode != 0:
            failures.append(f"node {node.node_id}: {out}")
    if failures:
        raise StackError("kafka storage format failed:\n" + "\n".join(failures))


async def _broker_ids(bootstrap: str, timeout_s: float) -> set[int]:
    """Broker ids the cluster's metadata lists (KRaft lists registered, unfenced brokers only)."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000)
    )
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        cluster = await asyncio.wait_for(admin.describe_cluster(), timeout_s)
        return {int(b["node_id"]) for b in cluster.get("brokers", [])}
    except Exception:
        return set()
    finally:
        with contextlib.suppress(Exception):
            await admin.close()


def broker_ids(spec: ClusterSpec, timeout_s: float = 3.0) -> set[int]:
    """Registered brokers as seen through any node that accepts connections (empty if none)."""
    alive = [str(n.client) for n in spec.nodes if port_open(n.client)]
    if not alive:
        return set()
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    return run_sync(_broker_ids(",".join(alive), timeout_s))


def node_serves(spec: ClusterSpec, node: ClusterNode, timeout_s: float = 3.0) -> bool:
    """The node itself answers a metadata request that lists it as a broker.

    Asking the node directly matters after a restart: the others still list a killed broker
    until its session times out, but only the new process can answer on its own port.
    """
    if not port_open(node.client):
        return False
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    return node.node_id in run_sync(_broker_ids(str(node.client), timeout_s))


def wait_brokers(
    spec: ClusterSpec, pids: Mapping[int, int], timeout_s: float = READY_TIMEOUT_S
) -> float:
    """Until every node in ``pids`` ({node id: pid}) serves as a registered broker; seconds waited.

    Fails fast when one of those processes exited. The check is by pid alone: right after the
    spawn, the child can still carry our own command line (fork done, exec not yet), so the
    command-line marker would call a starting node dead.
    """
    wanted = set(pids)
    started = time.monotonic()
    deadline = started + timeout_s
    seen: set[int] = set()
    while time.monotonic() < deadline:
        for node in spec.nodes:
            if node.node_id in wanted and not procs.is_alive(pids[node.node_id]):
                raise StackError(
                    f"kafka node {node.node_id} exited during start-up; last lines of "
                    f"{spec.log_file(node)}:\n" + procs.tail(spec.log_file(node))
                )
        seen = {
            node.node_id
            for node in spec.nodes
            if node.node_id in wanted and node_serves(spec, node)
        }
        if wanted <= seen:
            return time.monotonic() - started
        time.sleep(0.5)
    raise StackError(
        f"kafka cluster: brokers {sorted(wanted - seen)} not registered after {timeout_s:.0f} s "
        f"(seen {sorted(seen)}); logs under {spec.root}"
    )


def _spawn(spec: ClusterSpec, node: ClusterNode, java: str) -> int:
    proc = procs.spawn_detached(
        cluster_node_command(spec, node, java),
        spec.log_file(node),
        spec.pid_file(node),
        cwd=spec.node_dir(node),
    )
    return proc.pid


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise StackError(
            "java is not on PATH; Kafka 3.9 needs a JDK 17 "
            "(Debian: apt-get install -y openjdk-17-jdk-headless)."
        )
    return java


def preflight(spec: ClusterSpec) -> dict[int, int | None]:
    """Check before touching anything: jars present, and each port free or held by our own node.

    Returns the running pids (None for nodes still to start).
    """
    if not any(spec.libs.glob("kafka_2.13-*.jar")):
        raise StackError(
            f"no Kafka jars in {spec.libs}; `bundlestream dev up` resolves them with Maven"
        )
    pids = running_pids(spec)
    for node in spec.nodes:
        if pids[node.node_id] is None:
            for endpoint in (node.client, node.controller):
                if port_open(endpoint):
                    raise StackError(
                        f"port {endpoint} of kafka node {node.node_id} is taken by another "
                        "program (a single-node broker? stop it with `bundlestream dev down`, "
                        "or set BUNDLESTREAM_KAFKA_BOOTSTRAP to another base port)"
                    )
    return pids


def start(
    spec: ClusterSpec, log: Log = print, timeout_s: float = READY_TIMEOUT_S
) -> dict[int, int]:
    """Start every node not running yet and wait until all are registered brokers.

    Returns {node id: pid}. A port taken by a program that is not our node is an error naming it:
    a half-foreign cluster would elect nothing.
    """
    pids = preflight(spec)
    java = _java()
    write_configs(spec)
    format_storage(spec, java, log)
    for node in spec.nodes:
        if pids[node.node_id] is None:
            log(
                f"kafka cluster: starting node {node.node_id} on {node.client} "
                f"(controller {node.controller}), log {spec.log_file(node)}"
            )
            pids[node.node_id] = _spawn(spec, node, java)
    started = {k: v for k, v in pids.items() if v is not None}
    waited = wait_brokers(spec, started, timeout_s)
    log(
        f"kafka cluster: {len(spec.nodes)} brokers registered after {waited:.1f} s; bootstrap {spec.bootstrap}"
    )
    return started


def start_node(
    spec: ClusterSpec,
    node_id: int,
    log: Log = print,
    wait: bool = True,
    timeout_s: float = READY_TIMEOUT_S,
) -> int:
    """(Re)start one formatted node on its existing data; with ``wait``, until it is registered."""
    node = spec.node(node_id)
    pid = running_pid(spec, node)
    if pid is None:
        log(f"kafka cluster: starting node {node_id}")
        pid = _spawn(spec, node, _java())
    if wait:
        wait_brokers(spec, {node_id: pid}, timeout_s)
    return pid


def kill_node(spec: ClusterSpec, node_id: int, log: Log = print) -> bool:
    """``kill -9`` one node: no controlled shutdown, no flush. True if it was running."""
    node = spec.node(node_id)
    pid = running_pid(spec, node)
    if pid is None:
        return False
    os.kill(pid, signal.SIGKILL)
    for _ in range(100):
        procs._reap(pid)
        if not procs.is_alive(pid):
            break
        time.sleep(0.05)
    spec.pid_file(node).unlink(missing_ok=True)
    log(f"kafka cluster: killed node {node_id} (pid {pid})")
    return True


def stop(spec: ClusterSpec, log: Log = print, term_timeout_s: float = 30.0) -> list[int]:
    """Stop every node at once (SIGTERM; SIGKILL after ``term_timeout_s``). Returns stopped ids.

    All nodes get the signal together: stopped one by one, the last ones would lose their
    controller quorum and wait for a controlled shutdown that can no longer be granted.
    """
    running = {node_id: pid for node_id, pid in running_pids(spec).items() if pid is not None}
    for pid in running.values():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + term_timeout_s
    left = dict(running)
    while left and time.monotonic() < deadline:
        for node_id, pid in list(left.items()):
            procs._reap(pid)
            if not procs.is_alive(pid):
                del left[node_id]
        time.sleep(0.1)
    for pid in left.values():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for pid in left.values():
        for _ in range(50):
            procs._reap(pid)
            if not procs.is_alive(pid):
                break
            time.sleep(0.1)
    for node_id in running:
        spec.pid_file(spec.node(node_id)).unlink(missing_ok=True)
        log(
            f"kafka cluster: stopped node {node_id} (pid {running[node_id]})"
            + (" (SIGKILL)" if node_id in left else "")
        )
    return sorted(running)
