"""The ``bundlestream`` command. Each subcommand lives in its own module with a ``register(sub)``.

Modules are imported lazily by name so a broken or missing optional part never breaks the others.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# module path -> it registers these subcommands (help text shown when the module fails to import)
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "deploy.cli",  # dev up|down|status, topics create
    "agents.cli",  # worker
    "ingest.cli",  # publish orders|upload
    "evaluation.cli",  # eval
    "bundlestream.docs_cli",  # docs (AsyncAPI, JSON Schemas, README tables)
    "bundlestream.demo",  # demo (the README's first command)
    "bundlestream.keys_cli",  # keys create|list|revoke
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bundlestream", description="Event-driven product bundling on Kafka."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for module_name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue  # that part is not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result = args.handler(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
