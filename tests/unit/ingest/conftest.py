"""Fixtures for the ingest tests."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest


@pytest.fixture(params=[True, False], ids=["caller-gc-on", "caller-gc-off"])
def caller_gc(request: pytest.FixtureRequest) -> Iterator[bool]:
    """The cyclic GC on, then off, as the caller left it; restored afterwards."""
    was = gc.isenabled()
    (gc.enable if request.param else gc.disable)()
    yield request.param
    (gc.enable if was else gc.disable)()
