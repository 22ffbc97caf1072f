"""``bundlestream worker``: run one Faust worker with every agent and view."""

from __future__ import annotations

import argparse
import sys


def _run_worker(args: argparse.Namespace) -> int:
    from .worker import app

    argv = ["worker", "--loglevel", args.loglevel]
    if args.no_web:
        argv.append("--without-web")
    sys.argv = ["bundlestream", *argv]  # Faust's CLI reads sys.argv
    app.main()
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    worker = sub.add_parser("worker", help="Run a stream worker (agents, tables, HTTP API).")
    worker.add_argument("--loglevel", default="info", choices=["crit", "error", "warn", "info", "debug"])
    worker.add_argument("--no-web", action="store_true", help="Do not serve HTTP (extra workers behind one API).")
    worker.set_defaults(handler=_run_worker)
