"""Ports for listeners we start come from outside the kernel's ephemeral range."""

from __future__ import annotations

import socket
from pathlib import Path

from deploy.net import ephemeral_range, free_port, free_port_pair, listen_port_candidates


def test_listener_ports_never_fall_in_the_ephemeral_range() -> None:
    low, high = ephemeral_range()
    candidates = listen_port_candidates()
    assert candidates.stop - 1 < low or candidates.start > high
    for _ in range(20):
        assert not low <= free_port() <= high
        port = free_port_pair()
        assert not low <= port + 1 <= high


def test_a_pair_is_two_bindable_adjacent_ports() -> None:
    port = free_port_pair()
    with socket.socket() as a, socket.socket() as b:
        a.bind(("127.0.0.1", port))
        b.bind(("127.0.0.1", port + 1))


def test_an_unreadable_range_falls_back_to_the_linux_default(tmp_path: Path) -> None:
    assert ephemeral_range(str(tmp_path / "missing")) == (32_768, 60_999)
    broken = tmp_path / "range"
    broken.write_text("not numbers")
    assert ephemeral_range(str(broken)) == (32_768, 60_999)
