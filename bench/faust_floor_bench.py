"""How fast can faust-streaming deliver events at all? A no-op agent on the same local broker.

Separates Faust's own per-event cost from the orders agent's work: publishes N small order events
to a fresh 8-partition topic, then runs a worker whose agent only counts events, once with
``stream.take_events`` (what the orders agent uses) and once with plain per-event iteration.
Prints events/s for each next to the plain aiokafka consumer ceiling on the same topic.

    .venv/bin/python bench/faust_floor_bench.py [--events 50000]
    .venv/bin/python bench/faust_floor_bench.py --variants faust/aio,ours/aio,ours/uvloop --repeats 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from core.settings import get_settings

NOOP_APP = textwrap.dedent("""
    import os, time, faust
    App = faust.App
    if os.environ["FLOOR_TRANSPORT"] == "ours":
        from agents.transport import LowLatencyTransport
        class App(faust.App):
            def _new_transport(self):
                return LowLatencyTransport(self.conf.broker_consumer, self)
    app = App(os.environ["FLOOR_APP"], broker="kafka://" + os.environ["FLOOR_BOOTSTRAP"],
                    store="memory://", web_enabled=False, topic_disable_leader=True,
                    key_serializer="raw", value_serializer="raw", consumer_auto_offset_reset="earliest",
                    consumer_max_fetch_size=8 * 1024 * 1024, stream_buffer_maxsize=20000)
    topic = app.topic(os.environ["FLOOR_TOPIC"], partitions=8, internal=False)
    N = int(os.environ["FLOOR_N"]); MODE = os.environ["FLOOR_MODE"]
    state = {"n": 0, "t0": None}
    def tick(k):
        if state["t0"] is None: state["t0"] = time.perf_counter()
        state["n"] += k
        if state["n"] >= N:
            print(f"RESULT {state['n'] / (time.perf_counter() - state['t0']):.0f}", flush=True)
            os._exit(0)
    @app.agent(topic)
    async def noop(stream):
        if MODE == "take":
            async for events in stream.take_events(10000, within=0.5):
                tick(len(events))
        else:
            async for _event in stream.events():
                tick(1)
""")


async def publish(bootstrap: str, topic: str, n: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 8, 1)])
    await admin.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=20,
        max_batch_size=512 * 1024,
        acks="all",
        enable_idempotence=True,
    )
    await producer.start()
    for i in range(n):
        value = orjson.dumps(
            {
                "order_id": f"o{i}",
                "store_id": f"s{i % 64}",
                "lines": [{"product_id": f"p{i % 997}", "quantity": 1, "price": 9.5}],
            }
        )
        await producer.send(topic, key=f"s{i % 64}".encode(), value=value)
    await producer.flush()
    await producer.stop()


async def ceiling(bootstrap: str, topic: str, n: int) -> float:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 << 20,
    )
    await consumer.start()
    got, t0 = 0, None
    try:
        while got < n:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10000)
            if t0 is None and batches:
                t0 = time.perf_counter()
            for records in batches.values():
                for record in records:
                    orjson.loads(record.value)
                got += len(records)
    finally:
        await consumer.stop()
    return n / (time.perf_counter() - t0)


def run_noop(
    bootstrap: str, topic: str, n: int, mode: str, timeout_s: float, variant: str = "faust/aio"
) -> float | None:
    """events/s of the no-op worker; ``variant`` is transport/loop: ``faust`` is Faust's own
    aiokafka transport, ``ours`` the project's (``agents.transport``: inline message drain)."""
    transport, loop = variant.split("/")
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "floorapp.py").write_text(NOOP_APP)
        env = {
            **os.environ,
            "FLOOR_APP": f"floor-{uuid.uuid4().hex[:8]}",
            "FLOOR_BOOTSTRAP": bootstrap,
            "FLOOR_TOPIC": topic,
            "FLOOR_N": str(n),
            "FLOOR_MODE": mode,
            "FLOOR_TRANSPORT": transport,
            "PYTHONPATH": os.pathsep.join([tmp, str(REPO)]),
        }
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "faust",
                "-A",
                "floorapp",
                "--loop",
                loop,
                "--datadir",
                tmp,
                "worker",
                "--loglevel",
                "warn",
                "--without-web",
            ],
            env=env,
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        for line in (
            proc.stdout + proc.stderr
        ).splitlines():  # Faust redirects stdout to its logger
            if "RESULT " in line:
                return float(line.split("RESULT ", 1)[1].split()[0])
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--timeout", type=float, default=240.0)
    parser.add_argument(
        "--variants",
        default="faust/aio,ours/aio",
        help="comma-separated transport/loop pairs, run alternately: transport faust (Faust's "
        "aiokafka driver) or ours (agents.transport), loop aio or uvloop",
    )
    parser.add_argument("--repeats", type=int, default=1, help="runs per variant and mode; medians")
    args = parser.parse_args()
    bootstrap = get_settings().kafka_bootstrap
    topic = f"floor-{uuid.uuid4().hex[:8]}"
    asyncio.run(publish(bootstrap, topic, args.events))
    top = asyncio.run(ceiling(bootstrap, topic, args.events))
    print(f"aiokafka + orjson ceiling: {top:,.0f} events/s")
    variants = args.variants.split(",")
    for mode in ("take", "events"):
        rates: dict[str, list[float]] = {variant: [] for variant in variants}
        for _ in range(args.repeats):
            for variant in variants:  # alternate, so all see the same load
                try:
                    rate = run_noop(bootstrap, topic, args.events, mode, args.timeout, variant)
                except subprocess.TimeoutExpired:
                    rate = None
                if rate:
                    rates[variant].append(rate)
        base = statistics.median(rates[variants[0]]) if rates[variants[0]] else None
        for variant in variants:
            if not rates[variant]:
                print(f"faust no-op agent ({mode}, {variant}): did not finish")
                continue
            rate = statistics.median(rates[variant])
            runs = ", ".join(f"{r:,.0f}" for r in rates[variant])
            versus = f", {rate / base:.2f}x {variants[0]}" if base else ""
            print(
                f"faust no-op agent ({mode}, {variant}): median {rate:,.0f} events/s = "
                f"{rate / top:.1%} of the ceiling{versus} (runs: {runs})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
