"""Pure rendering of the local stack's configuration from Settings (unit-tested, no I/O).

Kept apart from the launcher so the exact broker and Redis arguments can be checked without
starting anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from bundlestream.settings import Settings

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
    return "\n".join([
        "log4j.rootLogger=WARN, stdout",
        "log4j.appender.stdout=org.apache.log4j.ConsoleAppender",
        "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout",
        "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n",
        "log4j.logger.kafka.server.KafkaServer=INFO",
        "log4j.logger.kafka.server.BrokerServer=INFO",
        "log4j.logger.kafka.server.KafkaRaftServer=INFO",
        "",
    ])


def kafka_command(settings: Settings, java: str = "java") -> list[str]:
    layout = kafka_layout(settings)
    return [
        java, KAFKA_HEAP, "-XX:+UseG1GC", "-Djava.awt.headless=true",
        f"-Dlog4j.configuration=file:{layout.log4j_properties}",
        "-cp", f"{layout.libs}/*", "kafka.Kafka", str(layout.server_properties),
    ]


def redis_command(settings: Settings, redis_server: str) -> list[str]:
    """Loopback only, no persistence (Kafka is the system of record; Redis is rebuildable)."""
    endpoint = redis_endpoint(settings)
    layout = redis_layout(settings)
    return [
        redis_server,
        "--port", str(endpoint.port),
        "--bind", "127.0.0.1" if endpoint.host == "localhost" else endpoint.host,
        "--save", "",
        "--appendonly", "no",
        "--daemonize", "no",
        "--dir", str(layout.root),
        "--protected-mode", "yes",
    ]
