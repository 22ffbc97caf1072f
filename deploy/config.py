"""Pure rendering of the local stack's configuration from Settings (unit-tested, no I/O).

Kept apart from the launcher so the exact broker and Redis arguments can be checked without
starting anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from core.settings import Settings

KAFKA_HEAP = "-Xmx512m"


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_hostport(value: str, default_port: int = 9092) -> Endpoint:
    """The first endpoint of a bootstrap list ("host:port[,host:port]", optional scheme or [ipv6])."""
    first = value.split(",")[0].strip()
    if "://" in first:
        first = first.split("://", 1)[1]
    if not first:
        raise ValueError(f"empty endpoint in {value!r}")
    if first.startswith("["):  # [::1]:9092
        host, _, rest = first[1:].partition("]")
        port_text = rest.lstrip(":")
    elif first.count(":") == 1:
        host, port_text = first.split(":")
    else:
        host, port_text = first, ""
    try:
        port = int(port_text) if port_text else default_port
    except ValueError:
        raise ValueError(f"bad port in endpoint {value!r}") from None
    if not 0 < port < 65536:
        raise ValueError(f"port out of range in endpoint {value!r}")
    return Endpoint(host or "127.0.0.1", port)


@dataclass(frozen=True)
class KafkaLayout:
    """Where the local broker keeps everything, all under ``cache_dir/kafka``."""

    root: Path

    @property
    def libs(self) -> Path:
        return self.root / "libs"

    @property
    def libs_marker(self) -> Path:
        return self.libs / ".complete"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def server_properties(self) -> Path:
        return self.root / "server.properties"

    @property
    def log4j_properties(self) -> Path:
        return self.root / "log4j.properties"

    @property
    def pid_file(self) -> Path:
        return self.root / "kafka.pid"

    @property
    def log_file(self) -> Path:
        return self.root / "kafka.log"

    @property
    def cluster_id_file(self) -> Path:
        return self.root / "cluster.id"


@dataclass(frozen=True)
class RedisLayout:
    root: Path

    @property
    def pid_file(self) -> Path:
        return self.root / "redis.pid"

    @property
    def log_file(self) -> Path:
        return self.root / "redis.log"


def kafka_layout(settings: Settings) -> KafkaLayout:
    return KafkaLayout(Path(settings.cache_dir) / "kafka")


def redis_layout(settings: Settings) -> RedisLayout:
    return RedisLayout(Path(settings.cache_dir) / "redis")


def kafka_endpoints(settings: Settings) -> tuple[Endpoint, Endpoint]:
    """(client listener, controller listener): the controller takes the next port up."""
    broker = parse_hostport(settings.kafka_bootstrap)
    if broker.port >= 65535:
        raise ValueError(f"no room for the controller port above {broker.port}")
    return broker, Endpoint(broker.host, broker.port + 1)


def redis_endpoint(settings: Settings) -> Endpoint:
    url = urlparse(settings.redis_url)
    if url.scheme not in ("redis", ""):
        raise ValueError(f"local Redis needs a redis:// URL, got {settings.redis_url!r}")
    return Endpoint(url.hostname or "127.0.0.1", url.port or 6379)


def render_server_properties(settings: Settings) -> str:
    """Single-node KRaft broker+controller on loopback; topics are never auto-created.

    Auto-creation is off on purpose: a topic auto-created with one partition breaks Faust's
    co-partitioning check (PartitionsMismatch); ``bundlestream topics create`` makes them.
    """
    broker, controller = kafka_endpoints(settings)
    layout = kafka_layout(settings)
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{controller}",
        "listeners": f"PLAINTEXT://{broker},CONTROLLER://{controller}",
        "advertised.listeners": f"PLAINTEXT://{broker}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(layout.data),
        "auto.create.topics.enable": "false",
        "delete.topic.enable": "true",
        "num.partitions": str(settings.partitions),
        "default.replication.factor": "1",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "log.retention.check.interval.ms": "60000",
        "num.network.threads": "2",
        "num.io.threads": "4",
    }
    lines = ["# Written by bundlestream dev up from Settings; edits are overwritten."]
    lines += [f"{key}={value}" for key, value in props.items()]
    return "\n".join(lines) + "\n"


def render_log4j_properties() -> str:
    """Quiet broker logs (WARN) except the lines that say it started or stopped."""
    return "\n".join(
        [
            "log4j.rootLogger=WARN, stdout",
            "log4j.appender.stdout=org.apache.log4j.ConsoleAppender",
            "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout",
            "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n",
            "log4j.logger.kafka.server.KafkaServer=INFO",
            "log4j.logger.kafka.server.BrokerServer=INFO",
            "log4j.logger.kafka.server.KafkaRaftServer=INFO",
            "",
        ]
    )


def kafka_command(settings: Settings, java: str = "java") -> list[str]:
    layout = kafka_layout(settings)
    return [
        java,
        KAFKA_HEAP,
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j.configuration=file:{layout.log4j_properties}",
        "-cp",
        f"{layout.libs}/*",
        "kafka.Kafka",
        str(layout.server_properties),
    ]


def redis_command(settings: Settings, redis_server: str) -> list[str]:
    """Loopback only, no persistence (Kafka is the system of record; Redis is rebuildable)."""
    endpoint = redis_endpoint(settings)
    layout = redis_layout(settings)
    return [
        redis_server,
        "--port",
        str(endpoint.port),
        "--bind",
        "127.0.0.1" if endpoint.host == "localhost" else endpoint.host,
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--dir",
        str(layout.root),
        "--protected-mode",
        "yes",
    ]


# --------------------------------------------------------------------------------------------
# A replicated cluster on one machine: N combined broker+controller nodes on loopback
# --------------------------------------------------------------------------------------------

CLUSTER_NODE_HEAP = "-Xmx384m"
# Above this many nodes, replicas per partition stay at 3 (more copies buy nothing on one disk).
MAX_CLUSTER_REPLICATION = 3


@dataclass(frozen=True)
class ClusterNode:
    """One KRaft node: a broker and a controller in one JVM, each on its own loopback port."""

    node_id: int
    client: Endpoint
    controller: Endpoint


@dataclass(frozen=True)
class ClusterSpec:
    """Everything needed to render, start and address a local N-node cluster (pure data).

    ``root`` holds one folder per node (config, data, pid, log); ``libs`` is the same
    Maven-resolved jar folder the single broker uses, so both run the identical Kafka.
    """

    nodes: tuple[ClusterNode, ...]
    root: Path
    libs: Path
    partitions: int
    heap: str = CLUSTER_NODE_HEAP

    def __post_init__(self) -> None:
        if len(self.nodes) < 3 or len(self.nodes) % 2 == 0:
            # one or two controllers cannot lose a node and keep a quorum
            raise ValueError(f"a cluster needs an odd number of nodes >= 3, got {len(self.nodes)}")
        ports = [e.port for n in self.nodes for e in (n.client, n.controller)]
        if len(set(ports)) != len(ports):
            raise ValueError(f"cluster nodes share ports: {ports}")

    @property
    def replication_factor(self) -> int:
        return min(len(self.nodes), MAX_CLUSTER_REPLICATION)

    @property
    def min_insync_replicas(self) -> int:
        """A write survives the loss of any one broker, and needs a majority of replicas."""
        return self.replication_factor - 1

    @property
    def bootstrap(self) -> str:
        return ",".join(str(node.client) for node in self.nodes)

    @property
    def quorum_voters(self) -> str:
        return ",".join(f"{node.node_id}@{node.controller}" for node in self.nodes)

    @property
    def cluster_id_file(self) -> Path:
        return self.root / "cluster.id"

    @property
    def log4j_properties(self) -> Path:
        return self.root / "log4j.properties"

    def node(self, node_id: int) -> ClusterNode:
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        raise KeyError(f"no node {node_id} in this cluster ({[n.node_id for n in self.nodes]})")

    def node_dir(self, node: ClusterNode) -> Path:
        return self.root / f"node-{node.node_id}"

    def data_dir(self, node: ClusterNode) -> Path:
        return self.node_dir(node) / "data"

    def server_properties(self, node: ClusterNode) -> Path:
        return self.node_dir(node) / "server.properties"

    def pid_file(self, node: ClusterNode) -> Path:
        return self.node_dir(node) / "kafka.pid"

    def log_file(self, node: ClusterNode) -> Path:
        return self.node_dir(node) / "kafka.log"


def cluster_layout_root(settings: Settings) -> Path:
    """The dev cluster lives beside (never inside) the single broker's folder."""
    return Path(settings.cache_dir) / "kafka-cluster"


