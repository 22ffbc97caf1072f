"""``bundlestream eval``: offline evaluation of the engine against baselines on a time holdout."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .loaders import CATALOG_FORMATS, FORMATS, load_orders
from .split import DEFAULT_SEED, HOLDOUT_FRACTION


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval", help="offline evaluation: engine vs baselines on a 20%% time holdout"
    )
    p.add_argument("--orders", required=True, help="order history file (.csv or .csv.gz)")
    p.add_argument(
        "--format", default="auto", choices=FORMATS, help="order file format (default: sniff)"
    )
    p.add_argument("--catalog", default=None, help="optional catalog file for the engine")
    p.add_argument("--catalog-format", default="auto", choices=CATALOG_FORMATS)
    p.add_argument("--k", type=int, nargs="+", default=[5, 10], help="cut-offs (default: 5 10)")
    p.add_argument(
        "--out", default="eval-out", help="output directory for JSON and PNG (default: eval-out/)"
    )
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the hidden-item choice")
    p.add_argument(
        "--holdout", type=float, default=HOLDOUT_FRACTION, help="share of latest orders held out"
    )
    p.add_argument("--no-engine", action="store_true", help="baselines only")
    p.add_argument(
        "--validation",
        action="store_true",
        help="evaluate on a validation split carved from the training part (for tuning; never the test)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from .report import evaluate, format_table, write_outputs

    started = time.perf_counter()
    loaded = load_orders(
        args.orders, args.format, catalog=args.catalog, catalog_format=args.catalog_format
    )
    load_s = time.perf_counter() - started
    name = Path(args.orders).name
    report = evaluate(
        loaded.orders,
        loaded.catalog,
        ks=sorted(set(args.k)),
        seed=args.seed,
        holdout=args.holdout,
        include_engine=not args.no_engine,
        dataset_name=name,
        validation=args.validation,
    )
    report.dataset.update(
        format=loaded.format,
        loader=loaded.loader,
        load_seconds=round(load_s, 3),
        catalog_products=len(loaded.catalog),
        bad_rows=loaded.bad_rows,
        skipped_rows=loaded.skipped_rows,
    )
    print(format_table(report))
    stem = name.split(".")[0]
    paths = write_outputs(
        report, args.out, stem=f"eval_{stem}{'_validation' if args.validation else ''}"
    )
    print(f"loaded with {loaded.loader} in {load_s:.2f}s; wrote {paths['json']} and {paths['png']}")
    return 0
