"""Where the real datasets live: ``../shared/data`` beside the repository (here and in CI).

Every test and benchmark that reads a real file asks ``shared_data(...)`` for its path, so the
location is written once and a missing file fails with the full path it looked for, instead of
an ``IndexError`` or a parser complaining about an empty input.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = (REPO_ROOT.parent / "shared" / "data").resolve()


class SharedDataMissing(FileNotFoundError):
    """A file of ../shared/data is not there: the checkout needs ../shared beside it."""


def shared_data(*parts: str) -> Path:
    """Path of ``../shared/data/<parts...>``; raises ``SharedDataMissing`` naming it if absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        raise SharedDataMissing(
            f"shared data not found: {path} "
            f"(the folder ../shared/data must sit beside the repository at {REPO_ROOT})"
        )
    return path
