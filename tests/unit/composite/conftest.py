"""Shared fixtures for the composite package: a small catalog, a fixed clock, the fake Anthropic server."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from composite.discovery import CatalogIndex, build_index
from composite.llm import LLMClient
from models.catalog import Product
from tests.fakes.anthropic_server import FakeAnthropic
from tests.unit.composite.composite_testdata import NOW, make_catalog


@pytest.fixture
def now() -> dt.datetime:
    return NOW


@pytest.fixture
def catalog() -> list[Product]:
    return make_catalog()


@pytest.fixture
def index(catalog: list[Product]) -> CatalogIndex:
    return build_index(catalog)


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeAnthropic]:
    server = FakeAnthropic().start()
    yield server
    server.stop()


@pytest.fixture
def fake(fake_server: FakeAnthropic) -> FakeAnthropic:
    fake_server.reset()
    return fake_server


@pytest.fixture
async def llm(fake: FakeAnthropic):
    client = LLMClient(
        api_key="test-key", model="claude-test", timeout_s=1.5, base_url=fake.base_url
    )
    yield client
    await client.aclose()
