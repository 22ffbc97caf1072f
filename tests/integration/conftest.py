"""Integration fixtures: the real local Kafka + Redis, and per-test isolated topics.

The stack is started by the suite itself (``deploy.local.up``) and a failure to start it fails
the run loudly: an integration test that silently skips would hide a broken pipeline.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import Settings, get_settings
from deploy import local
from deploy.errors import StackError
from deploy.net import free_port, free_port_pair  # noqa: F401 - helpers for tests
from tests.integration.harness import Workers, isolated_topics

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test under tests/integration is marked ``integration`` (deselect with -m 'not integration')."""
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def stack() -> local.StackStatus:
    """Kafka and Redis up (started when missing); fails the session with the reason if not."""
    settings = get_settings()
    try:
        return local.up(settings, log=lambda line: print(f"[stack] {line}"))
    except StackError as exc:
        pytest.fail(f"the local stack could not be started: {exc}", pytrace=False)
    except Exception as exc:
        pytest.fail(
            f"the local stack could not be started: {type(exc).__name__}: {exc}", pytrace=False
        )


@pytest.fixture(autouse=True)
def _require_stack(stack: local.StackStatus) -> None:
    """Every integration test gets the running stack, even one that asks for nothing."""


@pytest.fixture
def isolated_settings(stack: local.StackStatus, tmp_path: Path) -> Iterator[Settings]:
    """Settings with a unique topic prefix, app id and data dir; topics created, deleted after."""
    with isolated_topics(get_settings(), tmp_path) as settings:
        yield settings


@pytest.fixture
def workers() -> Iterator[Workers]:
    """Start workers through this; they are stopped (SIGTERM, then SIGKILL) after the test."""
    pool = Workers()
    try:
        yield pool
    finally:
        pool.close()
