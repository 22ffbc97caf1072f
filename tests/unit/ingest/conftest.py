"""Real data lives in ../shared/data beside the repository (here and in CI)."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = (Path(__file__).resolve().parents[3] / ".." / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA / "README.md").is_file():
        pytest.fail(
            f"shared data folder not found at {DATA}: it must sit beside the repository as ../shared"
        )
    return DATA
