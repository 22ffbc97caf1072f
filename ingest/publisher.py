"""Send OrderEvents to the orders topic. The only Kafka code in ``ingest``; parsers stay pure.

Producer settings favour throughput with exactly-once-per-partition delivery: batches linger
20 ms, are compressed (lz4 when installed, else gzip), need all in-sync replicas (acks=all) and
the idempotent producer removes duplicates from retries. Keys are store ids, so a store's orders
stay in one partition (co-partitioning with the tables).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, Callable, Iterable
from dataclasses import dataclass, field

from core.settings import Settings
from models.orders import OrderEvent
from topics import ORDERS

IN_FLIGHT = 5000  # awaited in chunks: one await per message would serialise on the round trip


def compression_type() -> str:
    """lz4 when aiokafka can use it (cramjam/lz4 installed), else gzip from the standard library."""
    from aiokafka import codec

    return "lz4" if codec.has_lz4() else "gzip"


def producer_config(settings: Settings, compression: str | None = None) -> dict:
    """``compression``: None picks lz4/gzip; "none" disables it. aiokafka's gzip is level 9 and
    costs ~5 s of CPU per 68 MB replay, so throughput runs (benchmarks) may prefer "none"."""
    chosen = compression or compression_type()
    return {
        "bootstrap_servers": settings.kafka_bootstrap,
        "linger_ms": 20,
        "acks": "all",
        "enable_idempotence": True,
        "compression_type": None if chosen == "none" else chosen,
        "max_batch_size": 512 * 1024,
        "request_timeout_ms": 30_000,
    }


@dataclass
class PublishStats:
    sent: int = 0
    bytes: int = 0
    seconds: float = 0.0
    kinds: dict[str, int] = field(default_factory=dict)  # events sent per kind (order, refund...)

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0


async def publish_orders(
    settings: Settings,
    events: Iterable[OrderEvent] | AsyncIterable[OrderEvent],
    *,
    topic: str | None = None,
    limit: int | None = None,
    rate: float | None = None,
    progress: Callable[[PublishStats], None] | None = None,
    producer=None,
    compression: str | None = None,
) -> PublishStats:
    """Publish events (keyed by store_id) and wait until the broker acknowledged every one.

    ``rate`` caps events per second (replays that should look like live traffic); ``progress`` is
    called at most ~4 times a second. Pass an existing ``producer`` to reuse a connection.
    """
    from aiokafka import AIOKafkaProducer

    topic = topic or ORDERS.name(settings.topic_prefix)
    own = producer is None
    if own:
        producer = AIOKafkaProducer(**producer_config(settings, compression))
        await producer.start()
    stats = PublishStats()
    started = last_report = time.perf_counter()
    pending: list[asyncio.Future] = []
    try:
        async for event in _aiter(events):
            if limit is not None and stats.sent >= limit:
                break
            value = event.to_bytes()
            pending.append(
                await producer.send(topic, value=value, key=event.store_id.encode("utf-8"))
            )
            stats.sent += 1
            stats.bytes += len(value)
            stats.kinds[event.kind] = stats.kinds.get(event.kind, 0) + 1
            if len(pending) >= IN_FLIGHT:
                await asyncio.gather(*pending)
                pending.clear()
            now = time.perf_counter()
            if rate:
                ahead = stats.sent / rate - (now - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
            if progress is not None and now - last_report >= 0.25:
                stats.seconds = now - started
                progress(stats)
                last_report = now
        if pending:
            await asyncio.gather(*pending)
        await producer.flush()
    finally:
        if own:
            await producer.stop()
    stats.seconds = time.perf_counter() - started
    if progress is not None:
        progress(stats)
    return stats


async def _aiter(events):
    if hasattr(events, "__aiter__"):
        async for event in events:
            yield event
    else:
        for i, event in enumerate(events):
            yield event
            if i % 2000 == 1999:
                await asyncio.sleep(0)  # parsing is CPU-bound: let the producer's I/O run
