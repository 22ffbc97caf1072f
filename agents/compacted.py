"""Materialise a compacted, single-partition topic in every worker (config, API keys).

Why not a Faust GlobalTable: every worker needs *every* record, immediately and after restarts,
and writers need read-your-writes on the worker that served them. A GlobalTable would need an
agent (one consumer group, so only one worker sees each record) copying the topic into the
table's own changelog, which every worker then replays: two hops, a second topic, and
faust-streaming's GlobalTable recovery has a history of stalls. A compacted topic with one
partition already *is* a changelog. So each worker runs a ``CompactedTopicReader``: a plain
aiokafka consumer with no group, assigned partition 0, reading from the beginning and kept
running as an app service. It feeds a ``CompactedView``, which holds the decoded state and the
next offset read, which is what ``wait_for_offset`` (read-your-writes) compares against the
offset the producer got back.
"""

from __future__ import annotations

import asyncio
import logging
from typing import ClassVar

import faust
import mode
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from .app import settings

log = logging.getLogger(__name__)


class CompactedView:
    """State built from a compacted topic; subclasses say how one record changes it (``apply``)."""

    def __init__(self) -> None:
        self.next_offset = 0
        self.caught_up = asyncio.Event()
        self._advanced = asyncio.Condition()

    def apply(self, key: bytes | None, value: bytes | None, offset: int) -> None:
        raise NotImplementedError

    async def advance(self, next_offset: int) -> None:
        async with self._advanced:
            self.next_offset = max(self.next_offset, next_offset)
            self._advanced.notify_all()

    async def wait_for_offset(self, offset: int, timeout_s: float) -> bool:
        """True once the record at ``offset`` has been read (applied or rejected) in this worker."""

        async def _wait() -> None:
            async with self._advanced:
                await self._advanced.wait_for(lambda: self.next_offset > offset)

        try:
            await asyncio.wait_for(_wait(), timeout_s)
            return True
        except TimeoutError:
            return False


class CompactedTopicReader(mode.Service):
    """Tails ``topic`` partition 0 from the beginning (no consumer group) into ``view``.

    Subclass with the two class attributes and register with ``@app.service``.
    """

    topic: ClassVar[faust.TopicT]
    view: ClassVar[CompactedView]
    poll_ms = 200

    def __post_init__(self) -> None:
        self._consumer: AIOKafkaConsumer | None = None

    @property
    def _tp(self) -> TopicPartition:
        return TopicPartition(self.topic.get_topic_name(), 0)

    async def on_stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def _connect(self) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            client_id=f"{settings.app_id}-{self.topic.get_topic_name().rsplit('.', 1)[-1]}-reader",
        )
        await consumer.start()
        consumer.assign([self._tp])
        await consumer.seek_to_beginning(self._tp)
        return consumer

    @mode.Service.task
    async def _tail(self) -> None:
        tp, view = self._tp, self.view
        while not self.should_stop:
            try:
                if self._consumer is None:
                    self._consumer = await self._connect()
                    end = (await self._consumer.end_offsets([tp]))[tp]
                    if end == 0:
                        view.caught_up.set()
                batches = await self._consumer.getmany(tp, timeout_ms=self.poll_ms)
                for record in batches.get(tp, []):
                    view.apply(record.key, record.value, record.offset)
                    await view.advance(record.offset + 1)
                position = await self._consumer.position(tp)
                await view.advance(position)
                if not view.caught_up.is_set():
                    end = (await self._consumer.end_offsets([tp]))[tp]
                    if position >= end:
                        view.caught_up.set()
            except (KafkaError, OSError) as exc:
                log.warning("%s reader: %s; reconnecting", tp.topic, exc)
                if self._consumer is not None:
                    try:
                        await self._consumer.stop()
                    finally:
                        self._consumer = None
                await self.sleep(1.0)


async def publish(topic: faust.TopicT, key: bytes, value: bytes | None) -> int:
    """Send one record (None = tombstone) and return its offset, for ``wait_for_offset``."""
    fut = await topic.send(key=key, value=value, force=True)
    metadata = await fut
    return int(metadata.offset)
