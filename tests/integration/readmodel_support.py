"""Small helpers shared by the Redis read-model tests (key bounds, outage)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tests.integration.harness import Worker

T = TypeVar("T")


async def wait_for_value(
    probe: Callable[[], Awaitable[T | None]],
    what: str,
    timeout_s: float,
    worker: Worker | None = None,
    every_s: float = 0.2,
) -> T:
    """Poll ``probe`` until it returns something other than None (bounded; the log tail on failure)."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        if worker is not None and not worker.alive():
            raise AssertionError(f"worker died while waiting for {what}:\n{worker.log_tail()}")
        last = await probe()
        if last is not None:
            return last
        await asyncio.sleep(every_s)
    tail = worker.log_tail(3000) if worker is not None else ""
    raise AssertionError(f"{what}: not within {timeout_s:.0f} s\n{tail}")
