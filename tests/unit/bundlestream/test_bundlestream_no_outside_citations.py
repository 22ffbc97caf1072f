"""Code explains itself in our own words: no comment or docstring points at a design document
that lives outside this repository (its numbered sections, parts or steps, or a "§").

Formulas, defaults and thresholds are written down in docs/design.md; code that needs more than
its own docstring points there by section name, e.g. "(docs/design.md, Scoring)".
"""

from __future__ import annotations

import re
from pathlib import Path

from core.settings import REPO_ROOT as ROOT

PACKAGES = (
    "core",
    "agents",
    "security",
    "topics",
    "models",
    "deploy",
    "bundlestream",
    "ingest",
    "bundling",
    "composite",
    "popularity",
    "webhooks",
    "evaluation",
    "bench",
    "tests",
)
# The outside documents are named by number ("seed 000", "Seed 004"), cited by "§" and by their
# step numbers ("step 31").
CITATION = re.compile(r"seed ?0|§|\bstep [0-9]+", re.IGNORECASE)


def python_files() -> list[Path]:
    this = Path(__file__).resolve()
    files = [path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))]
    return [path for path in files if path.resolve() != this]


def citations(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}"
        for number, line in enumerate(text.splitlines(), 1)
        if CITATION.search(line)
    ]


def test_the_scan_sees_the_project() -> None:
    files = {path.relative_to(ROOT).as_posix() for path in python_files()}
    assert {"bundling/engine.py", "composite/reply.py", "bench/chat_bench.py"} <= files


def test_the_pattern_finds_each_kind_of_citation() -> None:
    for cited in ("see Seed 000 section 5", "(seed 004 part 2)", "as in § 3", "design step 31"):
        assert CITATION.search(cited), cited
    for fine in ("seed=7", "seeded", "docs/design.md, Scoring", "a step of 2"):
        assert not CITATION.search(fine), fine


def test_no_python_file_cites_outside_design_documents() -> None:
    found = [hit for path in python_files() for hit in citations(path)]
    assert found == [], "cite docs/design.md by section name instead:\n" + "\n".join(found)
