"""Upload -> bundle set through the pure engine (no LLM, no broker): parsing + generation.

(a) small stores:
    - the first 1,000 Online Retail invoices (their raw CSV rows inline, plus a catalog derived
      from the order lines, since Online Retail has none and an upload needs one), <= 100 ms,
    - the Shopify sample store: products_export.csv catalog + orders_export.csv orders, inline,
      <= 10 ms;
(b) the whole Online Retail history: derived catalog inline, the .gz by file reference, <= 1 s.

The process first runs ``--warmup`` untimed uploads (default 1): the first upload of a process
imports pyarrow and the engine's modules (~0.8 s), which a worker's upload pool does when its
children start, before any upload reaches them.

Each case also times a bare ``pyarrow.csv.read_csv`` of the same orders file (the bytes, or the
.gz by path), interleaved run by run with the uploads in this process, and prints both medians
and their ratio: a figure that holds on any machine. Target for (b): upload -> bundle set at most
4x the bare read.

Timed per run: ``bundling.uploads.parse_upload`` (catalog + columnar order parsing) and
``bundling.uploads.generate`` (the engine): the pure work the uploads agent does for one upload
event (no Kafka, Redis or LLM; fresh rolling costs and category tallies). Peak memory: one extra
untimed run under tracemalloc, plus the process's max RSS.

``--mode`` says where that work runs, seen from an asyncio loop like the worker's:
``inline`` (default: a plain call), ``thread`` (``asyncio.to_thread``, how the agent ran it
before the pool) or ``pool`` (the agent's process pool, ``bundling.upload_pool``: the job and
outcome cross the process boundary and the catalog is decoded in chunks on the loop). For
``thread`` and ``pool`` the loop's worst lag during the upload is printed: how long a 5 ms
timer fired late, i.e. the longest the worker could not serve heartbeats, HTTP or chat.

The bundle set of each case must not change with a speed-up: its JSON, with the fields that
vary from run to run left out (timestamps and timings), is hashed and compared with the digest
recorded from ``b23da8d``; a mismatch fails the bench (``--dump DIR`` writes the JSON to diff).

    .venv/bin/python bench/upload_bench.py [--repeats 20] [--full-repeats 3] [--warmup 1] [--mode pool]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gzip
import hashlib
import io
import json
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
from tests.shared_data import shared_data

DATA = shared_data()
ONLINE_RETAIL = DATA / "online_retail.csv.gz"
SHOPIFY_ORDERS = DATA / "shopify" / "orders_export.csv"
SHOPIFY_PRODUCTS = DATA / "shopify" / "products_export.csv"
SMALL_TARGET_MS = 100.0
SHOPIFY_TARGET_MS = 10.0
FULL_TARGET_MS = 1000.0
FULL_TARGET_RATIO = 4.0  # upload -> bundle set over a bare pyarrow read_csv of the orders file
# Fields that differ between two runs of the same upload: when it ran and how long it took.
VOLATILE = frozenset(
    {"generated_at", "created_at", "parse_ms", "duration_ms", "actual_duration_ms"}
)
# sha256 of each case's bundle set (``bundle_set_digest``) as ``b23da8d`` generates it.
EXPECTED_DIGESTS = {
    "small": "7fa311c2a782ce0dbf8accdc8f10cb98eb3e93484f33dfd19c54dfb8cd853ccf",
    "shopify": "04211ed1491bbccf90d2d0b34eb483a64500dd8e83ee7ed0ac742caccc70de12",
    "full": "faaaed84076cff1e5a7b2da23f158d593624687817cb7f858e19d6d8ebcc15ac",
}


def online_retail_inputs(n_invoices: int = 1000) -> tuple[bytes, bytes, bytes]:
    """(full catalog CSV, small catalog CSV, first ``n_invoices`` invoices' raw rows) as bytes.

    Online Retail ships no catalog and an upload needs one, so a generic catalog is derived from
    the order lines, built before any clock starts: one product per StockCode with its first
    description as title, the last word of it as category and its first positive unit price.
    """
    products: dict[str, list[str]] = {}
    small: list[bytes] = []
    small_skus: set[str] = set()
    seen: set[str] = set()
    with gzip.open(ONLINE_RETAIL, "rb") as fh:
        small.append(fh.readline())
        for raw in fh:
            row = next(csv.reader([raw.decode("utf-8")]))
            inv, sku, desc, price = row[0], row[1], row[2], row[5]
            if sku and desc and sku not in products and float(price) > 0:
                words = [w for w in desc.lower().split() if w.isalpha()]
                products[sku] = [sku, desc.title(), words[-1] if words else "misc", price]
            if inv not in seen and len(seen) >= n_invoices:
                continue
            seen.add(inv)
            small.append(raw)
            small_skus.add(sku)

    def to_csv(rows: list[list[str]]) -> bytes:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["product_id", "title", "category", "price"])
        w.writerows(rows)
        return buf.getvalue().encode()

    return (
        to_csv(list(products.values())),
        to_csv([v for k, v in products.items() if k in small_skus]),
        b"".join(small),
    )


def _stable(value: Any) -> Any:
    """``value`` without the volatile fields, at any depth."""
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def bundle_set_json(bundle_set: Any) -> str:
    """The bundle set as sorted, indented JSON, volatile fields left out (what two trees compare)."""
    return json.dumps(_stable(json.loads(bundle_set.model_dump_json())), indent=1, sort_keys=True)


def bundle_set_digest(bundle_set: Any) -> str:
    return hashlib.sha256(bundle_set_json(bundle_set).encode()).hexdigest()


def _file(kind: str, fmt: str, data: bytes | Path) -> Any:
    from models import UploadFile

    if isinstance(data, Path):  # large files travel by reference, as in production
        return UploadFile(kind=kind, format=fmt, filename=data.name, uri=data.resolve().as_uri())
    return UploadFile(kind=kind, format=fmt, filename=f"{kind}.csv", inline_text=data.decode())


def read_file(f: Any) -> bytes:
    """The agent's resolver, minus the upload store: inline text, or the referenced local file."""
    if f.inline_text is not None:
        return f.inline_text.encode()
    return Path(f.uri.removeprefix("file://")).read_bytes()


def upload(catalog: tuple[str, bytes | Path], orders: tuple[str, bytes | Path]):
    """One upload end to end through the uploads agent's pure pipeline: parse, then generate."""
    from bundling.budget import RollingCosts
    from bundling.uploads import generate, parse_upload
    from models import UploadEvent

    event = UploadEvent(
        upload_id="bench-upload",
        store_id="bench",
        files=[_file("catalog", *catalog), _file("orders", *orders)],
    )
    parsed = parse_upload(event, read_file)
    bundle_set, _ = generate(event, parsed, {}, RollingCosts())
    n_orders = bundle_set.metrics.transactions
    return bundle_set, n_orders, len(parsed.catalog)


class Runner:
    """Runs one upload inline, in a thread or in the process pool, from one asyncio loop."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.loop = asyncio.new_event_loop()
        self.pool = None
        self.max_lag_ms = 0.0
        if mode == "pool":
            from bundling.upload_pool import DeadlinePool

            self.pool = DeadlinePool(1, 120.0)
            for future in self.pool.start():
                future.result()

    def __call__(self, catalog: tuple[str, bytes | Path], orders: tuple[str, bytes | Path]):
        if self.mode == "inline":
            return upload(catalog, orders)
        return self.loop.run_until_complete(self._with_lag(catalog, orders))

    async def _with_lag(self, catalog, orders):
        work = asyncio.ensure_future(self._run(catalog, orders))
        while not work.done():
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            self.max_lag_ms = max(self.max_lag_ms, (time.perf_counter() - before - 0.005) * 1000)
        return await work

    async def _run(self, catalog, orders):
        if self.mode == "thread":
            return await asyncio.to_thread(upload, catalog, orders)
        from bundling.upload_pool import UploadJob, run_upload
        from ingest.limits import Limits
        from models import UploadEvent

        event = UploadEvent(
            upload_id="bench-upload",
            store_id="bench",
            files=[_file("catalog", *catalog), _file("orders", *orders)],
        )
        job = UploadJob(
            upload=event.to_bytes(),
            tallies={},
            rolling_costs=None,
            limits=Limits(),
            upload_store_dir=str(DATA),
        )
        outcome = await self.pool.run(run_upload, job)
        products = await outcome.products()
        bundle_set = outcome.bundle_set
        return bundle_set, bundle_set.metrics.transactions, len(products)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
        self.loop.close()


def bare_read(orders: bytes | Path) -> Callable[[], Any]:
    """A bare ``pyarrow.csv.read_csv`` of the orders file: the floor a columnar parse works from."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if isinstance(orders, Path):
        return lambda: pacsv.read_csv(orders)
    return lambda: pacsv.read_csv(pa.BufferReader(orders))


def measure(
    name: str,
    fn: Callable[[], Any],
    repeats: int,
    target_ms: float,
    runner: Runner | None = None,
    bare: Callable[[], Any] | None = None,
    target_ratio: float | None = None,
    case: str = "",
    dump: Path | None = None,
) -> bool:
    times = []
    cpu_times = []
    bare_times = []
    bare_cpu = []
    result = None
    lags = []
    for _ in range(repeats):
        if bare is not None:
            c, t = time.process_time(), time.perf_counter()
            bare()
            bare_times.append((time.perf_counter() - t) * 1000)
            bare_cpu.append((time.process_time() - c) * 1000)
        if runner is not None:
            runner.max_lag_ms = 0.0
        c, t = time.process_time(), time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t) * 1000)
        cpu_times.append((time.process_time() - c) * 1000)
        if runner is not None:
            lags.append(runner.max_lag_ms)
    tracemalloc.start()
    if runner is None or runner.mode == "inline":
        fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    bundle_set, n_orders, n_catalog = result
    med = statistics.median(times)
    ok = med <= target_ms
    digest = bundle_set_digest(bundle_set)
    same = digest == EXPECTED_DIGESTS.get(case)
    ok &= same
    if dump is not None:
        dump.mkdir(parents=True, exist_ok=True)
        (dump / f"{case}.json").write_text(bundle_set_json(bundle_set))
    m = bundle_set.metrics
    print(
        f"{name}\n  orders {n_orders}, catalog {n_catalog}, status {bundle_set.status} {bundle_set.error or ''}, "
        f"bundles {len(bundle_set.bundles)}, cold_start {m.cold_start}, parse {m.parse_ms:.1f} ms, "
        f"engine {m.time_budget.actual_duration_ms if m.time_budget else float('nan'):.1f} ms (last run)"
    )
    print(
        f"  runs {repeats}: median {med:.1f} ms, min {min(times):.1f}, max {max(times):.1f}  "
        f"(target <= {target_ms:.0f} ms) {'OK' if ok else 'FAIL'}; peak traced memory {peak / 2**20:.1f} MiB"
    )
    if bare_times:
        bare_med = statistics.median(bare_times)
        ratio = med / bare_med
        verdict = ""
        if target_ratio is not None:
            ratio_ok = ratio <= target_ratio
            ok &= ratio_ok
            verdict = f"  (target <= {target_ratio:.0f}x) {'OK' if ratio_ok else 'FAIL'}"
        print(
            f"  bare pyarrow.csv.read_csv of the orders file: median {bare_med:.1f} ms; "
            f"upload -> bundle set median {med:.1f} ms = {ratio:.2f}x the bare read{verdict}"
        )
        if runner is None or runner.mode == "inline":
            # CPU seconds of this process (all its threads): what a busy machine distorts least
            cpu, cpu_bare = statistics.median(cpu_times), statistics.median(bare_cpu)
            print(
                f"  process CPU time: bare read median {cpu_bare:.1f} ms, upload median "
                f"{cpu:.1f} ms = {cpu / cpu_bare:.2f}x"
            )
    print(
        f"  bundle set sha256 {digest[:16]}: "
        f"{'identical to b23da8d' if same else 'DIFFERS from b23da8d (FAIL)'}"
    )
    if runner is not None and runner.mode != "inline":
        print(
            f"  event loop ({runner.mode}): worst lag per run median {statistics.median(lags):.1f} ms, "
            f"max {max(lags):.1f} ms"
        )
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--repeats", type=int, default=20, help="runs of each small store (median)")
    ap.add_argument(
        "--full-repeats", type=int, default=3, help="runs of the whole Online Retail history"
    )
    ap.add_argument("--skip-full", action="store_true")
    ap.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="untimed uploads first: the imports a worker's upload pool does when it starts",
    )
    ap.add_argument(
        "--mode",
        choices=("inline", "thread", "pool"),
        default="inline",
        help="where parse + generate run (see above)",
    )
    ap.add_argument(
        "--dump", type=Path, help="write each case's bundle set JSON (as hashed) to this directory"
    )
    args = ap.parse_args(argv)

    full_catalog, small_catalog, small_orders = online_retail_inputs(1000)
    runner = Runner(args.mode)
    print(f"mode: {args.mode}, {args.warmup} untimed warm-up upload(s)")
    for _ in range(args.warmup):
        runner(("generic", small_catalog), ("online_retail", small_orders))
    ok = True
    ok &= measure(
        "(a) Online Retail, first 1,000 invoices (inline CSVs: derived catalog + raw rows)",
        lambda: runner(("generic", small_catalog), ("online_retail", small_orders)),
        args.repeats,
        SMALL_TARGET_MS,
        runner,
        bare_read(small_orders),
        case="small",
        dump=args.dump,
    )
    shop_orders, shop_products = SHOPIFY_ORDERS.read_bytes(), SHOPIFY_PRODUCTS.read_bytes()
    ok &= measure(
        "(a) Shopify sample store: products_export.csv + orders_export.csv (inline)",
        lambda: runner(("shopify_products", shop_products), ("shopify_orders", shop_orders)),
        args.repeats,
        SHOPIFY_TARGET_MS,
        runner,
        bare_read(shop_orders),
        case="shopify",
        dump=args.dump,
    )
    if not args.skip_full:
        ok &= measure(
            "(b) whole Online Retail history: derived catalog inline + online_retail.csv.gz by reference",
            lambda: runner(("generic", full_catalog), ("online_retail", ONLINE_RETAIL)),
            args.full_repeats,
            FULL_TARGET_MS,
            runner,
            bare_read(ONLINE_RETAIL),
            FULL_TARGET_RATIO,
            case="full",
            dump=args.dump,
        )
    runner.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process max RSS {rss:.0f} MiB")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
