"""Live bundle performance fold: its cost on the orders agent's path, and its record size.

``popularity.performance.plan_performance`` over ``--orders`` synthetic applied orders (default
200,000) of one store with a 10-bundle set, in batches of ``--batch`` (default 1,000), each batch
reading the store's record from JSON and writing it back as JSON (what the agent does with the
``bundle-performance`` table). Orders hold 1-5 of 300 popular products, 5,000 orders a day; the
bundles hold 2-3 of the 60 most popular. Printed: CPU seconds, orders per CPU second, the final
record size, kept orders and the totals. CPU time, because a shared machine inflates wall time.

    .venv/bin/python bench/performance_fold_bench.py
"""

from __future__ import annotations

import argparse
import random
import time

import orjson

from popularity import AppliedOrder
from popularity.performance import (
    PerformanceLimits,
    PerformanceState,
    PublishedSet,
    plan_performance,
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=1_000)
    args = ap.parse_args()
    rng = random.Random(1)
    products = [f"p{i}" for i in range(2000)]
    bundles = tuple(
        (f"b{i}", tuple(rng.sample(products[:60], rng.choice([2, 3])))) for i in range(10)
    )
    published = PublishedSet("u", 0, bundles)
    entries = []
    for i in range(args.orders):
        units = {p: 1 for p in rng.sample(products[:300], rng.randint(1, 5))}
        entries.append(
            AppliedOrder(
                0, i, "s", f"o{i}", 86400 * (i // 5000), 1, units, {p: 9.99 for p in units}
            )
        )
    limits = PerformanceLimits()
    stored: dict | None = None
    started = time.process_time()
    for start in range(0, len(entries), args.batch):
        before = PerformanceState.from_json(stored) if stored else None
        out = plan_performance(
            entries[start : start + args.batch],
            lambda _s, b=before: b,
            lambda _s: published,
            limits,
        )
        stored = orjson.loads(orjson.dumps(out["s"].to_json()))
    cpu = time.process_time() - started
    state = PerformanceState.from_json(stored)
    assert state is not None
    print(
        f"{args.orders:,} orders in batches of {args.batch:,}: {cpu:.2f} CPU s "
        f"({args.orders / cpu:,.0f} orders per CPU s); record {len(orjson.dumps(stored)):,} bytes, "
        f"{len(state.kept)} orders kept; whole {sum(t[0] for t in state.totals.values())}, "
        f"partial {sum(t[1] for t in state.totals.values())}"
    )


if __name__ == "__main__":
    main()
