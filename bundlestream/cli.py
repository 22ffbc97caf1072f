"""The ``bundlestream`` command. Each subcommand lives in its own module with a ``register(sub)``.

Every module in ``SUBCOMMAND_MODULES`` is part of the installed package, so one that fails to
import is a broken install or a bug: the command stops with the module and the error named
instead of quietly offering fewer subcommands.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# module path -> the subcommands it registers
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "deploy.cli",  # dev up|down|status, topics create
    "agents.cli",  # worker
    "ingest.cli",  # publish orders|upload
    "evaluation.cli",  # eval
    "bundlestream.docs_cli",  # docs (AsyncAPI, JSON Schemas, README tables)
    "bundlestream.demo",  # demo (the README's first command)
    "bundlestream.keys_cli",  # keys create|list|revoke
)


IMPORT_FAILED_EXIT = 2


class SubcommandImportError(RuntimeError):
    """A subcommand module did not import: names the module and the import error."""

    def __init__(self, module_name: str, error: ImportError) -> None:
        super().__init__(
            f"cannot load the subcommands of {module_name}: {type(error).__name__}: {error}"
        )
        self.module_name = module_name
        self.error = error


def build_parser() -> argparse.ArgumentParser:
    """All subcommands; raises ``SubcommandImportError`` when any module fails to import."""
    parser = argparse.ArgumentParser(
        prog="bundlestream", description="Event-driven product bundling on Kafka."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for module_name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise SubcommandImportError(module_name, exc) from exc
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
    except SubcommandImportError as exc:
        print(f"bundlestream: {exc}", file=sys.stderr)
        return IMPORT_FAILED_EXIT
    args = parser.parse_args(argv)
    result = args.handler(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
