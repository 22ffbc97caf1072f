"""Order-history parsing: row parser (``read_orders`` -> OrderEvents) vs columnar (``read_order_lines``).

    .venv/bin/python bench/parse_bench.py [--repeats 5] [--only online_retail|olist]
    .venv/bin/python bench/parse_bench.py --replay [--repeats 5] [--against /tmp/wt-base] [--serialise]

Runs are interleaved (csv floor, row parser, columnar, columnar + basket matrix) so background
load hits every variant alike; prints median and min of wall and CPU (``time.process_time``) seconds.
The "csv floor" is ``CsvTable.rows()`` alone: reading and accounting rows, no parsing at all, the
part neither parser can avoid. On a loaded machine CPU time is inflated too (shared cores and
caches): compare ratios, and the min, rather than absolute numbers across runs.

``--replay`` times the streamed replay instead: ``OrderStream(..., adjustments=True)`` over
Online Retail iterated once, keeping no event, as ``bundlestream publish orders`` reads it; CPU
seconds of the pass alone, the collector left as the caller has it. Each pass runs in a fresh
process. ``--against TREE`` alternates those processes between another checkout (imported
through ``PYTHONPATH``, e.g. ``git worktree add /tmp/wt-base 59016fa``) and this one, so both
see the same load, and checks both trees give the same events and report (a digest made after
the timed pass). ``--serialise`` has the loop turn each event into JSON, as a publisher does:
a caller that allocates, so the collector runs in the caller's code too.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# after PYTHONPATH: ``--against`` imports the other tree's packages through it
sys.path.append(str(ROOT))
from bundling.mining import BasketMatrix
from ingest import load_categories, read_orders
from ingest.columnar import read_order_lines
from ingest.report import IngestReport
from ingest.source import CsvTable
from tests.shared_data import shared_data


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


def replay_pass(path: Path, serialise: bool) -> dict[str, object]:
    """One streamed replay pass, timed; then the digest of what it produced (not timed)."""
    import ingest
    from ingest.orders import OrderStream

    stream = OrderStream(path, adjustments=True)
    gc.collect()
    collections = sum(s["collections"] for s in gc.get_stats())
    c = time.process_time()
    n = 0
    for event in stream:
        if serialise:
            event.model_dump_json()
        n += 1
    cpu = time.process_time() - c
    collections = sum(s["collections"] for s in gc.get_stats()) - collections
    digest = hashlib.sha256()
    for event in OrderStream(path, adjustments=True):
        digest.update(event.model_dump_json().encode())
    report = stream.report
    summary = {k: v for k, v in report.summary().items() if k != "parse_ms"}
    digest.update(json.dumps(summary, sort_keys=True).encode())
    for row in report.bad_rows + report.warnings:
        digest.update(row.model_dump_json().encode())
    return {
        "cpu": cpu,
        "events": n,
        "collections": collections,
        "digest": digest.hexdigest()[:16],
        "tree": str(Path(ingest.__file__).resolve().parents[1]),
    }


def replay(path: Path, repeats: int, against: Path | None, serialise: bool) -> None:
    """Fresh-process replay passes, alternating between ``against`` (before) and this tree."""
    trees = ([("before", against)] if against else []) + [("after", ROOT)]
    results: dict[str, list[dict[str, object]]] = {label: [] for label, _ in trees}
    for r in range(repeats):
        for label, tree in trees if r % 2 == 0 else trees[::-1]:
            env = dict(os.environ, PYTHONPATH=str(tree))
            out = subprocess.run(
                [sys.executable, __file__, "--replay-pass", str(path)]
                + (["--serialise"] if serialise else []),
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            res = json.loads(out.splitlines()[-1])
            assert res["tree"] == str(tree.resolve()), (res["tree"], tree)
            results[label].append(res)
            print(f"  run {r + 1} {label}: {res['cpu']:.2f} s cpu, {res['collections']} gc runs")
    caller = "each event to JSON" if serialise else "no work per event"
    print(
        f"\nstreamed replay of {path.name}, adjustments=True, {caller} ({repeats} runs each; CPU s)"
    )
    meds = {}
    for label, tree in trees:
        rs = results[label]
        cpus = [float(x["cpu"]) for x in rs]  # type: ignore[arg-type]
        meds[label] = statistics.median(cpus)
        digests = {x["digest"] for x in rs}
        print(
            f"  {label:<7} {tree}: median {meds[label]:.2f} (min {min(cpus):.2f}, "
            f"max {max(cpus):.2f}), gc runs {statistics.median(x['collections'] for x in rs):.0f},"  # type: ignore[misc]
            f" events {rs[0]['events']}, digest {', '.join(sorted(digests))}"  # type: ignore[arg-type]
        )
    if against:
        same = {x["digest"] for rs in results.values() for x in rs}
        print(
            f"  after/before: {meds['after'] / meds['before']:.2f}; same output: {len(same) == 1}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--only", choices=["online_retail", "olist"])
    ap.add_argument("--replay", action="store_true", help="time the streamed replay pass")
    ap.add_argument("--against", type=Path, help="with --replay: the tree to compare with")
    ap.add_argument("--serialise", action="store_true", help="with --replay: events to JSON")
    ap.add_argument("--replay-pass", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.replay_pass:
        print(json.dumps(replay_pass(args.replay_pass, args.serialise)))
        return
    data = shared_data()
    if args.replay:
        replay(data / "online_retail.csv.gz", args.repeats, args.against, args.serialise)
        return
    if args.only in (None, "online_retail"):
        run("Online Retail", data / "online_retail.csv.gz", {}, args.repeats)
    if args.only in (None, "olist"):
        olist = data / "olist"
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
