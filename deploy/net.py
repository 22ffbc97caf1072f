"""Loopback port helpers shared by the launcher and the tests."""

from __future__ import annotations

import socket

from deploy.config import Endpoint


def port_open(endpoint: Endpoint, timeout_s: float = 0.5) -> bool:
    """True when something accepts TCP connections on ``endpoint``."""
    try:
        with socket.create_connection((endpoint.host, endpoint.port), timeout=timeout_s):
            return True
    except OSError:
        return False


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def free_port_pair(host: str = "127.0.0.1", attempts: int = 50) -> int:
    """A port P with P+1 also free (the local broker's client and controller listeners)."""
    for _ in range(attempts):
        port = free_port(host)
        if port < 65535 and not port_open(Endpoint(host, port + 1), 0.2):
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                    sock.bind((host, port + 1))
                return port
            except OSError:
                continue
    raise RuntimeError("no two adjacent free ports found")
