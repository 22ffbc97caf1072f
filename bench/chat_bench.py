"""Chat turn -> reply latency through Kafka on the deterministic path (seed 004 speed target).

Starts the local stack's isolated topics and one worker subprocess, registers the date-night
catalog through the uploads topic, then publishes chat turns at a steady rate (default 50/s for
20 s), each "date night ... just show me options" on its own session so every turn runs the full
path (plan, discovery, options, card). Latency = reply seen on composite-options minus the turn's
publish time (both on this machine's clock). Prints p50/p90/p99/max; target p99 < 100 ms.

    .venv/bin/python bench/chat_bench.py [--rate 50] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import topics as registry  # noqa: E402
from bundlestream.settings import get_settings  # noqa: E402
from deploy import local  # noqa: E402
from deploy.topics_admin import delete_topics, ensure_topics  # noqa: E402
from models import ChatTurn  # noqa: E402
from tests.e2e.support import register_catalog, start_worker  # noqa: E402

STORE = "bench-store"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


async def run(rate: float, seconds: float) -> dict:
    token = uuid.uuid4().hex[:10]
    settings = get_settings().model_copy(update={"topic_prefix": f"bench{token}", "app_id": f"benchapp{token}"})
    local.up(settings, log=lambda line: None)
    ensure_topics(settings)
    worker = await start_worker(settings, "chat-bench")
    try:
        await register_catalog(settings, STORE, worker=worker)
        consumer = AIOKafkaConsumer(registry.COMPOSITE_OPTIONS.name(settings.topic_prefix),
                                    bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="latest",
                                    enable_auto_commit=False, fetch_max_wait_ms=5)
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=0, acks=1)
        await consumer.start()
        await producer.start()
        await asyncio.sleep(1.0)  # let the consumer's "latest" position settle before the first turn
        sent: dict[str, float] = {}
        sent_wall: dict[str, float] = {}
        to_agent: list[float] = []  # publish -> the agent starts the turn (wall clock, same machine)
        latencies: list[float] = []
        kinds: dict[str, int] = {}
        total = int(rate * seconds)

        async def receive() -> None:
            while len(latencies) < total:
                batch = await consumer.getmany(timeout_ms=100)
                now = time.perf_counter()
                for records in batch.values():
                    for r in records:
                        reply = orjson.loads(r.value)
                        if reply["turn_id"] in sent:
                            latencies.append((now - sent[reply["turn_id"]]) * 1000)
                            kinds[reply["kind"]] = kinds.get(reply["kind"], 0) + 1
                            created = datetime.fromisoformat(reply["created_at"]).timestamp()
                            to_agent.append((created - sent_wall[reply["turn_id"]]) * 1000 - reply["latency_ms"])

        receiver = asyncio.create_task(receive())
        topic = registry.CHAT_TURNS.name(settings.topic_prefix)
        started = time.perf_counter()
        for i in range(total):
            due = started + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            turn = ChatTurn(turn_id=f"t{i}", session_id=f"bench-{token}-{i}", store_id=STORE,
                            text="date night on Saturday for $100, just show me options")
            sent[turn.turn_id] = time.perf_counter()
            sent_wall[turn.turn_id] = time.time()
            await producer.send(topic, key=STORE.encode(), value=turn.to_bytes())
        try:
            await asyncio.wait_for(receiver, timeout=60)
        except asyncio.TimeoutError:
            receiver.cancel()
        await producer.stop()
        await consumer.stop()
        return {
            "turns": total, "replies": len(latencies), "rate_per_s": rate, "seconds": seconds, "kinds": kinds,
            "p50_ms": round(statistics.median(latencies), 2), "p90_ms": round(pct(latencies, 90), 2),
            "p99_ms": round(pct(latencies, 99), 2), "max_ms": round(max(latencies), 2),
            "to_agent_p50_ms": round(statistics.median(to_agent), 2), "to_agent_p99_ms": round(pct(to_agent, 99), 2),
            "target_p99_ms": 100, "met": pct(latencies, 99) < 100,
        }
    finally:
        worker.stop()
        delete_topics(settings, settings.topic_prefix)
        delete_topics(settings, settings.app_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    print(orjson.dumps(asyncio.run(run(args.rate, args.seconds)), option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
