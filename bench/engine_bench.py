"""The pure bundle engine (``bundling.engine.generate_bundle_set``) on four stores, columnar input.

Stores (each built once, before any clock starts):

(a) ``shopify-1k``: the four Shopify sample catalogs in ``../shared/data/shopify`` (apparel,
    home-and-garden, jewelery, products_export; parsed with ``parse_catalog(.., 'shopify_products')``,
    first product id wins) and 1,000 synthetic orders drawn from them (seeded): Zipf-like product
    popularity, 1-4 lines per order, a second line from the same catalog file 60% of the time,
    quantity 1 (sometimes 2), 180 days of timestamps; written as a generic orders CSV and read
    with ``ingest.columnar.read_order_lines``. Target: engine < 100 ms.
(b) ``or-1k``: the first 1,000 Online Retail invoices (wholesale, ~20 lines each), catalog built by
    the engine from the order lines. Target < 100 ms.
(c) ``or-full``: the whole Online Retail history via ``read_order_lines`` (541,909 lines); engine
    target ~1 s, whole upload (parse + engine) < 3 s.
(d) ``olist``: ``ingest.olist.build_olist_catalog`` + ``read_order_lines(.., 'olist')``.

Timed: ``generate_bundle_set(..., order_lines=..., embedding_cache=...)`` only (parsing is timed
once per store and printed separately). Each store: one warm-up run, then ``--repeats`` runs with
a *cold* embedding cache (a new empty ``InMemoryCache`` per run) and ``--repeats`` runs with a
*warm* one (the cache the warm-up filled: the agent keeps catalog embeddings in Redis by content
hash, so a store's steady state is warm). Reported: median wall (perf_counter) and median CPU
(process_time) in ms, min wall, and bundles/cold-start of the last run. On a shared 2-core
machine wall time is noisy; CPU time is the steadier figure.

    .venv/bin/python bench/engine_bench.py [--repeats 7] [--full-repeats 7] [--stores a b c d]
        [--profile STORE]  # cProfile one warm run of STORE (a, b, c or d), top 30 by cumtime
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.shared_data import shared_data

DATA = shared_data()
SHOPIFY = DATA / "shopify"
SHOPIFY_CATALOGS = ("apparel.csv", "home-and-garden.csv", "jewelery.csv", "products_export.csv")
ONLINE_RETAIL = DATA / "online_retail.csv.gz"
OLIST = DATA / "olist"


def shopify_store(n_orders: int = 1000, seed: int = 7) -> tuple[list, Any]:
    from ingest.catalog import parse_catalog
    from ingest.columnar import read_order_lines

    products, group = [], []
    seen: set[str] = set()
    for g, name in enumerate(SHOPIFY_CATALOGS):
        for p in parse_catalog(SHOPIFY / name, "shopify_products").products:
            if p.product_id not in seen:
                seen.add(p.product_id)
                products.append(p)
                group.append(g)
    rng = np.random.default_rng(seed)
    n = len(products)
    pop = 1.0 / np.arange(1, n + 1) ** 0.9
    pop = pop[rng.permutation(n)]
    pop /= pop.sum()
    group_arr = np.asarray(group)
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["order_id", "product_id", "quantity", "price", "created_at", "customer_id"])
    for k in range(n_orders):
        size = int(min(4, 1 + rng.geometric(0.55) - 1))
        first = int(rng.choice(n, p=pop))
        basket = [first]
        while len(basket) < size:
            if rng.random() < 0.6:
                same = np.flatnonzero(group_arr == group_arr[first])
                w_same = pop[same] / pop[same].sum()
                j = int(rng.choice(same, p=w_same))
            else:
                j = int(rng.choice(n, p=pop))
            if j not in basket:
                basket.append(j)
            elif rng.random() < 0.3:
                break
        ts = t0 + timedelta(seconds=int(rng.integers(0, 180 * 86400)))
        cust = f"c{int(rng.integers(0, 400))}"
        for j in basket:
            p = products[j]
            w.writerow(
                [
                    f"S{k + 1:05d}",
                    p.product_id,
                    2 if rng.random() < 0.1 else 1,
                    f"{p.price:.2f}",
                    ts.isoformat(),
                    cust,
                ]
            )
    lines = read_order_lines(buf.getvalue().encode(), "generic", store_id="shopify-1k")
    return products, lines


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


def or_small_store() -> tuple[list, Any]:
    from ingest.columnar import read_order_lines

    return [], read_order_lines(first_invoices_csv(1000), "online_retail", store_id="or-1k")


def or_full_store() -> tuple[list, Any]:
    from ingest.columnar import read_order_lines

    return [], read_order_lines(ONLINE_RETAIL, "online_retail", store_id="or-full")


def olist_store() -> tuple[list, Any]:
    from ingest.columnar import read_order_lines
    from ingest.olist import build_olist_catalog, load_categories

    items = OLIST / "olist_order_items_dataset.csv.gz"
    cat = build_olist_catalog(
        OLIST / "olist_products_dataset.csv.gz",
        items,
        OLIST / "olist_sellers_dataset.csv.gz",
        OLIST / "product_category_name_translation.csv.gz",
    )
    cats = load_categories(
        OLIST / "olist_products_dataset.csv.gz", OLIST / "product_category_name_translation.csv.gz"
    )
    return cat.products, read_order_lines(items, "olist", store_id="olist", categories=cats)


STORES = {
    "a": ("(a) shopify-1k: 4 Shopify catalogs + 1,000 synthetic orders", shopify_store, 100.0),
    "b": (
        "(b) or-1k: first 1,000 Online Retail invoices, catalog from orders",
        or_small_store,
        100.0,
    ),
    "c": ("(c) or-full: whole Online Retail history", or_full_store, 1000.0),
    "d": ("(d) olist: build_olist_catalog + order items", olist_store, None),
}


def build(key: str) -> tuple[list, Any, float, float]:
    """(catalog, order lines, parse wall ms, parse cpu ms)."""
    w0, c0 = time.perf_counter(), time.process_time()
    catalog, lines = STORES[key][1]()
    return catalog, lines, (time.perf_counter() - w0) * 1000, (time.process_time() - c0) * 1000


def run_engine(catalog: list, lines: Any, cache: Any):
    from bundling.engine import generate_bundle_set

    return generate_bundle_set(
        "bench", lines.store_id, catalog, [], order_lines=lines, embedding_cache=cache
    )


def timed(fn) -> tuple[float, float, Any]:
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return (time.perf_counter() - w0) * 1000, (time.process_time() - c0) * 1000, out


def bench_store(key: str, repeats: int) -> dict:
    from bundling.embeddings import InMemoryCache

    name, _, target = STORES[key]
    catalog, lines, pw, pc = build(key)
    warm_cache = InMemoryCache()
    timed(lambda: run_engine(catalog, lines, warm_cache))  # warm-up (fills the warm cache)
    res: dict[str, Any] = {
        "store": key,
        "name": name,
        "orders": lines.n_orders,
        "lines": lines.n_lines,
        "catalog": len(catalog) or "from orders",
        "parse_wall": pw,
        "parse_cpu": pc,
    }
    for label, make in (("cold", InMemoryCache), ("warm", lambda: warm_cache)):
        ws, cs, out = [], [], None
        for _ in range(repeats):
            w, c, out = timed(lambda make=make: run_engine(catalog, lines, make()))
            ws.append(w)
            cs.append(c)
        assert out is not None, "repeats >= 1"
        bs = out[0]
        res[label] = {
            "wall": statistics.median(ws),
            "cpu": statistics.median(cs),
            "min": min(ws),
            "bundles": len(bs.bundles),
            "cold_start": bs.metrics.cold_start,
        }
    res["target"] = target
    return res


def print_row(r: dict) -> None:
    print(
        f"{r['name']}\n  orders {r['orders']}, lines {r['lines']}, catalog {r['catalog']}; "
        f"parse {r['parse_wall']:.0f} ms wall / {r['parse_cpu']:.0f} ms CPU (once)"
    )
    for label in ("cold", "warm"):
        x = r[label]
        tgt = (
            f" (target < {r['target']:.0f} ms: {'OK' if x['wall'] < r['target'] else 'over'})"
            if r["target"]
            else ""
        )
        print(
            f"  {label} cache: median {x['wall']:.1f} ms wall, {x['cpu']:.1f} ms CPU, min {x['min']:.1f} ms; "
            f"bundles {x['bundles']}, cold_start {x['cold_start']}{tgt}"
        )
    if r["store"] == "c":
        print(
            f"  whole upload (parse + warm engine): {r['parse_wall'] + r['warm']['wall']:.0f} ms wall (target < 3000)"
        )


def profile(key: str) -> None:
    import cProfile
    import pstats

    from bundling.embeddings import InMemoryCache

    catalog, lines, _, _ = build(key)
    cache = InMemoryCache()
    run_engine(catalog, lines, cache)
    pr = cProfile.Profile()
    pr.enable()
    for _ in range(3):
        run_engine(catalog, lines, cache)
    pr.disable()
    pstats.Stats(pr).sort_stats("cumulative").print_stats(30)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--repeats", type=int, default=7, help="timed runs per store and cache state (median)"
    )
    ap.add_argument("--full-repeats", type=int, default=7, help="timed runs for (c) and (d)")
    ap.add_argument("--stores", nargs="+", default=list(STORES), choices=list(STORES))
    ap.add_argument("--profile", choices=list(STORES))
    args = ap.parse_args(argv)
    if args.profile:
        profile(args.profile)
        return 0
    for key in args.stores:
        print_row(bench_store(key, args.repeats if key in "ab" else args.full_repeats))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
