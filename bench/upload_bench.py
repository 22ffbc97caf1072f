"""Upload -> bundle set through the pure engine (no LLM, no broker): parsing + generation.

(a) small stores, target < 100 ms median each:
    - the first 1,000 Online Retail invoices (their CSV rows, held in memory as bytes),
    - the Shopify sample store: products_export.csv catalog + orders_export.csv orders;
(b) the whole Online Retail history parsed from the .gz file, target < 3 s.

Timed per run: ingest parsing of the order (and catalog) files + ``generate_bundle_set``, the
same work the uploads agent does for one upload. Peak memory: one extra untimed run under
tracemalloc, plus the process's max RSS.

    .venv/bin/python bench/upload_bench.py [--repeats 20] [--full-repeats 3]
"""

from __future__ import annotations

import argparse
import gzip
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data"
ONLINE_RETAIL = DATA / "online_retail.csv.gz"
SHOPIFY_ORDERS = DATA / "shopify" / "orders_export.csv"
SHOPIFY_PRODUCTS = DATA / "shopify" / "products_export.csv"
SMALL_TARGET_MS = 100.0
FULL_TARGET_MS = 3000.0


def first_invoices_csv(n_invoices: int = 1000) -> bytes:
    """Header + every row of the first ``n_invoices`` distinct InvoiceNo values (file order)."""
    out: list[bytes] = []
    seen: set[bytes] = set()
    with gzip.open(ONLINE_RETAIL, "rb") as fh:
        out.append(fh.readline())
        for line in fh:
            inv = line.split(b",", 1)[0]
            if inv not in seen:
                if len(seen) == n_invoices:
                    break
                seen.add(inv)
            out.append(line)
    return b"".join(out)


def upload(orders_src: Any, orders_fmt: str | None, catalog_src: Any = None, catalog_fmt: str | None = None):
    """One upload end to end: parse, then generate. Returns (bundle set, orders, catalog size)."""
    from bundling.engine import generate_bundle_set
    from ingest import parse_catalog, read_orders

    t = time.perf_counter()
    orders, report = read_orders(orders_src, orders_fmt, store_id="bench")
    catalog = parse_catalog(catalog_src, catalog_fmt).products if catalog_src is not None else []
    parse_ms = (time.perf_counter() - t) * 1000
    bundle_set, _ = generate_bundle_set("bench-upload", "bench", catalog, orders, parse_ms=parse_ms,
                                        bad_row_count=report.bad_row_count)
    return bundle_set, orders, catalog


def measure(name: str, fn: Callable[[], Any], repeats: int, target_ms: float) -> bool:
    times = []
    result = None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t) * 1000)
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    bundle_set, orders, catalog = result
    med = statistics.median(times)
    ok = med < target_ms
    m = bundle_set.metrics
    print(f"{name}\n  orders {len(orders)} (events), catalog {len(catalog) or 'from orders'}, status {bundle_set.status}, "
          f"bundles {len(bundle_set.bundles)}, cold_start {m.cold_start}, parse {m.parse_ms:.1f} ms, "
          f"engine {m.time_budget.actual_duration_ms if m.time_budget else float('nan'):.1f} ms (last run)")
    print(f"  runs {repeats}: median {med:.1f} ms, min {min(times):.1f}, max {max(times):.1f}  "
          f"(target < {target_ms:.0f} ms) {'OK' if ok else 'FAIL'}; peak traced memory {peak / 2**20:.1f} MiB")
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=20, help="runs of each small store (median)")
    ap.add_argument("--full-repeats", type=int, default=3, help="runs of the whole Online Retail history")
    ap.add_argument("--skip-full", action="store_true")
    args = ap.parse_args(argv)

    small = first_invoices_csv(1000)
    ok = True
    ok &= measure("(a) Online Retail, first 1,000 invoices (CSV bytes in memory)",
                  lambda: upload(small, "online_retail"), args.repeats, SMALL_TARGET_MS)
    shop_orders, shop_products = SHOPIFY_ORDERS.read_bytes(), SHOPIFY_PRODUCTS.read_bytes()
    ok &= measure("(a) Shopify sample store: products_export.csv + orders_export.csv",
                  lambda: upload(shop_orders, "shopify_orders", shop_products, "shopify_products"),
                  args.repeats, SMALL_TARGET_MS)
    if not args.skip_full:
        ok &= measure("(b) whole Online Retail history, parsed from online_retail.csv.gz",
                      lambda: upload(ONLINE_RETAIL, "online_retail"), args.full_repeats, FULL_TARGET_MS)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process max RSS {rss:.0f} MiB")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