def cluster_spec(settings: Settings, brokers: int) -> ClusterSpec:
    """The dev cluster: node i (1-based) listens on base+2(i-1), its controller one port up.

    The base is the first port of ``kafka_bootstrap``, so the cluster takes the single broker's
    place (19092...) and clients only add the other nodes to their bootstrap list.
    """
    base = parse_hostport(settings.kafka_bootstrap)
    if base.port + 2 * brokers - 1 > 65535:
        raise ValueError(f"no room for {brokers} nodes above port {base.port}")
    nodes = tuple(
        ClusterNode(
            i + 1,
            Endpoint(base.host, base.port + 2 * i),
            Endpoint(base.host, base.port + 2 * i + 1),
        )
        for i in range(brokers)
    )
    return ClusterSpec(
        nodes, cluster_layout_root(settings), kafka_layout(settings).libs, settings.partitions
    )


def render_cluster_node_properties(spec: ClusterSpec, node: ClusterNode) -> str:
    """One node of a replicated KRaft cluster: every node votes, internal topics are replicated.

    Failure detection is tightened for one machine: a dead broker is fenced (and so dropped
    from every ISR) after 6 s instead of 9, and a follower that stops fetching leaves the ISR
    after 10 s instead of 30, so acks=all writes stall for seconds, not half a minute.
    Unclean leader election stays off: a replica that missed writes never becomes leader.
    """
    rf = spec.replication_factor
    props = {
        "process.roles": "broker,controller",
        "node.id": str(node.node_id),
        "controller.quorum.voters": spec.quorum_voters,
        "listeners": f"PLAINTEXT://{node.client},CONTROLLER://{node.controller}",
        "advertised.listeners": f"PLAINTEXT://{node.client}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(spec.data_dir(node)),
        "auto.create.topics.enable": "false",
        "delete.topic.enable": "true",
        "num.partitions": str(spec.partitions),
        "default.replication.factor": str(rf),
        "min.insync.replicas": str(spec.min_insync_replicas),
        "offsets.topic.replication.factor": str(rf),
        # 10 instead of 50 offsets partitions: a broker restarted after kill -9 recovers every
        # log it holds before it serves, and on one machine those were most of its logs.
        "offsets.topic.num.partitions": "10",
        "num.recovery.threads.per.data.dir": "2",
        "transaction.state.log.replication.factor": str(rf),
        "transaction.state.log.min.isr": str(spec.min_insync_replicas),
        "unclean.leader.election.enable": "false",
        "broker.session.timeout.ms": "6000",
        "replica.lag.time.max.ms": "10000",
        "group.initial.rebalance.delay.ms": "0",
        "log.retention.check.interval.ms": "60000",
        "num.network.threads": "2",
        "num.io.threads": "2",
        "num.replica.fetchers": "1",
        "background.threads": "2",
    }
    lines = ["# Written by bundlestream dev up --brokers from Settings; edits are overwritten."]
    lines += [f"{key}={value}" for key, value in props.items()]
    return "\n".join(lines) + "\n"


def cluster_node_command(spec: ClusterSpec, node: ClusterNode, java: str = "java") -> list[str]:
    return [
        # C1 only: N JVMs compiling hot code at once would starve a small machine at start-up
        java,
        spec.heap,
        "-XX:+UseG1GC",
        "-XX:ParallelGCThreads=1",
        "-XX:TieredStopAtLevel=1",
        "-Djava.awt.headless=true",
        f"-Dlog4j.configuration=file:{spec.log4j_properties}",
        "-cp",
        f"{spec.libs}/*",
        "kafka.Kafka",
        str(spec.server_properties(node)),
    ]
