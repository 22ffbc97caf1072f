"""Stream partitions stay paused after an assignment until the seek to the committed offsets
has run (agents/transport.py says why); changelog partitions resume at once for recovery.

A real Faust consumer of our transport, never started: the broker is not needed for what Faust
does with its own partition sets, and the seek to the broker is replaced by its result."""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from faust.types import TP

from agents.transport import LowLatencyConsumer, LowLatencyTransport


async def _nothing(*_: Any) -> None:
    return None


STREAM = TP("orders", 0)


def _consumer(assignment_has_stream: bool = True) -> tuple[LowLatencyConsumer, TP]:
    """The consumer, and the changelog partition of its one table. Its seek to the committed
    offsets is answered without a broker (the stream partition's committed offset is 19), and
    its assignment is the changelog partition, with the stream partition or without it."""
    app = faust.App("seek-hold", broker="kafka://127.0.0.1:1", store="memory://")
    table = app.Table("counts", default=int, partitions=1)
    transport = LowLatencyTransport(app.conf.broker_consumer, app)
    consumer = transport.create_consumer(
        callback=_nothing, on_partitions_revoked=_nothing, on_partitions_assigned=_nothing
    )
    assert isinstance(consumer, LowLatencyConsumer)
    changelog = TP(table.changelog_topic.get_topic_name(), 0)

    async def seek_to_committed() -> dict[TP, int]:
        return {STREAM: 19}

    assignment = {STREAM, changelog} if assignment_has_stream else {changelog}
    consumer.seek_to_committed = seek_to_committed  # type: ignore[method-assign]
    consumer.assignment = lambda: assignment  # type: ignore[method-assign]
    return consumer, changelog


def test_stream_partitions_wait_for_the_seek_after_an_assignment() -> None:
    consumer, changelog = _consumer()
    stream = STREAM

    async def scenario() -> None:
        await consumer.on_partitions_assigned({stream, changelog}, generation_id=4)
        consumer.pause_partitions({stream, changelog})
        consumer.resume_partitions({changelog})  # recovery reads the changelog
        assert consumer._get_active_partitions() == {changelog}
        consumer.resume_partitions({stream})  # Faust, before its seek
        assert stream not in consumer._get_active_partitions()
        await consumer.perform_seek()
        assert consumer._get_active_partitions() == {changelog, stream}
        assert consumer._committed_offset[stream] == 19 and consumer._read_offset[stream] == 19
        # settled: flow control pauses and resumes a stream partition at once again
        consumer.pause_partitions({stream})
        consumer.resume_partitions({stream})
        assert stream in consumer._get_active_partitions()

    asyncio.run(scenario())


def test_a_seek_before_faust_resumes_the_streams_releases_nothing() -> None:
    """Faust seeks on its own when it fetches while the flow is stopped; that seek can come
    before the resume, and must not end the hold."""
    consumer, changelog = _consumer()
    stream = STREAM

    async def scenario() -> None:
        await consumer.on_partitions_assigned({stream, changelog}, generation_id=4)
        consumer.pause_partitions({stream, changelog})
        await consumer.perform_seek()
        consumer.resume_partitions({stream})
        assert stream not in consumer._get_active_partitions()
        await consumer.perform_seek()
        assert stream in consumer._get_active_partitions()

    asyncio.run(scenario())


def test_a_new_assignment_forgets_what_the_last_one_held() -> None:
    consumer, changelog = _consumer(assignment_has_stream=False)
    stream = STREAM

    async def scenario() -> None:
        await consumer.on_partitions_assigned({stream, changelog}, generation_id=4)
        consumer.resume_partitions({stream})
        await consumer.on_partitions_assigned({changelog}, generation_id=5)
        await consumer.perform_seek()
        assert stream not in consumer._get_active_partitions()

    asyncio.run(scenario())
