"""The local single-node Kafka (KRaft) broker: jars from Maven Central, format, start, readiness.

Jars come from ``deploy/kafka/pom.xml`` through ``mvn dependency:copy-dependencies`` so the broker
is the real Apache Kafka without any download outside the package registries.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

from core.settings import Settings
from deploy import procs
from deploy.aio import run_sync
from deploy.config import (
    kafka_command,
    kafka_endpoints,
    kafka_layout,
    render_log4j_properties,
    render_server_properties,
)
from deploy.errors import StackError
from deploy.net import port_open

POM = Path(__file__).resolve().parent / "kafka" / "pom.xml"
READY_TIMEOUT_S = 90.0
Log = Callable[[str], None]


def _pom_digest() -> str:
    return hashlib.sha256(POM.read_bytes()).hexdigest()


def jars_complete(settings: Settings) -> bool:
    """The marker holds the pom's digest, so a changed pom (new version) resolves again."""
    layout = kafka_layout(settings)
    try:
        marker = layout.libs_marker.read_text().strip()
    except FileNotFoundError:
        return False
    return marker == _pom_digest() and any(layout.libs.glob("kafka_2.13-*.jar"))


def resolve_jars(settings: Settings, log: Log = print) -> Path:
    """Resolve the broker jars into ``cache_dir/kafka/libs`` (skipped when already complete)."""
    layout = kafka_layout(settings)
    if jars_complete(settings):
        return layout.libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError(
            "Maven (mvn) is not on PATH; it resolves the Kafka jars. Install it "
            "(Debian: apt-get install -y maven) or run .ci/run, which does."
        )
    layout.root.mkdir(parents=True, exist_ok=True)
    build = layout.root / "pom"
    build.mkdir(exist_ok=True)
    shutil.copy2(POM, build / "pom.xml")  # build in the cache, never in the source tree
    staging = layout.root / "libs.partial"
    shutil.rmtree(staging, ignore_errors=True)
    log(f"kafka: resolving jars with Maven into {layout.libs} (first run only)")
    result = subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(build / "pom.xml"),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={staging}",
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
        out = (result.stdout + result.stderr).strip().splitlines()[-30:]
        raise StackError(
            "mvn could not resolve the Kafka jars (is Maven Central reachable?):\n" + "\n".join(out)
        )
    (staging / ".complete").write_text(_pom_digest() + "\n")
    shutil.rmtree(layout.libs, ignore_errors=True)
    staging.rename(layout.libs)
    return layout.libs


def new_cluster_id() -> str:
    """A Kafka Uuid string (22-char url-safe base64); Kafka avoids a leading '-' so we do too."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def write_config(settings: Settings) -> None:
    layout = kafka_layout(settings)
    layout.root.mkdir(parents=True, exist_ok=True)
    layout.server_properties.write_text(render_server_properties(settings))
    layout.log4j_properties.write_text(render_log4j_properties())


def format_storage(settings: Settings, java: str, log: Log = print) -> None:
    """Format the KRaft log dir once; an existing meta.properties means it is done."""
    layout = kafka_layout(settings)
    if (layout.data / "meta.properties").exists():
        return
    if layout.cluster_id_file.exists():
        cluster_id = layout.cluster_id_file.read_text().strip()
    else:
        cluster_id = new_cluster_id()
        layout.cluster_id_file.write_text(cluster_id + "\n")
    log(f"kafka: formatting storage in {layout.data} (cluster id {cluster_id})")
    result = subprocess.run(
        [
            java,
            f"-Dlog4j.configuration=file:{layout.log4j_properties}",
            "-cp",
            f"{layout.libs}/*",
            "kafka.tools.StorageTool",
            "format",
            "--ignore-formatted",
            "-t",
            cluster_id,
            "-c",
            str(layout.server_properties),
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        raise StackError(f"kafka storage format failed:\n{result.stdout}{result.stderr}")


async def _metadata_ok(bootstrap: str, timeout_s: float) -> bool:
    """A real Metadata round trip that lists at least one (unfenced) broker."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000)
    )
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        cluster = await asyncio.wait_for(admin.describe_cluster(), timeout_s)
        return bool(cluster.get("brokers"))
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            await admin.close()


def is_ready(settings: Settings, timeout_s: float = 3.0) -> bool:
    broker, _ = kafka_endpoints(settings)
    if not port_open(broker):  # cheap, and keeps aiokafka from logging connection errors
        return False
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    return run_sync(_metadata_ok(str(broker), timeout_s))


def wait_ready(settings: Settings, pid: int | None) -> None:
    """Wait until the broker answers a metadata request; fail fast if the process died."""
    broker, _ = kafka_endpoints(settings)
    procs.wait_ready(
        "kafka",
        pid,
        lambda: is_ready(settings),
        kafka_layout(settings).log_file,
        timeout_s=READY_TIMEOUT_S,
        poll_s=0.5,
        silence=f"did not answer a metadata request on {broker}",
    )


def running_pid(settings: Settings) -> int | None:
    """Our broker's pid; the marker (our server.properties path) rules out any other broker."""
    layout = kafka_layout(settings)
    return procs.running_pid(layout.pid_file, procs.path_markers(layout.server_properties))


def start(settings: Settings, log: Log = print) -> tuple[int | None, str]:
    """Start the broker unless it runs already. Returns (pid or None if external, what happened)."""
    layout = kafka_layout(settings)
    broker, controller = kafka_endpoints(settings)
    pid = running_pid(settings)
    if pid is not None:
        wait_ready(settings, pid)
        return pid, "already running"
    if port_open(broker) or port_open(controller):
        if is_ready(settings):
            return None, f"a Kafka broker not started by us already answers on {broker}; using it"
        raise StackError(
            f"port {broker.port} or {controller.port} is taken by another program; "
            "set BUNDLESTREAM_KAFKA_BOOTSTRAP to a free host:port"
        )
    java = shutil.which("java")
    if java is None:
        raise StackError(
            "java is not on PATH; Kafka 3.9 needs a JDK 17 "
            "(Debian: apt-get install -y openjdk-17-jdk-headless)."
        )
    resolve_jars(settings, log)
    write_config(settings)
    format_storage(settings, java, log)
    log(f"kafka: starting broker on {broker} (controller {controller}), log {layout.log_file}")
    proc = procs.spawn_detached(
        kafka_command(settings, java), layout.log_file, layout.pid_file, cwd=layout.root
    )
    wait_ready(settings, proc.pid)
    return proc.pid, "started"


def stop(settings: Settings, log: Log = print) -> bool:
    """Stop our broker (SIGTERM: controlled shutdown; SIGKILL after 60 s). True if one ran."""
    return procs.stop_recorded(
        "kafka", running_pid(settings), kafka_layout(settings).pid_file, 60.0, log
    )
