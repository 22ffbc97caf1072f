"""Uploads agent: one UploadEvent in -> one BundleSet (and one GenerationMetrics) out.

Thin wiring around ``bundling.uploads`` (pure): decode (or dead-letter), parse the files and run
the engine in a thread (both CPU bound; the Faust loop keeps serving heartbeats, HTTP and other
agents), read the live tables before and write the store's rolling costs after, publish, update
the read model.

Rolling costs are per store (one table record per store, holding the rolling 50 and EMA of every
combo): the record then lives on the store's partition like all its other state, so several
workers and restarts see exactly one history per store.

Every upload gets an answer: an undecodable record becomes a dead letter only (there is no
store to answer), an unusable upload becomes a dead letter *and* an error BundleSet naming the
reason, and an engine failure becomes a ``processing_error`` dead letter and an error BundleSet.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence

import numpy as np
import orjson
import redis as sync_redis
from faust.types import EventT

from bundling.budget import RollingCosts
from bundling.uploads import (
    UnusableUpload, error_bundle_set, fold_rolling_costs, generate, parse_upload, tallies_for_store,
)
from models import BundleSet, UploadEvent, UploadFile
from models.codec import Decoded, Rejected, decode
from popularity.aggregate import SEP

from . import catalogs, readmodel
from .app import app, settings
from .dead_letters import send_dead_letter
from .tables import category_transactions
from .upload_topics import bundle_sets_topic, generation_metrics_topic, uploads_dlq, uploads_topic

log = logging.getLogger(__name__)

UPLOAD_STATUS_TTL_S = 7 * 24 * 3600
EMBEDDING_TTL_S = 30 * 24 * 3600

# store -> RollingCosts JSON: {"combos": {"objective:TYPE": {"recent": [<=50 ms], "ema", "runs"}}, "recent": [...]}
# No value_type: Faust recovery decodes typed values with ``typ.from_data``, which dict lacks.
rolling_costs = app.Table("rolling-costs", default=None, partitions=settings.partitions, key_type=str,
                          help="Per store: rolling 50 and EMA(0.2) of every (objective, bundle type) combo's duration.")


# --- pure helpers ----------------------------------------------------------------------------


def resolve_file(upload_file: UploadFile) -> bytes:
    """The file's bytes (``ingest.uploads``: only file:// URIs inside the upload store, sha checked)."""
    from ingest.uploads import resolve_upload_file

    return resolve_upload_file(upload_file, settings)


def build_event(store_id: str, upload_id: str, files: Sequence[tuple[str, bytes, str, str | None]]) -> UploadEvent:
    """UploadEvent from in-memory (kind, data, filename, format) parts, e.g. an HTTP form.

    ``ingest.uploads.build_upload_file`` works on paths, so each part is spooled to a temporary
    file inside the upload store first; it then decides inline vs by reference (stored under
    its sha256) exactly as the CLI does, and the temporary file is removed.
    """
    import os
    import tempfile
    from pathlib import Path

    from ingest.uploads import build_upload_file

    store = Path(settings.upload_store_dir)
    store.mkdir(parents=True, exist_ok=True)
    out: list[UploadFile] = []
    for kind, data, filename, fmt in files:
        suffix = ".csv.gz" if data[:2] == b"\x1f\x8b" else ".csv"
        fd, tmp = tempfile.mkstemp(dir=store, prefix=".form-", suffix=suffix)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            upload_file = build_upload_file(kind, tmp, fmt, settings)
        finally:
            Path(tmp).unlink(missing_ok=True)
        out.append(upload_file.model_copy(update={"filename": (filename or upload_file.filename)[:500]}))
    return UploadEvent(upload_id=upload_id, store_id=store_id, files=out)


class RedisEmbeddingCache:
    """``bundling.embeddings.EmbeddingCache`` over Redis: float32 bytes by content-hash key.

    Synchronous on purpose: the engine runs in a thread and calls it from there. One MGET per
    lookup, one pipelined batch of SETs per store, entries expire after 30 days unused.
    """

    def __init__(self, client: sync_redis.Redis, prefix: str, ttl_s: int = EMBEDDING_TTL_S) -> None:
        self.client, self.prefix, self.ttl_s = client, prefix, ttl_s

    def _k(self, key: str) -> str:
        return f"{self.prefix}:{key}"

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        if not keys:
            return {}
        try:
            values = self.client.mget([self._k(k) for k in keys])
        except sync_redis.RedisError as exc:  # a cache outage costs time, not the upload
            log.warning("embedding cache read failed: %s", exc)
            return {}
        return {k: np.frombuffer(v, dtype=np.float32).copy() for k, v in zip(keys, values) if v}

    def put_many(self, items: Mapping[str, np.ndarray]) -> None:
        if not items:
            return
        try:
            pipe = self.client.pipeline(transaction=False)
            for k, vec in items.items():
                pipe.set(self._k(k), np.asarray(vec, dtype=np.float32).tobytes(), ex=self.ttl_s)
            pipe.execute()
        except sync_redis.RedisError as exc:
            log.warning("embedding cache write failed: %s", exc)


