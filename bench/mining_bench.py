"""Pair + triple mining: bundling.mining vs mlxtend fpgrowth vs efficient-apriori, same run.

Data: Online Retail's non-cancelled invoices (InvoiceNo not starting with C or A, rows with
Quantity > 0), one basket per invoice, items = StockCode. Every method gets its natural input,
built before the clock starts (mlxtend: the one-hot bool DataFrame of TransactionEncoder style;
efficient-apriori: a list of tuples; ours: a BasketMatrix); building those inputs is timed and
printed separately.

Timed: all itemsets of size 1-3 at each min_support. Checked: the three results have the same
itemsets with the same supports (mismatches printed). Peak memory: one extra, untimed run per
method under tracemalloc (numpy and pandas allocations are traced).

    .venv/bin/python bench/mining_bench.py [--supports 0.01 0.005] [--repeats 3] [--baseline-repeats 1]
"""

from __future__ import annotations

import argparse
import csv
import functools
import gzip
import io
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.shared_data import shared_data

DATA = shared_data("online_retail.csv.gz")
TARGET_SPEEDUP = 10.0
TOL = 1e-12  # supports are count / n in every implementation; allow only float noise


def load_baskets(path: Path = DATA) -> list[tuple[str, ...]]:
    """Non-cancelled Online Retail invoices as sorted tuples of distinct StockCodes."""
    groups: dict[str, set[str]] = {}
    with io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            inv = row["InvoiceNo"]
            if inv.startswith(("C", "A")) or int(row["Quantity"]) <= 0:
                continue
            groups.setdefault(inv, set()).add(row["StockCode"])
    return [tuple(sorted(items)) for _, items in sorted(groups.items())]


# --- the three miners: each returns {frozenset(items): support} ---------------------------


def ours_input(baskets):
    from bundling.mining import BasketMatrix

    return BasketMatrix.from_baskets(baskets)


def ours_mine(matrix, min_support: float) -> dict[frozenset[str], float]:
    from bundling.mining import mine_itemsets

    return mine_itemsets(matrix, min_support=min_support, max_len=3).supports()


def mlxtend_input(baskets):
    import numpy as np
    import pandas as pd

    items = sorted({i for b in baskets for i in b})
    col = {item: j for j, item in enumerate(items)}
    onehot = np.zeros((len(baskets), len(items)), dtype=bool)
    for r, b in enumerate(baskets):
        onehot[r, [col[i] for i in b]] = True
    return pd.DataFrame(onehot, columns=items)


def mlxtend_mine(df, min_support: float) -> dict[frozenset[str], float]:
    from mlxtend.frequent_patterns import fpgrowth

    res = fpgrowth(df, min_support=min_support, max_len=3, use_colnames=True)
    return {frozenset(s): float(v) for s, v in zip(res["itemsets"], res["support"])}


def apriori_input(baskets):
    return list(baskets)


def apriori_mine(transactions, min_support: float) -> dict[frozenset[str], float]:
    from efficient_apriori import itemsets_from_transactions

    itemsets, n = itemsets_from_transactions(transactions, min_support=min_support, max_length=3)
    return {frozenset(s): c / n for level in itemsets.values() for s, c in level.items()}


MINERS: dict[str, tuple[Callable[[Any], Any], Callable[[Any, float], dict]]] = {
    "bundling.mining": (ours_input, ours_mine),
    "mlxtend.fpgrowth": (mlxtend_input, mlxtend_mine),
    "efficient_apriori": (apriori_input, apriori_mine),
}


def mismatches(ref: dict[frozenset[str], float], other: dict[frozenset[str], float]) -> int:
    """Itemsets missing on either side plus itemsets whose supports differ."""
    keys = ref.keys() | other.keys()
    return sum(1 for k in keys if k not in ref or k not in other or abs(ref[k] - other[k]) > TOL)


def timed(fn: Callable[[], Any], repeats: int) -> tuple[list[float], Any]:
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return times, out


def peak_mib(fn: Callable[[], Any]) -> float:
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--supports", type=float, nargs="+", default=[0.01, 0.005])
    ap.add_argument(
        "--repeats", type=int, default=3, help="runs of bundling.mining per support (median)"
    )
    ap.add_argument(
        "--baseline-repeats", type=int, default=1, help="runs of mlxtend / efficient-apriori"
    )
    ap.add_argument("--no-memory", action="store_true", help="skip the tracemalloc pass")
    args = ap.parse_args(argv)

    t = time.perf_counter()
    baskets = load_baskets()
    print(
        f"Online Retail non-cancelled invoices: {len(baskets)} baskets, "
        f"{len({i for b in baskets for i in b})} items (loaded in {time.perf_counter() - t:.2f}s)"
    )
    inputs = {}
    for name, (build, _) in MINERS.items():
        t = time.perf_counter()
        inputs[name] = build(baskets)
        print(
            f"  input for {name:<18} built in {time.perf_counter() - t:.3f}s (not in the mining times)"
        )

    failed = False
    for sup in args.supports:
        print(f"\nmin_support {sup}  (itemsets of size 1-3)")
        results, medians = {}, {}
        for name, (_, mine) in MINERS.items():
            reps = args.repeats if name == "bundling.mining" else args.baseline_repeats
            run = functools.partial(mine, inputs[name], sup)
            times, results[name] = timed(run, reps)
            medians[name] = statistics.median(times)
            mem = "" if args.no_memory else f"  peak {peak_mib(run):8.1f} MiB"
            print(
                f"  {name:<18} runs {' '.join(f'{x:.3f}' for x in times):<24} median {medians[name]:8.3f}s"
                f"  itemsets {len(results[name]):6d}{mem}"
            )
        ref = results["bundling.mining"]
        for name in ("mlxtend.fpgrowth", "efficient_apriori"):
            mm = mismatches(ref, results[name])
            speedup = medians[name] / medians["bundling.mining"]
            ok = mm == 0 and speedup >= TARGET_SPEEDUP
            failed |= not ok
            print(
                f"  vs {name:<18} support mismatches {mm}  speed-up {speedup:6.1f}x "
                f"(target >= {TARGET_SPEEDUP:.0f}x) {'OK' if ok else 'FAIL'}"
            )
        by_size = {k: sum(1 for s in ref if len(s) == k) for k in (1, 2, 3)}
        print(f"  itemsets by size: {by_size}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
