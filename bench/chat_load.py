"""Shared machinery of the chat latency benches: an isolated bench stack and a paced turn load.

``chat_bench.py`` (idle worker) and ``chat_under_load_bench.py`` (worker busy with uploads) both
publish chat turns at a steady rate straight onto the chat-turns topic and time each reply as it
appears on composite-options (both clocks on this machine). A turn whose reply never comes within
the drain window counts as infinitely late, so a stalled worker cannot look fast by answering
only the turns it managed to serve.
"""

from __future__ import annotations

import asyncio
import math
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import topics as registry
from core.settings import Settings, get_settings
from deploy import local
from deploy.topics_admin import delete_topics, ensure_topics
from models import ChatTurn
from tests.e2e.support import register_catalog, start_worker
from tests.integration.harness import Worker

STORE = "bench-store"
TURN_TEXT = "date night on Saturday for $100, just show me options"


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (inf values sort last, so missing replies push the tail up)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


@dataclass
class LoadResult:
    """Latencies of one paced run; ``latencies_ms`` holds inf for every turn without a reply."""

    rate_per_s: float
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    sent_at_s: list[float] = field(
        default_factory=list
    )  # each turn's send time from the window start
    to_agent_ms: list[float] = field(default_factory=list)
    kinds: dict[str, int] = field(default_factory=dict)

    @property
    def replies(self) -> int:
        return sum(1 for v in self.latencies_ms if math.isfinite(v))

    def p(self, q: float) -> float:
        return pct(self.latencies_ms, q)

    def slow_window(self, q: float = 99) -> str:
        """When (seconds into the window) the turns slower than the q-th percentile were sent:
        tells a stall at the upload's start (request path) from one at its end (results)."""
        cut = self.p(q)
        times = [t for t, v in zip(self.sent_at_s, self.latencies_ms) if v >= cut]
        return f"{min(times):.1f}-{max(times):.1f} s" if times else "-"

    def summary(self) -> dict[str, Any]:
        lat = self.latencies_ms
        out: dict[str, Any] = {
            "turns": len(lat),
            "replies": self.replies,
            "rate_per_s": self.rate_per_s,
            "seconds": self.seconds,
            "kinds": self.kinds,
            "p50_ms": round(statistics.median(lat), 2),
            "p90_ms": round(self.p(90), 2),
            "p99_ms": round(self.p(99), 2),
            "max_ms": round(max(lat), 2),
        }
        if self.to_agent_ms:
            out["to_agent_p50_ms"] = round(statistics.median(self.to_agent_ms), 2)
            out["to_agent_p99_ms"] = round(pct(self.to_agent_ms, 99), 2)
        return out


@asynccontextmanager
async def bench_worker(
    name: str = "chat-bench", **env: str
) -> AsyncIterator[tuple[Settings, Worker]]:
    """Isolated topics + one worker with the bench store's date-night catalog; cleaned up after."""
    token = uuid.uuid4().hex[:10]
    settings = get_settings().model_copy(
        update={
            "topic_prefix": f"bench{token}",
            "app_id": f"benchapp{token}",
            "upload_store_dir": Path(tempfile.mkdtemp(prefix="bs-chat-bench-uploads-")),
        }
    )
    local.up(settings, log=lambda line: None)
    ensure_topics(settings)
    worker = await start_worker(settings, name, **env)
    try:
        await register_catalog(settings, STORE, worker=worker)
        yield settings, worker
    finally:
        worker.stop()
        delete_topics(settings, settings.topic_prefix)
        delete_topics(settings, settings.app_id)
        shutil.rmtree(settings.upload_store_dir, ignore_errors=True)


class ChatLoad:
    """A producer and a composite-options consumer kept open across runs (no per-run set-up cost)."""

    def __init__(self, settings: Settings, store_id: str = STORE) -> None:
        self.settings, self.store_id = settings, store_id
        self.consumer = AIOKafkaConsumer(
            registry.COMPOSITE_OPTIONS.name(settings.topic_prefix),
            bootstrap_servers=settings.kafka_bootstrap,
            auto_offset_reset="latest",
            enable_auto_commit=False,
            fetch_max_wait_ms=5,
        )
        self.producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap,
            linger_ms=0,
            acks="all",
            enable_idempotence=True,
        )
        self.runs = 0

    async def __aenter__(self) -> ChatLoad:
        await self.consumer.start()
        await self.producer.start()
        await asyncio.sleep(
            1.0
        )  # let the consumer's "latest" position settle before the first turn
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.producer.stop()
        await self.consumer.stop()

    async def run(self, rate: float, seconds: float, drain_s: float = 30.0) -> LoadResult:
        """``rate`` turns/s for ``seconds``, each on a new session (full path: plan, discovery,
        options, card); then wait at most ``drain_s`` for the stragglers."""
        self.runs += 1
        tag = f"r{self.runs}-{uuid.uuid4().hex[:6]}"
        result = LoadResult(rate, seconds)
        sent: dict[str, float] = {}
        sent_wall: dict[str, float] = {}
        got: dict[str, float] = {}
        total = int(rate * seconds)

        async def receive() -> None:
            while len(got) < total:
                batch = await self.consumer.getmany(timeout_ms=100)
                now = time.perf_counter()
                for records in batch.values():
                    for r in records:
                        reply = orjson.loads(r.value)
                        turn_id = reply["turn_id"]
                        if turn_id in sent and turn_id not in got:
                            got[turn_id] = (now - sent[turn_id]) * 1000
                            result.kinds[reply["kind"]] = result.kinds.get(reply["kind"], 0) + 1
                            created = datetime.fromisoformat(reply["created_at"]).timestamp()
                            result.to_agent_ms.append(
                                (created - sent_wall[turn_id]) * 1000 - reply["latency_ms"]
                            )

        receiver = asyncio.create_task(receive())
        topic = registry.CHAT_TURNS.name(self.settings.topic_prefix)
        started = time.perf_counter()
        for i in range(total):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            turn = ChatTurn(
                turn_id=f"{tag}-{i}",
                session_id=f"bench-{tag}-{i}",
                store_id=self.store_id,
                text=TURN_TEXT,
            )
            sent[turn.turn_id] = time.perf_counter()
            sent_wall[turn.turn_id] = time.time()
            await self.producer.send(topic, key=self.store_id.encode(), value=turn.to_bytes())
        try:
            await asyncio.wait_for(receiver, timeout=drain_s)
        except TimeoutError:
            receiver.cancel()
        result.latencies_ms = [got.get(t, math.inf) for t in sent]
        result.sent_at_s = [sent[t] - started for t in sent]
        return result
