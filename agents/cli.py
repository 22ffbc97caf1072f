"""``bundlestream worker``: run one Faust worker with every agent and view."""

from __future__ import annotations

import argparse
import sys

# sysexits.h EX_CONFIG: the configuration, not the code or the infrastructure, is what is wrong.
EXIT_UNSAFE_CONFIG = 78


def _run_worker(args: argparse.Namespace) -> int:
    from core.settings import get_settings

    if (
        not args.no_web
    ):  # checked before the app is even imported: nothing is bound or connected yet
        from core.production import production_problems

        problems = production_problems(get_settings())
        if problems:
            print("bundlestream worker refuses to start:", file=sys.stderr)
            for problem in problems:
                print(f"  - {problem}", file=sys.stderr)
            return EXIT_UNSAFE_CONFIG

    from .worker import app

    get_settings().worker_data_dir().mkdir(
        parents=True, exist_ok=True
    )  # Faust makes only the last level
    argv = ["worker", "--loglevel", args.loglevel]
    if args.no_web:
        argv.append("--without-web")
    sys.argv = ["bundlestream", *argv]  # Faust's CLI reads sys.argv
    app.main()
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    worker = sub.add_parser("worker", help="Run a stream worker (agents, tables, HTTP API).")
    worker.add_argument(
        "--loglevel", default="info", choices=["crit", "error", "warn", "info", "debug"]
    )
    worker.add_argument(
        "--no-web", action="store_true", help="Do not serve HTTP (extra workers behind one API)."
    )
    worker.set_defaults(handler=_run_worker)
