"""Platform config and prompts: the compacted config topic, materialised in every worker.

Design (why not a Faust GlobalTable): every worker needs *every* config document, immediately
and after restarts, and the PUT handler needs read-your-writes on the worker that served it.
A GlobalTable would need an agent (one consumer group, so only one worker sees each record)
copying the topic into the table's own changelog, which every worker then replays: two hops,
a second topic, and faust-streaming's GlobalTable recovery has a history of stalls. The config
topic is already compacted with one partition, i.e. it *is* the changelog. So each worker runs
``ConfigReader``: a plain aiokafka consumer with no group, assigned partition 0, reading from the
beginning and kept running as an app service. It holds the latest valid ``ConfigDocument`` per
scope and the next offset it will read, which is what ``wait_for_offset`` (read-your-writes)
compares against the offset the producer got back.

Invalid documents are never applied: the reader skips them, and the ``config-validator`` agent
(one consumer group, so each record is judged once) sends them to the config dead-letter topic
with its reason. Tombstones (null value) delete the scope, which then falls back to defaults.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import mode
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from models.codec import Decoded, Rejected, decode
from models.config import ConfigDocument

from .app import app, settings
from .dead_letters import send_dead_letter
from .chat_topics import config_dlq, config_topic

log = logging.getLogger(__name__)

PLATFORM_SCOPE = "platform"


def judge(key: bytes | None, value: bytes | None) -> Decoded[ConfigDocument] | Rejected | None:
    """None for a tombstone; otherwise the document or why it must not be applied."""
    if value is None:
        return None
    result = decode(ConfigDocument, value)
    if isinstance(result, Decoded) and key is not None and key.decode("utf-8", "replace") != result.value.scope:
        return Rejected("invalid_schema",
                        f"scope mismatch: record key {key.decode('utf-8', 'replace')!r} != document scope {result.value.scope!r}", [])
    return result


class ConfigState:
    """The latest valid document per scope, plus how far into the topic this worker has read."""

    def __init__(self) -> None:
        self.docs: dict[str, ConfigDocument] = {}
        self.next_offset = 0
        self.caught_up = asyncio.Event()
        self._advanced = asyncio.Condition()

    def apply(self, key: bytes | None, value: bytes | None, offset: int) -> None:
        verdict = judge(key, value)
        if verdict is None:
            if key is not None:
                self.docs.pop(key.decode("utf-8", "replace"), None)
        elif isinstance(verdict, Decoded):
            self.docs[verdict.value.scope] = verdict.value
        else:
            log.warning("config record @%d not applied: %s", offset, verdict.reason)

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
        except asyncio.TimeoutError:
            return False


state = ConfigState()


def current_config(scope: str = PLATFORM_SCOPE) -> ConfigDocument:
    """The latest valid document for ``scope`` (a store id falls back to platform), else defaults."""
    doc = state.docs.get(scope)
    if doc is None and scope != PLATFORM_SCOPE:
        doc = state.docs.get(PLATFORM_SCOPE)
    return doc if doc is not None else ConfigDocument(scope=scope, version=1)


def current_version(scope: str = PLATFORM_SCOPE) -> int:
    """0 when nothing was ever written for ``scope`` (the first PUT must say version 0 or omit it)."""
    doc = state.docs.get(scope)
    return doc.version if doc is not None else 0


@app.service
class ConfigReader(mode.Service):
    """Tails the config topic in every worker (no consumer group), from the beginning."""

    poll_ms = 200

    def __post_init__(self) -> None:
        self._consumer: AIOKafkaConsumer | None = None

    async def on_stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def _connect(self) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap, group_id=None, enable_auto_commit=False,
            auto_offset_reset="earliest", client_id=f"{settings.app_id}-config-reader",
        )
        await consumer.start()
        tp = TopicPartition(config_topic.get_topic_name(), 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        return consumer

    @mode.Service.task
    async def _tail(self) -> None:
        tp = TopicPartition(config_topic.get_topic_name(), 0)
        while not self.should_stop:
            try:
                if self._consumer is None:
                    self._consumer = await self._connect()
                    end = (await self._consumer.end_offsets([tp]))[tp]
                    if end == 0:
                        state.caught_up.set()
                batches = await self._consumer.getmany(tp, timeout_ms=self.poll_ms)
                for record in batches.get(tp, []):
                    state.apply(record.key, record.value, record.offset)
                    await state.advance(record.offset + 1)
                position = await self._consumer.position(tp)
                await state.advance(position)
                if not state.caught_up.is_set():
                    end = (await self._consumer.end_offsets([tp]))[tp]
                    if position >= end:
                        state.caught_up.set()
            except (KafkaError, OSError) as exc:
                log.warning("config reader: %s; reconnecting", exc)
                if self._consumer is not None:
                    try:
                        await self._consumer.stop()
                    finally:
                        self._consumer = None
                await self.sleep(1.0)


@app.agent(config_topic, name="config-validator")
async def config_validator(stream) -> None:
    """Judges each config record once (one consumer group) and dead-letters the invalid ones."""
    async for event in stream.events():
        verdict = judge(event.message.key, event.message.value)
        if isinstance(verdict, Rejected):
            await send_dead_letter(config_dlq, event, verdict)


async def publish_config(doc: ConfigDocument) -> int:
    """Send to the config topic (key = scope) and return the record's offset."""
    fut = await config_topic.send(key=doc.scope.encode(), value=doc.to_bytes(), force=True)
    metadata: Any = await fut
    return int(metadata.offset)
