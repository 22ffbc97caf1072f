"""Fixtures every broker-free test may use: the real datasets of ../shared/data."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.shared_data import shared_data


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``../shared/data``; the run stops with the path it looked for when the folder is missing."""
    try:
        return shared_data("README.md").parent
    except FileNotFoundError as missing:
        pytest.fail(str(missing))
