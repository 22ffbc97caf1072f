"""Chat turn -> reply latency through Kafka on the deterministic path.

Starts the local stack's isolated topics and one worker subprocess, registers the date-night
catalog through the uploads topic, then publishes chat turns at a steady rate (default 50/s for
20 s), each "date night ... just show me options" on its own session so every turn runs the full
path (plan, discovery, options, card). Latency = reply seen on composite-options minus the turn's
publish time (both on this machine's clock). Prints p50/p90/p99/max; target p99 < 100 ms.
The machinery is shared with ``chat_under_load_bench.py`` (``bench/chat_load.py``).

    .venv/bin/python bench/chat_bench.py [--rate 50] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chat_load import ChatLoad, bench_worker


async def run(rate: float, seconds: float) -> dict:
    async with bench_worker("chat-bench") as (settings, _worker), ChatLoad(settings) as load:
        result = await load.run(rate, seconds, drain_s=60)
    out = result.summary()
    out.update({"target_p99_ms": 100, "met": result.p(99) < 100})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    print(
        orjson.dumps(asyncio.run(run(args.rate, args.seconds)), option=orjson.OPT_INDENT_2).decode()
    )


if __name__ == "__main__":
    main()
