"""``bundlestream keys create|list|revoke``: manage API keys straight on the api-keys topic.

The CLI needs no running worker: it writes the same records the admin HTTP API writes, and every
worker's key registry picks them up within a poll. ``list`` folds the compacted topic itself
(latest record per key id) and adds each key's last use from Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from typing import cast

from pydantic import ValidationError

from core.settings import Settings, get_settings


async def read_keys(settings: Settings) -> dict:
    """key_id -> latest ApiKeyRecord on the topic (tombstones forget, undecodable records are skipped)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    import topics as registry
    from models.codec import Decoded, decode
    from models.keys import ApiKeyRecord

    tp = TopicPartition(registry.API_KEYS.name(settings.topic_prefix), 0)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    records: dict[str, ApiKeyRecord] = {}
    try:
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        while await consumer.position(tp) < end:
            for msg in (await consumer.getmany(tp, timeout_ms=500)).get(tp, []):
                if msg.value is None:
                    records.pop((msg.key or b"").decode("utf-8", "replace"), None)
                    continue
                result = decode(ApiKeyRecord, msg.value)
                if isinstance(result, Decoded):
                    records[result.value.key_id] = result.value
    finally:
        await consumer.stop()
    return records


async def publish_record(settings: Settings, record) -> None:
    from aiokafka import AIOKafkaProducer

    import topics as registry

    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        await producer.send_and_wait(
            registry.API_KEYS.name(settings.topic_prefix),
            key=record.key_id.encode(),
            value=record.to_bytes(),
        )
    finally:
        await producer.stop()


async def last_used(settings: Settings) -> dict[str, str]:
    import redis.asyncio as aioredis

    from agents.redis_keys import KEYS_LAST_USED

    client = aioredis.from_url(
        settings.redis_url,
        decode_responses=True,
        socket_timeout=settings.redis_timeout_s,
        socket_connect_timeout=settings.redis_timeout_s,
    )
    try:
        # redis-py types replies as bytes | str; this client decodes them (decode_responses=True)
        return cast(dict[str, str], await client.hgetall(KEYS_LAST_USED.key(settings.topic_prefix)))
    except Exception:
        return {}
    finally:
        await client.aclose()


def _create(args: argparse.Namespace) -> int:
    from models.keys import ApiKeyRecord
    from security import generate_key

    settings = get_settings()
    generated = generate_key()
    try:
        record = ApiKeyRecord(
            key_id=generated.key_id,
            name=args.name or "",
            scope=args.scope,
            key_hash=generated.key_hash,
        )
    except ValidationError as exc:
        print(f"keys create: {exc.errors(include_url=False)[0]['msg']}", file=sys.stderr)
        return 2
    asyncio.run(publish_record(settings, record))
    print(f"key_id: {record.key_id}\nscope:  {record.scope}\nname:   {record.name}")
    print(f"key:    {generated.secret_key}")
    print(
        "Store the key now: it is shown once and kept only as a hash. "
        "Send it as 'Authorization: Bearer <key>'.",
        file=sys.stderr,
    )
    return 0


def _list(args: argparse.Namespace) -> int:
    settings = get_settings()

    async def gather():
        return await read_keys(settings), await last_used(settings)

    records, used = asyncio.run(gather())
    rows = sorted(records.values(), key=lambda r: r.created_at)
    if not args.all:
        rows = [r for r in rows if r.active]
    print(f"{'KEY ID':<13} {'SCOPE':<28} {'NAME':<24} {'CREATED':<20} {'LAST USED':<20} STATUS")
    for r in rows:
        status = "active" if r.active else f"revoked {r.revoked_at:%Y-%m-%d %H:%M}"
        print(
            f"{r.key_id:<13} {r.scope[:28]:<28} {r.name[:24]:<24} {r.created_at:%Y-%m-%d %H:%M:%S}  "
            f"{used.get(r.key_id, '-')[:19]:<20} {status}"
        )
    return 0


def _revoke(args: argparse.Namespace) -> int:
    settings = get_settings()
    records = asyncio.run(read_keys(settings))
    record = records.get(args.key_id)
    if record is None:
        print(f"keys revoke: no key {args.key_id!r}", file=sys.stderr)
        return 1
    if not record.active:
        print(f"key {record.key_id} was already revoked at {record.revoked_at:%Y-%m-%d %H:%M:%S}")
        return 0
    asyncio.run(
        publish_record(settings, record.model_copy(update={"revoked_at": datetime.now(UTC)}))
    )
    print(f"revoked {record.key_id} ({record.scope}); every worker refuses it within seconds")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    keys = sub.add_parser("keys", help="Create, list and revoke API keys.")
    what = keys.add_subparsers(dest="keys_command", required=True)
    create = what.add_parser("create", help="Create a key and print it once.")
    create.add_argument("--scope", required=True, help="admin, gateway or store:<store_id>")
    create.add_argument("--name", default="", help="who or what the key is for")
    create.set_defaults(handler=_create)
    listing = what.add_parser(
        "list", help="Key id, name, scope, created and last used (never the secret)."
    )
    listing.add_argument("--all", action="store_true", help="include revoked keys")
    listing.set_defaults(handler=_list)
    revoke = what.add_parser("revoke", help="Revoke a key by id.")
    revoke.add_argument("key_id")
    revoke.set_defaults(handler=_revoke)
