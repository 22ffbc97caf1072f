"""Order-history parsing: row parser (``read_orders`` -> OrderEvents) vs columnar (``read_order_lines``).

    .venv/bin/python bench/parse_bench.py [--repeats 5] [--only online_retail|olist]

Runs are interleaved (csv floor, row parser, columnar, columnar + basket matrix) so background
load hits every variant alike; prints median and min of wall and CPU (``time.process_time``) seconds.
The "csv floor" is ``CsvTable.rows()`` alone: reading and accounting rows, no parsing at all, the
part neither parser can avoid. On a loaded machine CPU time is inflated too (shared cores and
caches): compare ratios, and the min, rather than absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bundling.mining import BasketMatrix
from ingest import load_categories, read_orders
from ingest.columnar import read_order_lines
from ingest.report import IngestReport
from ingest.source import CsvTable
from tests.shared_data import shared_data

DATA = shared_data()


def _csv_floor(path, **_):
    with CsvTable(path, IngestReport(file="x")) as table:
        for _ in table.rows():
            pass


def _row(path, **kw):
    read_orders(path, **kw)


def _columnar(path, **kw):
    read_order_lines(path, **kw)


def _columnar_basket(path, **kw):
    BasketMatrix.from_order_lines(read_order_lines(path, **kw))


VARIANTS = {
    "csv floor": _csv_floor,
    "row parser": _row,
    "columnar": _columnar,
    "columnar+basket": _columnar_basket,
}


def _measure(fn, path, kw):
    gc.collect()
    w, c = time.perf_counter(), time.process_time()
    fn(path, **kw)
    return time.perf_counter() - w, time.process_time() - c


def run(
    name: str, path: Path, kw: dict, repeats: int
) -> dict[str, tuple[float, float, float, float]]:
    times: dict[str, list[tuple[float, float]]] = {v: [] for v in VARIANTS}
    for _ in range(repeats):
        for v, fn in VARIANTS.items():
            times[v].append(_measure(fn, path, kw))
    print(f"\n{name}: {path.name}  ({repeats} interleaved repeats; seconds)")
    print(f"  {'variant':<16} {'wall med':>9} {'wall min':>9} {'cpu med':>9} {'cpu min':>9}")
    out = {}
    for v, ts in times.items():
        wall, cpu = [t[0] for t in ts], [t[1] for t in ts]
        out[v] = (statistics.median(wall), min(wall), statistics.median(cpu), min(cpu))
        print(f"  {v:<16} {out[v][0]:9.3f} {out[v][1]:9.3f} {out[v][2]:9.3f} {out[v][3]:9.3f}")
    r, c, f = out["row parser"], out["columnar"], out["csv floor"]
    print(
        f"  row/columnar speed-up: wall {r[0] / c[0]:.1f}x, cpu {r[2] / c[2]:.1f}x (median); "
        f"cpu {r[3] / c[3]:.1f}x (min)"
    )
    print(f"  columnar cpu / csv floor cpu: {c[2] / f[2]:.2f} (median), {c[3] / f[3]:.2f} (min)")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--only", choices=["online_retail", "olist"])
    args = ap.parse_args()
    if args.only in (None, "online_retail"):
        run("Online Retail", DATA / "online_retail.csv.gz", {}, args.repeats)
    if args.only in (None, "olist"):
        olist = DATA / "olist"
        cats = load_categories(
            olist / "olist_products_dataset.csv.gz",
            olist / "product_category_name_translation.csv.gz",
        )
        run(
            "Olist order items",
            olist / "olist_order_items_dataset.csv.gz",
            {"categories": cats},
            args.repeats,
        )


if __name__ == "__main__":
    main()
