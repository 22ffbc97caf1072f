"""The local stack (Kafka + Redis on loopback under ``settings.cache_dir``): up, down, status.

Every operation is idempotent and serialised by a lock file, so ``make test`` calling ``dev up``
and the test session's fixture calling it again never start two brokers.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bundlestream.settings import Settings, get_settings
from deploy import kafka_local, redis_local
from deploy.config import kafka_endpoints, redis_endpoint

Log = Callable[[str], None]


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    up: bool
    pid: int | None
    endpoint: str
    note: str = ""

    def line(self) -> str:
        state = "up" if self.up else "down"
        pid = f"pid {self.pid}" if self.pid is not None else ("external" if self.up else "no pid")
        return f"{self.name:<6}{state:<5} {self.endpoint:<22} {pid}" + (f"  ({self.note})" if self.note else "")


@dataclass(frozen=True)
class StackStatus:
    kafka: ServiceStatus
    redis: ServiceStatus

    @property
    def ok(self) -> bool:
        return self.kafka.up and self.redis.up

    def lines(self) -> list[str]:
        return [self.kafka.line(), self.redis.line()]


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


def up(settings: Settings | None = None, log: Log = print) -> StackStatus:
    """Start whatever is missing and wait until both answer; raises StackError with the reason."""
    settings = settings or get_settings()
    with _locked(settings):
        redis_pid, redis_note = redis_local.start(settings, log)
        kafka_pid, kafka_note = kafka_local.start(settings, log)
    return StackStatus(
        kafka=ServiceStatus("kafka", True, kafka_pid, str(kafka_endpoints(settings)[0]), kafka_note),
        redis=ServiceStatus("redis", True, redis_pid, str(redis_endpoint(settings)), redis_note),
    )


def down(settings: Settings | None = None, log: Log = print) -> None:
    """Stop what we started (SIGTERM, then SIGKILL) and remove the pid files; data stays."""
    settings = settings or get_settings()
    with _locked(settings):
        if not kafka_local.stop(settings, log):
            log("kafka: not running")
        if not redis_local.stop(settings, log):
            log("redis: not running")


def status(settings: Settings | None = None) -> StackStatus:
    """What runs now, checked for real: a metadata round trip to Kafka and a PING to Redis."""
    settings = settings or get_settings()
    kafka_pid = kafka_local.running_pid(settings)
    redis_pid = redis_local.running_pid(settings)
    kafka_up = kafka_local.is_ready(settings)
    redis_up = redis_local.ping(settings)
    kafka_note = "" if kafka_up or kafka_pid is None else "process runs but does not answer yet"
    redis_note = "" if redis_up or redis_pid is None else "process runs but does not answer PING"
    return StackStatus(
        kafka=ServiceStatus("kafka", kafka_up, kafka_pid, str(kafka_endpoints(settings)[0]), kafka_note),
        redis=ServiceStatus("redis", redis_up, redis_pid, str(redis_endpoint(settings)), redis_note),
    )
