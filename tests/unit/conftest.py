"""Fixtures every broker-free test may use: the real datasets of ../shared/data, parsed once.

Parsing a whole real file takes seconds, so a test that only reads the parse result takes it
from a session fixture here instead of parsing again (once per process: once per xdist worker
under ``make unit``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from ingest import load_categories, read_orders
from ingest.report import IngestReport
from models.orders import OrderEvent
from tests.shared_data import shared_data


@dataclass(frozen=True)
class ParsedOrders:
    """One real order file through ``read_orders``; tests must not mutate ``events``."""

    events: list[OrderEvent]
    report: IngestReport
    seconds: float  # wall time of the parse, for the parse-time smoke check
    categories: dict[str, str] | None = None  # the category map the parse was given


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``../shared/data``; the run stops with the path it looked for when the folder is missing."""
    try:
        return shared_data("README.md").parent
    except FileNotFoundError as missing:
        pytest.fail(str(missing))


@pytest.fixture(scope="session")
def online_retail_orders(data_dir: Path) -> ParsedOrders:
    """UCI Online Retail, one store ("uk-gifts"), every row through the row parser."""
    started = time.perf_counter()
    events, report = read_orders(data_dir / "online_retail.csv.gz", store_id="uk-gifts")
    return ParsedOrders(events, report, time.perf_counter() - started)


@pytest.fixture(scope="session")
def olist_orders(data_dir: Path) -> ParsedOrders:
    """Olist order items with their English categories (the products and translation files)."""
    olist = data_dir / "olist"
    started = time.perf_counter()
    categories = load_categories(
        olist / "olist_products_dataset.csv.gz", olist / "product_category_name_translation.csv.gz"
    )
    events, report = read_orders(olist / "olist_order_items_dataset.csv.gz", categories=categories)
    return ParsedOrders(events, report, time.perf_counter() - started, categories)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules reading ../shared/data first: they are the slowest, and ``make unit`` hands whole
    modules to its workers in this order, so starting them early keeps every worker busy to the
    end instead of leaving one to finish a long module alone. Stable: modules stay contiguous."""
    reads_real_data = {
        item.path for item in items if "data_dir" in getattr(item, "fixturenames", ())
    }
    items.sort(key=lambda item: item.path not in reads_real_data)
