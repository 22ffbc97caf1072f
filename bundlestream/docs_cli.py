"""``bundlestream docs``: regenerate AsyncAPI, JSON Schemas and README tables (``--check`` for CI)."""

from __future__ import annotations

import argparse


def _run(args: argparse.Namespace) -> int:
    from . import docs

    if args.check:
        stale = docs.stale_files()
        for path in stale:
            print(f"stale: {path}")
        return 1 if stale else 0
    for path in docs.write_all():
        print(f"wrote {path}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("docs", help="Regenerate contract documents from the code.")
    parser.add_argument(
        "--check", action="store_true", help="Exit 1 if a committed document is stale."
    )
    parser.set_defaults(handler=_run)
