"""The local stack (Kafka + Redis on loopback under ``settings.cache_dir``): up, down, status.

Kafka is either the single broker (the default: CI and the demo) or, with ``brokers`` > 1, a
replicated KRaft cluster on the same base port (``deploy.kafka_cluster``). A marker file records
which one ``up`` started, so ``down`` and ``status`` need no flag.

Every operation is idempotent and serialised by a lock file, so ``make test`` calling ``dev up``
and the test session's fixture calling it again never start two brokers.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from core.settings import Settings, get_settings
from deploy import kafka_cluster, kafka_local, redis_local
from deploy.config import (
    ClusterSpec,
    cluster_layout_root,
    cluster_spec,
    kafka_endpoints,
    redis_endpoint,
)
from deploy.errors import StackError

Log = Callable[[str], None]


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    up: bool
    pid: int | None
    endpoint: str
    note: str = ""
    aggregate: bool = False  # a whole cluster's line: its nodes have the pids

    def line(self) -> str:
        state = "up" if self.up else "down"
        pid = f"pid {self.pid}" if self.pid is not None else ("external" if self.up else "no pid")
        if self.aggregate:
            pid = "cluster"
        return f"{self.name:<6}{state:<5} {self.endpoint:<22} {pid}" + (
            f"  ({self.note})" if self.note else ""
        )


@dataclass(frozen=True)
class StackStatus:
    kafka: ServiceStatus
    redis: ServiceStatus
    kafka_nodes: tuple[ServiceStatus, ...] = ()  # one per node when a cluster runs

    @property
    def ok(self) -> bool:
        return self.kafka.up and self.redis.up and all(node.up for node in self.kafka_nodes)

    def lines(self) -> list[str]:
        return [self.kafka.line(), *(node.line() for node in self.kafka_nodes), self.redis.line()]


def _marker(settings: Settings) -> Path:
    return cluster_layout_root(settings) / "brokers"


def cluster_brokers(settings: Settings) -> int | None:
    """How many nodes the last ``up --brokers N`` started (None: the single broker is in use)."""
    try:
        return int(_marker(settings).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


@contextmanager
def _locked(settings: Settings) -> Iterator[None]:
    root = Path(settings.cache_dir)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".stack.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def up(settings: Settings | None = None, log: Log = print, brokers: int = 1) -> StackStatus:
    """Start whatever is missing and wait until both answer; raises StackError with the reason.

    ``brokers`` > 1 starts a replicated cluster instead of the single broker; the two never run
    side by side on one base port, so switching needs a ``down`` first.
    """
    settings = settings or get_settings()
    if brokers > 1:
        return _up_cluster(settings, log, brokers)
    with _locked(settings):
        running = cluster_brokers(settings)
        if running is not None and any(
            kafka_cluster.running_pids(cluster_spec(settings, running)).values()
        ):
            raise StackError(
                f"a {running}-node Kafka cluster runs from {cluster_layout_root(settings)}; "
                "stop it with `bundlestream dev down` before starting the single broker"
            )
        redis_pid, redis_note = redis_local.start(settings, log)
        kafka_pid, kafka_note = kafka_local.start(settings, log)
    return StackStatus(
        kafka=ServiceStatus(
            "kafka", True, kafka_pid, str(kafka_endpoints(settings)[0]), kafka_note
        ),
        redis=ServiceStatus("redis", True, redis_pid, str(redis_endpoint(settings)), redis_note),
    )


def _up_cluster(settings: Settings, log: Log, brokers: int) -> StackStatus:
    try:
        spec = cluster_spec(settings, brokers)
    except ValueError as exc:
        raise StackError(str(exc)) from None
    with _locked(settings):
        previous = cluster_brokers(settings)
        if previous not in (None, brokers) and any(
            kafka_cluster.running_pids(cluster_spec(settings, previous)).values()
        ):
            raise StackError(f"a {previous}-node cluster runs; `bundlestream dev down` first")
        if kafka_local.running_pid(settings) is not None:
            raise StackError(
                "the single-node Kafka broker runs on the cluster's first port; "
                "stop it with `bundlestream dev down` first"
            )
        kafka_local.resolve_jars(settings, log)
        kafka_cluster.preflight(spec)  # nothing is written while a port belongs to someone else
        redis_pid, redis_note = redis_local.start(settings, log)
        spec.root.mkdir(parents=True, exist_ok=True)
        _marker(settings).write_text(f"{brokers}\n")  # from here on, `dev down` finds the nodes
        pids = kafka_cluster.start(spec, log)
    nodes = tuple(
        ServiceStatus(f"kafka-{n.node_id}", True, pids.get(n.node_id), str(n.client))
        for n in spec.nodes
    )
    return StackStatus(
        kafka=ServiceStatus(
            "kafka", True, None, f"{brokers} brokers", f"bootstrap {spec.bootstrap}", aggregate=True
        ),
        redis=ServiceStatus("redis", True, redis_pid, str(redis_endpoint(settings)), redis_note),
        kafka_nodes=nodes,
    )


def down(settings: Settings | None = None, log: Log = print) -> None:
    """Stop what we started (SIGTERM, then SIGKILL) and remove the pid files; data stays."""
    settings = settings or get_settings()
    with _locked(settings):
        brokers = cluster_brokers(settings)
        if brokers is not None:
            if not kafka_cluster.stop(cluster_spec(settings, brokers), log):
                log("kafka cluster: not running")
            _marker(settings).unlink(missing_ok=True)
        if not kafka_local.stop(settings, log) and brokers is None:
            log("kafka: not running")
        if not redis_local.stop(settings, log):
            log("redis: not running")


def status(settings: Settings | None = None) -> StackStatus:
    """What runs now, checked for real: a metadata round trip to Kafka and a PING to Redis."""
    settings = settings or get_settings()
    brokers = cluster_brokers(settings)
    if brokers is not None:
        return _cluster_status(settings, cluster_spec(settings, brokers))
    kafka_pid = kafka_local.running_pid(settings)
    redis_pid = redis_local.running_pid(settings)
    kafka_up = kafka_local.is_ready(settings)
    redis_up = redis_local.ping(settings)
    kafka_note = "" if kafka_up or kafka_pid is None else "process runs but does not answer yet"
    redis_note = "" if redis_up or redis_pid is None else "process runs but does not answer PING"
    return StackStatus(
        kafka=ServiceStatus(
            "kafka", kafka_up, kafka_pid, str(kafka_endpoints(settings)[0]), kafka_note
        ),
        redis=ServiceStatus(
            "redis", redis_up, redis_pid, str(redis_endpoint(settings)), redis_note
        ),
    )


def _cluster_status(settings: Settings, spec: ClusterSpec) -> StackStatus:
    """Each node: its process, and whether the cluster's metadata lists it as a broker."""
    registered = kafka_cluster.broker_ids(spec)
    pids = kafka_cluster.running_pids(spec)
    nodes = []
    for node in spec.nodes:
        pid = pids[node.node_id]
        up = node.node_id in registered
        note = "" if up or pid is None else "process runs but is not a registered broker"
        nodes.append(ServiceStatus(f"kafka-{node.node_id}", up, pid, str(node.client), note))
    quorum = len(registered) > len(spec.nodes) // 2
    redis_pid = redis_local.running_pid(settings)
    redis_up = redis_local.ping(settings)
    return StackStatus(
        kafka=ServiceStatus(
            "kafka",
            quorum,
            None,
            f"{len(registered)}/{len(spec.nodes)} brokers",
            f"bootstrap {spec.bootstrap}",
            aggregate=True,
        ),
        redis=ServiceStatus(
            "redis",
            redis_up,
            redis_pid,
            str(redis_endpoint(settings)),
            "" if redis_up or redis_pid is None else "process runs but does not answer PING",
        ),
        kafka_nodes=tuple(nodes),
    )
