"""requirements.lock answers every dependency pyproject.toml declares, each with hashes.

`make venv` installs only from the lock (hash-checked), so a dependency added to pyproject.toml
without `make lock` would be missing on a fresh machine; this names it instead.
"""

from __future__ import annotations

import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from core.settings import REPO_ROOT as ROOT

INSTALLED_EXTRAS = ("test", "eval", "lint")  # what the Makefile's venv installs


def locked_versions() -> dict[str, str]:
    text = (ROOT / "requirements.lock").read_text()
    pins = re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)", text, flags=re.M)
    return {canonicalize_name(name): version for name, version in pins}


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in INSTALLED_EXTRAS:
        specs += project["optional-dependencies"][extra]
    return [Requirement(spec) for spec in specs]


def test_every_declared_dependency_is_locked_at_a_version_it_allows() -> None:
    locked = locked_versions()
    problems = []
    for req in declared():
        version = locked.get(canonicalize_name(req.name))
        if version is None:
            problems.append(f"{req.name} is not in requirements.lock")
        elif not req.specifier.contains(version, prereleases=True):
            problems.append(f"{req.name}=={version} does not satisfy {req}")
    assert not problems, "; ".join(problems) + " (run `make lock`)"


def test_every_locked_package_carries_a_hash() -> None:
    entries = re.split(r"\n(?=[A-Za-z0-9_.\-]+==)", (ROOT / "requirements.lock").read_text())
    unhashed = [e.split()[0] for e in entries if "==" in e.split()[0] and "--hash=sha256:" not in e]
    assert not unhashed, unhashed
