"""A batch's table writes are on the broker before the batch is acked: ``send_all`` waits for
Faust's send buffer to empty and then for the producer's in-flight records."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from agents.transport import DurableProducer


class _Buffer:
    """Faust's send buffer as ``send_all`` sees it: a size and an event set per record sent."""

    def __init__(self, queued: int) -> None:
        self.queued = queued
        self.message_sent = asyncio.Event()

    @property
    def size(self) -> int:
        return self.queued

    async def send_one_per_tick(self) -> None:
        while self.queued:
            await asyncio.sleep(0.001)
            self.queued -= 1
            self.message_sent.set()


class _Kafka:
    def __init__(self, log: list[str], delay_s: float = 0.0) -> None:
        self.log, self.delay_s = log, delay_s

    async def flush(self) -> None:
        await asyncio.sleep(self.delay_s)
        self.log.append("flushed")


def test_send_all_waits_for_the_buffer_then_the_in_flight_records() -> None:
    async def scenario() -> tuple[bool, list[str], int]:
        log: list[str] = []
        buffer = _Buffer(queued=25)
        producer = SimpleNamespace(buffer=buffer, _producer=_Kafka(log))
        sender = asyncio.ensure_future(buffer.send_one_per_tick())
        done = await DurableProducer.send_all(producer, timeout_s=5.0)  # type: ignore[arg-type]
        await sender
        return done, log, buffer.size

    done, log, left = asyncio.run(scenario())
    assert (done, log, left) == (True, ["flushed"], 0)


def test_send_all_gives_up_after_its_timeout() -> None:
    async def scenario() -> tuple[bool, float]:
        producer = SimpleNamespace(buffer=_Buffer(queued=3), _producer=_Kafka([]))  # never sent
        started = asyncio.get_running_loop().time()
        done = await DurableProducer.send_all(producer, timeout_s=0.2)  # type: ignore[arg-type]
        return done, asyncio.get_running_loop().time() - started

    done, waited = asyncio.run(scenario())
    assert done is False
    assert 0.15 <= waited < 2.0


def test_a_slow_broker_flush_counts_against_the_same_timeout() -> None:
    async def scenario() -> bool:
        producer = SimpleNamespace(buffer=_Buffer(queued=0), _producer=_Kafka([], delay_s=5.0))
        return await DurableProducer.send_all(producer, timeout_s=0.1)  # type: ignore[arg-type]

    assert asyncio.run(scenario()) is False