_embedding_cache: RedisEmbeddingCache | None = None


def embedding_cache() -> RedisEmbeddingCache:
    global _embedding_cache
    if _embedding_cache is None:
        client = sync_redis.Redis.from_url(settings.redis_url, decode_responses=False)
        _embedding_cache = RedisEmbeddingCache(client, readmodel.rkey("emb"))
    return _embedding_cache


# --- wiring ------------------------------------------------------------------------------------


async def _publish(bundle_set: BundleSet) -> None:
    key = bundle_set.store_id.encode()
    await bundle_sets_topic.send(key=key, value=bundle_set.to_bytes())
    await generation_metrics_topic.send(key=key, value=bundle_set.metrics.to_bytes())
    r = readmodel.redis_client()
    pipe = r.pipeline(transaction=False)
    pipe.set(readmodel.rkey("bundles", bundle_set.store_id), bundle_set.to_bytes().decode())
    pipe.set(readmodel.rkey("upload", bundle_set.upload_id), orjson.dumps({
        "upload_id": bundle_set.upload_id, "store_id": bundle_set.store_id,
        "status": "done" if bundle_set.status == "ok" else "error", "error": bundle_set.error,
        "bundles": len(bundle_set.bundles), "generated_at": bundle_set.generated_at.isoformat(),
    }).decode(), ex=UPLOAD_STATUS_TTL_S)
    await pipe.execute()


async def _dead_letter(event: EventT, code: str, reason: str, errors: list[dict] | None = None) -> None:
    await send_dead_letter(uploads_dlq, event, Rejected(code, reason, errors or []))


async def process_upload(event: EventT) -> BundleSet | None:
    """One upload end to end; never raises for bad input (the stream must keep going)."""
    result = decode(UploadEvent, event.message.value)
    if not isinstance(result, Decoded):
        await send_dead_letter(uploads_dlq, event, result)
        return None
    upload = result.value
    try:
        parsed = await asyncio.to_thread(parse_upload, upload, resolve_file)
    except UnusableUpload as exc:
        await _dead_letter(event, "unusable_upload", exc.reason, exc.errors)
        bundle_set = error_bundle_set(upload, exc)
        await _publish(bundle_set)
        return bundle_set
    tallies = tallies_for_store(category_transactions.items(), upload.store_id, SEP)
    costs = RollingCosts.from_json(rolling_costs.get(upload.store_id))
    try:
        bundle_set, runs = await asyncio.to_thread(generate, upload, parsed, tallies, costs, embedding_cache())
    except Exception as exc:  # noqa: BLE001 - an engine bug must not stop the stream or lose the upload
        log.exception("bundle generation failed for upload %s", upload.upload_id)
        reason = f"bundle generation failed: {type(exc).__name__}: {exc}"
        await _dead_letter(event, "processing_error", reason)
        bundle_set = error_bundle_set(upload, reason, parsed)
        await _publish(bundle_set)
        return bundle_set
    # the agent iterates events, so this event is current: the record lands on the store's partition
    rolling_costs[upload.store_id] = orjson.loads(fold_rolling_costs(costs, runs).to_json())
    catalogs.register_catalog_products(upload.store_id, upload.upload_id, parsed.catalog,
                                       sha256=catalogs.make_ref(upload.upload_id, parsed.catalog_file)["sha256"])
    await catalogs.record_catalog(upload.store_id, upload.upload_id, parsed.catalog_file)
    await _publish(bundle_set)
    return bundle_set


@app.agent(uploads_topic, name="uploads")
async def uploads_agent(stream) -> None:
    async for event in stream.events():
        await process_upload(event)


__all__ = ["RedisEmbeddingCache", "build_event", "process_upload", "resolve_file", "rolling_costs"]
