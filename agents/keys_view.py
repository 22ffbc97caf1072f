"""The API key registry: the compacted api-keys topic, materialised in every worker.

Every worker tails the whole topic with no consumer group (``agents.compacted``), so a key
created or revoked through any worker or the CLI is known to all of them within one poll
(~200 ms). The bootstrap admin key comes from ``Settings.admin_token`` and is never stored.
A key's last use is written to Redis at most once per ``key_last_used_every_s`` per worker, so
authentication costs no Redis write per request.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import cast

import topics as registry
from agents import redis_keys
from models.codec import Decoded, decode
from models.keys import ApiKeyRecord
from security import Principal, generate_key, hash_key, hash_matches, parse_key, parse_scope
from security.keys import GeneratedKey

from . import readmodel
from .app import app, settings
from .compacted import CompactedTopicReader, CompactedView, publish
from .topics import faust_topic

log = logging.getLogger(__name__)

api_keys_topic = faust_topic(registry.API_KEYS)
BOOTSTRAP_KEY_ID = "bootstrap-admin"
LAST_USED_HASH = redis_keys.KEYS_LAST_USED.name


class KeyRegistry(CompactedView):
    """Latest record per key id (active or revoked)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: dict[str, ApiKeyRecord] = {}

    def apply(self, key: bytes | None, value: bytes | None, offset: int) -> None:
        if value is None:
            if key is not None:
                self.records.pop(key.decode("utf-8", "replace"), None)
            return
        result = decode(ApiKeyRecord, value)
        if isinstance(result, Decoded):
            self.records[result.value.key_id] = result.value
        else:
            log.warning("api-keys record @%d not applied: %s", offset, result.reason)

    def authenticate(self, presented: str) -> Principal | None:
        """The principal of an active key, else None (unknown, malformed or revoked)."""
        admin = settings.admin_token.get_secret_value() if settings.admin_token else None
        if admin and hash_matches(presented, hash_key(admin)):
            return Principal(
                BOOTSTRAP_KEY_ID, parse_scope("admin"), "bootstrap (BUNDLESTREAM_ADMIN_TOKEN)"
            )
        parsed = parse_key(presented)
        if parsed is None:
            return None
        record = self.records.get(parsed.key_id)
        if record is None or not record.active or not hash_matches(parsed.full, record.key_hash):
            return None
        return Principal(record.key_id, parse_scope(record.scope), record.name)


registry_view = KeyRegistry()


@app.service
class KeyReader(CompactedTopicReader):
    """Tails the api-keys topic in every worker (no consumer group), from the beginning."""

    topic = api_keys_topic
    view = registry_view


def new_key_record(scope: str, name: str = "") -> tuple[GeneratedKey, ApiKeyRecord]:
    """A fresh key and its record; raises ValueError (pydantic) on a bad scope or name."""
    generated = generate_key()
    return generated, ApiKeyRecord(
        key_id=generated.key_id, name=name, scope=scope, key_hash=generated.key_hash
    )


def revoked(record: ApiKeyRecord) -> ApiKeyRecord:
    return record.model_copy(update={"revoked_at": datetime.now(UTC)})


async def publish_key(record: ApiKeyRecord) -> int:
    return await publish(api_keys_topic, record.key_id.encode(), record.to_bytes())


_last_written: dict[str, float] = {}


async def note_used(principal: Principal) -> None:
    """Record the key's last use, throttled per worker (a lost write only makes it look older)."""
    now = time.monotonic()
    last = _last_written.get(principal.key_id)
    if (
        last is not None and now - last < settings.key_last_used_every_s
    ) or readmodel.redis_failing():
        return  # (while Redis is down a request must not wait on bookkeeping)
    _last_written[principal.key_id] = now
    try:
        await readmodel.redis_client().hset(
            readmodel.rkey(LAST_USED_HASH),
            principal.key_id,
            datetime.now(UTC).isoformat(timespec="seconds"),
        )
    except Exception as exc:
        log.warning("could not record last use of key %s: %s", principal.key_id, exc)


async def last_used() -> dict[str, str]:
    # redis-py types replies as bytes | str; this client decodes them (decode_responses=True)
    return cast(
        dict[str, str], await readmodel.redis_client().hgetall(readmodel.rkey(LAST_USED_HASH))
    )
