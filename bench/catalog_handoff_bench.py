"""How long the worker's event loop is blocked while it takes a parsed catalog back from the pool.

Broker-free replay of the uploads agent's hand-off for the Olist catalog (32,951 products, built
as the demo builds it): the pickled chunks the child returns are decoded and indexed on an event
loop while a probe task measures the longest stretch the loop could not run it (the chat reply
p99 tail at the end of a big upload). Two ways, alternating, ``--repeats`` times each:

- ``previous``: decode with the cyclic GC running, index in one go, ``gc.freeze()`` after,
  count categories on the loop (the hand-off before the fix);
- ``current``: what ``agents.uploads`` does now (GC paused during the decode, then frozen;
  ``CatalogView.build_async``; the summary comes from the child).

Before each run the process holds 100k frozen long-lived dicts, like a worker after start-up.

    .venv/bin/python bench/catalog_handoff_bench.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.catalogs import CatalogView
from bundlestream.demo import olist_catalog_csv
from bundling.upload_pool import long_lived_allocation, pickle_chunks, unpickle_chunks
from ingest.catalog import parse_catalog


async def previous(chunks: list[bytes]) -> object:
    products = await unpickle_chunks(chunks)
    view = CatalogView.build("s", "u", products, "sha")
    gc.freeze()
    sorted({p.category for p in view.products})[:200]
    return view


async def current(chunks: list[bytes]) -> object:
    with long_lived_allocation():
        products = await unpickle_chunks(chunks)
        return await CatalogView.build_async("s", "u", products, "sha", currency="BRL")


async def measure(handoff, chunks: list[bytes]) -> tuple[float, float]:
    """(seconds for the hand-off, longest loop block in ms)."""
    blocks: list[float] = []
    done = False

    async def probe() -> None:
        while not done:
            t = time.perf_counter()
            await asyncio.sleep(0)
            blocks.append((time.perf_counter() - t) * 1000)

    task = asyncio.create_task(probe())
    await asyncio.sleep(0)
    started = time.perf_counter()
    view = await handoff(chunks)
    elapsed = time.perf_counter() - started
    done = True
    await task
    del view
    return elapsed, max(blocks)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path, _ = olist_catalog_csv(Path(folder) / "olist_catalog.csv")
        products = parse_catalog(path.read_bytes(), "generic").products
    chunks = pickle_chunks(products)
    print(
        f"Olist catalog: {len(products):,} products in {len(chunks)} chunks, "
        f"{sum(map(len, chunks)) / 2**20:.1f} MiB pickled"
    )
    del products
    results: dict[str, list[tuple[float, float]]] = {"previous": [], "current": []}
    for _ in range(args.repeats):
        for name, handoff in (("previous", previous), ("current", current)):
            gc.unfreeze()
            gc.collect()
            ballast = [
                {"id": i, "tags": [str(i)]} for i in range(100_000)
            ]  # a worker's long-lived state
            gc.freeze()
            results[name].append(asyncio.run(measure(handoff, chunks)))
            del ballast
    print(f"{'hand-off':10s} {'median s':>9s} {'max loop block ms (median / worst)':>36s}")
    for name, runs in results.items():
        blocks = [b for _, b in runs]
        print(
            f"{name:10s} {statistics.median(s for s, _ in runs):9.2f} "
            f"{statistics.median(blocks):21.1f} / {max(blocks):.1f}"
        )


if __name__ == "__main__":
    main()
