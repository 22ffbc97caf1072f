"""Loopback port helpers shared by the launcher and the tests."""

from __future__ import annotations

import random
import socket

from deploy.config import Endpoint


def port_open(endpoint: Endpoint, timeout_s: float = 0.5) -> bool:
    """True when something accepts TCP connections on ``endpoint``."""
    try:
        with socket.create_connection((endpoint.host, endpoint.port), timeout=timeout_s):
            return True
    except OSError:
        return False


# Where a listener we start gets its port: below the kernel's ephemeral range, so no outgoing
# connection on the machine can take the port between our check and the server's bind (a JVM
# takes seconds to bind; on a busy machine an ephemeral source port filled that gap).
LISTEN_PORTS = (20_000, 32_000)


def ephemeral_range(path: str = "/proc/sys/net/ipv4/ip_local_port_range") -> tuple[int, int]:
    try:
        with open(path) as fh:
            low, high = (int(v) for v in fh.read().split())
        return low, high
    except (OSError, ValueError):
        return 32_768, 60_999  # Linux's default


def listen_port_candidates() -> range:
    """Ports to try for a new listener: outside the ephemeral range."""
    low, high = ephemeral_range()
    start, stop = LISTEN_PORTS
    if low <= stop and start <= high:  # an unusual ephemeral range overlapping ours
        start, stop = (high + 1, 65_000) if high < 64_000 else (10_000, low - 1)
    return range(start, stop)


def _bindable(host: str, port: int) -> bool:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, port))
        return True
    except OSError:
        return False


def free_port(host: str = "127.0.0.1", attempts: int = 200) -> int:
    """A TCP port free on ``host`` right now, outside the ephemeral range."""
    candidates = listen_port_candidates()
    for _ in range(attempts):
        port = random.choice(candidates)
        if _bindable(host, port):
            return port
    raise RuntimeError(f"no free port in {candidates.start}-{candidates.stop - 1}")


def free_port_pair(host: str = "127.0.0.1", attempts: int = 200) -> int:
    """A port P with P+1 also free (the local broker's client and controller listeners)."""
    candidates = listen_port_candidates()
    for _ in range(attempts):
        port = random.choice(candidates[:-1])
        if _bindable(host, port) and _bindable(host, port + 1):
            return port
    raise RuntimeError("no two adjacent free ports found")
