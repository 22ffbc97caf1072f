"""Platform config and prompts: the compacted config topic, materialised in every worker.

Every worker reads the whole topic (see ``agents.compacted`` for why a plain group-less reader
rather than a GlobalTable). Invalid documents are never applied: the reader skips them, and the
``config-validator`` agent (one consumer group, so each record is judged once) sends them to the
config dead-letter topic with its reason. Tombstones (null value) delete the scope, which then
falls back to defaults.
"""

from __future__ import annotations

import logging

from models.codec import Decoded, Rejected, decode
from models.config import ConfigDocument

from .app import app
from .chat_topics import config_dlq, config_topic
from .compacted import CompactedTopicReader, CompactedView, publish
from .dead_letters import send_dead_letter

log = logging.getLogger(__name__)

PLATFORM_SCOPE = "platform"


def judge(key: bytes | None, value: bytes | None) -> Decoded[ConfigDocument] | Rejected | None:
    """None for a tombstone; otherwise the document or why it must not be applied."""
    if value is None:
        return None
    result = decode(ConfigDocument, value)
    if (
        isinstance(result, Decoded)
        and key is not None
        and key.decode("utf-8", "replace") != result.value.scope
    ):
        return Rejected(
            "invalid_schema",
            f"scope mismatch: record key {key.decode('utf-8', 'replace')!r} != document scope {result.value.scope!r}",
            [],
        )
    return result


class ConfigState(CompactedView):
    """The latest valid document per scope, plus how far into the topic this worker has read."""

    def __init__(self) -> None:
        super().__init__()
        self.docs: dict[str, ConfigDocument] = {}

    def apply(self, key: bytes | None, value: bytes | None, offset: int) -> None:
        verdict = judge(key, value)
        if verdict is None:
            if key is not None:
                self.docs.pop(key.decode("utf-8", "replace"), None)
        elif isinstance(verdict, Decoded):
            self.docs[verdict.value.scope] = verdict.value
        else:
            log.warning("config record @%d not applied: %s", offset, verdict.reason)


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
class ConfigReader(CompactedTopicReader):
    """Tails the config topic in every worker (no consumer group), from the beginning."""

    topic = config_topic
    view = state


@app.agent(config_topic, name="config-validator")
async def config_validator(stream) -> None:
    """Judges each config record once (one consumer group) and dead-letters the invalid ones."""
    async for event in stream.events():
        verdict = judge(event.message.key, event.message.value)
        if isinstance(verdict, Rejected):
            await send_dead_letter(config_dlq, event, verdict)


async def publish_config(doc: ConfigDocument) -> int:
    """Send to the config topic (key = scope) and return the record's offset."""
    return await publish(config_topic, doc.scope.encode(), doc.to_bytes())
