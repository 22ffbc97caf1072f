"""Read the committed sample payloads (written by ``generate.py`` next to this file)."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

import topics

HERE = Path(__file__).resolve().parent
# Every value type a topic carries, by class name (the sample files are named after them).
MODELS: dict[str, type[BaseModel]] = {spec.value.__name__: spec.value for spec in topics.ALL_TOPICS}


def versions() -> list[int]:
    """Every committed ``v<n>`` directory, oldest first."""
    found = (re.fullmatch(r"v(\d+)", p.name) for p in HERE.iterdir() if p.is_dir())
    return sorted(int(m.group(1)) for m in found if m)


def sample_files(version: int) -> dict[str, Path]:
    """Model name -> its sample file at ``version``."""
    return {p.stem: p for p in sorted((HERE / f"v{version}").glob("*.jsonl"))}


def records(path: Path) -> list[bytes]:
    """One record value per line, the bytes exactly as committed."""
    return [line for line in path.read_bytes().split(b"\n") if line]
