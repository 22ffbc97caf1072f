"""Live stock: the cost of folding one orders batch into a store's stock and re-gating its set.

What the orders agent's stock hook does per store and batch, without Kafka: ``apply_orders``
(``popularity.stock``), the ``stock-levels`` record as JSON, and ``restate``
(``bundling.regate``). The store has ``--bundles`` bundles of ``--size`` products (the most a set
holds is 10 x 10); each order has ``--lines`` lines on random components, with stock enough that
no bundle drops. Printed: CPU time per batch (median, p90, max over ``--rounds``) and the record's
size in bytes.

    .venv/bin/python bench/stock_bench.py [--batch 2000] [--bundles 10] [--size 10] [--lines 3]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bundling.regate import restate
from models import BundleSet
from popularity import AppliedOrder
from popularity.stock import apply_orders, from_catalog


def bundle_set(bundles: int, size: int) -> BundleSet:
    def bundle(i: int) -> dict:
        return {
            "bundle_id": f"b{i}",
            "bundle_type": "FBT",
            "objective": "increase_aov",
            "products": [
                {"product_id": f"p{i * size + j}", "unit_price": 10.0} for j in range(size)
            ],
            "pricing": {
                "list_price": 10.0 * size,
                "bundle_price": 9.0 * size,
                "discount_pct": 10.0,
            },
            "score": 0.5,
            "score_components": {
                "semantic": 0.1,
                "data": 0.2,
                "business": 0.3,
                "alpha": 0.3,
                "beta": 0.3,
                "gamma": 0.4,
            },
            "generation_method": "bench",
        }

    return BundleSet.model_validate(
        {
            "upload_id": "u",
            "store_id": "s",
            "bundles": [bundle(i) for i in range(bundles)],
            "metrics": {"csv_upload_id": "u", "store_id": "s"},
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--bundles", type=int, default=10)
    parser.add_argument("--size", type=int, default=10)
    parser.add_argument("--lines", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    original = bundle_set(args.bundles, args.size)
    pids = sorted({p.product_id for b in original.bundles for p in b.products})
    state = from_catalog("u", original.to_bytes().decode(), dict.fromkeys(pids, 10**9))
    rng = random.Random(1)
    cpu: list[float] = []
    record = b""
    for r in range(args.rounds):
        batch = [
            AppliedOrder(
                0,
                r * args.batch + i,
                "s",
                f"o{r}-{i}",
                1000 + i,
                1,
                {rng.choice(pids): 1 for _ in range(args.lines)},
                {},
            )
            for i in range(args.batch)
        ]
        started = time.process_time()
        folded = apply_orders(state, batch)
        record = orjson.dumps(folded.state.to_json())
        restate(original, original, folded.state.levels(), datetime.now(UTC))
        cpu.append((time.process_time() - started) * 1000)
        state = folded.state
    cpu.sort()
    print(
        f"{args.batch} orders x {args.lines} lines, {len(pids)} components: CPU per batch "
        f"median {cpu[len(cpu) // 2]:.1f} ms, p90 {cpu[int(len(cpu) * 0.9)]:.1f} ms, "
        f"max {cpu[-1]:.1f} ms; stock-levels record {len(record):,} bytes"
    )


if __name__ == "__main__":
    main()
