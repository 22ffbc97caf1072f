"""The test tree mirrors the package tree, so a newcomer finds a module's tests by its path.

``core/health.py`` is tested in ``tests/unit/core/test_health.py``; a test may add a topic after
the module name (``test_config_cluster.py`` tests ``deploy/config.py``'s cluster part) or be
named after its package when it spans several modules (``test_bundling_core.py``). Checks of the
whole project (the lock file, comments) sit in bundlestream/ as ``test_bundlestream_*.py``.
Subpackages get subfolders (``agents/http/auth.py`` -> ``tests/unit/agents/http/test_auth_*.py``)
and ``tests/unit/tests/`` checks the suite's own helpers (``tests/integration/hostile_files.py``).

Every folder of tests/unit is a package (``__init__.py``), so pytest names its modules by path and
two packages' tests may share a basename (``test_cli.py`` for ``bundlestream/cli.py`` and
``deploy/cli.py``).
"""

from __future__ import annotations

import tomllib
from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[2]
UNIT = TESTS / "unit"
REPO = TESTS.parent
SUITE = "tests"  # tests/unit/tests/ mirrors the suite's own helper modules


def packages() -> list[str]:
    """The first-party top-level packages, as the build declares them."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    return sorted(name.rstrip("*") for name in include)


def source_folder(test_folder: Path) -> Path:
    """The source folder a test folder mirrors: tests/unit/agents/http -> agents/http."""
    return REPO.joinpath(*test_folder.relative_to(UNIT).parts)


def module_names(source: Path) -> set[str]:
    """Modules and subpackages a test in the mirrored folder may be named after."""
    if source == REPO / SUITE:  # the suite's helpers sit in several folders of tests/
        helpers = (p for p in source.rglob("*.py") if UNIT not in p.parents)
        return {p.stem for p in helpers if not p.stem.startswith(("test_", "__"))} | {SUITE}
    modules = {p.stem for p in source.glob("*.py") if p.stem != "__init__"}
    subpackages = {p.parent.name for p in source.glob("*/__init__.py")}
    return modules | subpackages | {source.name}


def named_after(test_name: str, names: set[str]) -> bool:
    """``test_<name>`` or ``test_<name>_<topic>`` for one of ``names``."""
    stem = test_name.removeprefix("test_")
    return any(stem == name or stem.startswith(f"{name}_") for name in names)


def unit_test_modules() -> list[Path]:
    return sorted(UNIT.rglob("test_*.py"))


def test_every_test_folder_mirrors_a_package() -> None:
    roots = set(packages()) | {SUITE}
    wrong = []
    for path in unit_test_modules():
        folder = path.parent.relative_to(UNIT)
        if not folder.parts or folder.parts[0] not in roots:
            wrong.append(f"{path.relative_to(REPO)}: not under tests/unit/<package>/")
        elif not source_folder(path.parent).is_dir():
            wrong.append(f"{path.relative_to(REPO)}: no source folder {folder}/ to mirror")
    assert wrong == [], "\n".join(wrong)


def test_every_test_module_is_named_after_a_module_of_its_package() -> None:
    wrong = []
    for path in unit_test_modules():
        source = source_folder(path.parent)
        if path.parent == UNIT or not source.is_dir():
            continue  # reported by the folder rule
        if not named_after(path.stem, module_names(source)):
            wrong.append(
                f"{path.relative_to(REPO)}: name it test_<module>[_<topic>].py after a module "
                f"of {source.relative_to(REPO)}/ (or after the package itself)"
            )
    assert wrong == [], "\n".join(wrong)


def test_every_test_folder_is_a_package() -> None:
    """Without ``__init__.py`` pytest imports by basename and equal basenames collide."""
    folders = {path.parent for path in UNIT.rglob("*.py")} | {UNIT, TESTS}
    missing = sorted(str(f.relative_to(REPO)) for f in folders if not (f / "__init__.py").is_file())
    assert missing == []


def test_test_modules_outside_packages_have_unique_basenames() -> None:
    """tests/integration and tests/e2e are no packages (their files import ``harness`` by name):
    pytest imports their modules by basename, so two equal names there stop the run."""
    loose = [p for p in TESTS.rglob("test_*.py") if not (p.parent / "__init__.py").is_file()]
    names = Counter(p.name for p in loose)
    assert [name for name, count in names.items() if count > 1] == []


def test_the_rule_accepts_and_refuses_what_it_says() -> None:
    names = module_names(REPO / "deploy")
    assert named_after("test_config", names) and named_after("test_config_cluster", names)
    assert named_after("test_deploy_compose", names)  # named after the package
    assert not named_after("test_configs", names) and not named_after("test_cluster", names)
    assert "hostile_files" in module_names(REPO / SUITE)
