"""Bulk add load: a loopback aiohttp load generator against POST /api/v1/bundle/add-bulk.

Isolated topics, one worker subprocess, the date-night catalog registered through the uploads
topic; then ``--concurrency`` clients send requests shaped like a card click (3 product ids, a new bundle each,
every 4th extends the client's previous bundle) until ``--requests`` or ``--seconds`` is reached.
Prints requests/s, p50/p99 and the status counts.

    .venv/bin/python bench/bulk_add_bench.py [--requests 5000] [--seconds 20] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.settings import get_settings
from deploy import local
from deploy.topics_admin import delete_topics, ensure_topics
from tests.e2e.support import DATE_NIGHT_IDS, register_catalog, start_worker
from tests.integration.harness import admin_headers

STORE = "bench-bulk"


async def run(requests: int, seconds: float, concurrency: int) -> dict:
    token = uuid.uuid4().hex[:10]
    settings = get_settings().model_copy(
        update={"topic_prefix": f"bench{token}", "app_id": f"benchapp{token}"}
    )
    local.up(settings, log=lambda line: None)
    ensure_topics(settings)
    # ~1k requests/s from one key: far above the default per-key limit a real client needs
    worker = await start_worker(
        settings, "bulk-bench", BUNDLESTREAM_RATE_LIMIT_BULK_ADD_PER_MIN="1000000"
    )
    ids = sorted(DATE_NIGHT_IDS)
    try:
        await register_catalog(settings, STORE, worker=worker)
        url = worker.url + "/api/v1/bundle/add-bulk"
        headers = {"Content-Type": "application/json", **admin_headers()}
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        counter = itertools.count()
        deadline = time.perf_counter() + seconds

        async def client(session: aiohttp.ClientSession, n: int) -> None:
            bundle_id = None
            while time.perf_counter() < deadline:
                i = next(counter)
                if i >= requests:
                    return
                body = {
                    "product_ids": [
                        ids[i % len(ids)],
                        ids[(i * 7 + 3) % len(ids)],
                        ids[(i * 11 + 5) % len(ids)],
                    ],
                    "store_id": STORE,
                    "user_id": f"u{n}",
                }
                if bundle_id and i % 4 == 0:
                    body["bundle_id"] = bundle_id
                t0 = time.perf_counter()
                async with session.post(url, data=orjson.dumps(body), headers=headers) as r:
                    answer = await r.read()
                latencies.append((time.perf_counter() - t0) * 1000)
                statuses[r.status] = statuses.get(r.status, 0) + 1
                if r.status == 200:
                    bundle_id = orjson.loads(answer)["bundle_id"]

        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            started = time.perf_counter()
            await asyncio.gather(*(client(session, n) for n in range(concurrency)))
            elapsed = time.perf_counter() - started
        ordered = sorted(latencies)
        return {
            "requests": len(latencies),
            "seconds": round(elapsed, 2),
            "concurrency": concurrency,
            "requests_per_s": round(len(latencies) / elapsed, 1),
            "statuses": {str(k): v for k, v in statuses.items()},
            "p50_ms": round(statistics.median(ordered), 2),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * (len(ordered) - 1)))], 2),
            "max_ms": round(ordered[-1], 2),
        }
    finally:
        worker.stop()
        delete_topics(settings, settings.topic_prefix)
        delete_topics(settings, settings.app_id)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    print(
        orjson.dumps(
            asyncio.run(run(args.requests, args.seconds, args.concurrency)),
            option=orjson.OPT_INDENT_2,
        ).decode()
    )


if __name__ == "__main__":
    main()
