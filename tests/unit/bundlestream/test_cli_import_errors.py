"""A subcommand module that fails to import stops the command, naming the module and the error.

Silently dropping it would turn a broken install into a puzzling "invalid choice" later.
"""

from __future__ import annotations

import types

import pytest

from bundlestream import cli


def test_a_missing_module_fails_build_parser_with_its_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cli, "SUBCOMMAND_MODULES", (*cli.SUBCOMMAND_MODULES, "agents.no_such_cli"))
    with pytest.raises(cli.SubcommandImportError) as info:
        cli.build_parser()
    assert info.value.module_name == "agents.no_such_cli"
    assert "agents.no_such_cli" in str(info.value)
    assert isinstance(info.value.error, ModuleNotFoundError)


def test_main_exits_non_zero_and_names_the_import_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = "bundlestream_broken_cli"  # imports, but one of its own imports fails
    real_import = cli.importlib.import_module

    def fail_on_import(name: str, package: str | None = None) -> types.ModuleType:
        if name == broken:
            raise ImportError("cannot import name 'register_everything' from 'somewhere'")
        return real_import(name, package)

    monkeypatch.setattr(cli.importlib, "import_module", fail_on_import)
    monkeypatch.setattr(cli, "SUBCOMMAND_MODULES", (broken, *cli.SUBCOMMAND_MODULES))

    assert cli.main(["docs", "--help"]) == cli.IMPORT_FAILED_EXIT != 0
    err = capsys.readouterr().err
    assert "bundlestream_broken_cli" in err
    assert "ImportError" in err and "register_everything" in err
