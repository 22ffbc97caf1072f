"""Uploads agent: one UploadEvent in -> one BundleSet (and one GenerationMetrics) out.

Thin wiring around pure functions: decode (or dead-letter), parse the files and run the engine
in a thread (both CPU bound; the Faust loop keeps serving heartbeats, HTTP and other agents),
read the live tables before and write the rolling costs after, publish, update the read model.

Every upload gets an answer: an undecodable record becomes a dead letter only (there is no
store to answer), an unusable upload becomes a dead letter *and* an error BundleSet naming the
reason, and an engine failure becomes a ``processing_error`` dead letter and an error BundleSet.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import redis as sync_redis
from faust.types import EventT

from bundling.budget import RollingCosts, update_many
from models import BadRow, BundleSet, GenerationMetrics, OrderEvent, Product, UploadEvent, UploadFile
from models.codec import Decoded, Rejected, decode
from popularity.aggregate import SEP

from . import catalogs, readmodel
from .app import app, settings
from .dead_letters import send_dead_letter
from .tables import category_transactions
from .upload_topics import bundle_sets_topic, generation_metrics_topic, uploads_dlq, uploads_topic

log = logging.getLogger(__name__)

ALL_COMBOS_KEY = "*"  # rolling-costs key of the window over all combos (cost_per_combo)
MAX_BAD_ROWS = 1000
UPLOAD_STATUS_TTL_S = 7 * 24 * 3600
EMBEDDING_TTL_S = 30 * 24 * 3600

# "objective|BUNDLE_TYPE" -> {"recent": [...last 50 ms], "ema": float, "runs": int}; "*" -> {"recent": [...]}
rolling_costs = app.Table("rolling-costs", default=None, partitions=settings.partitions, key_type=str, value_type=dict,
                          help="Rolling cost per (objective, bundle type): last 50 durations and EMA(0.2).")


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


class UnusableUpload(Exception):
    """The upload cannot yield bundles (no usable catalog rows, missing columns, unreadable file)."""

    def __init__(self, reason: str, *, bad_rows: Sequence[BadRow] = (), bad_row_count: int = 0,
                 parse_ms: float = 0.0, errors: list[dict] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.bad_rows = list(bad_rows)
        self.bad_row_count = bad_row_count
        self.parse_ms = parse_ms
        self.errors = errors or []


@dataclass
class ParsedUpload:
    catalog: list[Product]
    orders: list[OrderEvent]
    catalog_file: UploadFile
    bad_rows: list[BadRow] = field(default_factory=list)
    bad_row_count: int = 0
    parse_ms: float = 0.0


def _files(upload: UploadEvent, kind: str) -> list[UploadFile]:
    return [f for f in upload.files if f.kind == kind]


def parse_upload(upload: UploadEvent) -> ParsedUpload:
    """Resolve and parse every file of the upload. Raises ``UnusableUpload`` with the reason.

    Bad rows of all files are pooled (at most 1000 kept, the count stays exact). An orders file
    that cannot be read makes the upload unusable too: silently dropping the history would turn
    a mature store into a cold-start one.
    """
    from ingest.errors import IngestError
    from ingest.orders import read_orders

    started = time.perf_counter()
    bad: list[BadRow] = []
    bad_count = 0

    def account(report: Any) -> None:
        nonlocal bad_count
        bad.extend(report.bad_rows[: max(0, MAX_BAD_ROWS - len(bad))])
        bad_count += report.bad_row_count

    def unusable(reason: str, errors: list[dict] | None = None) -> UnusableUpload:
        return UnusableUpload(reason, bad_rows=bad, bad_row_count=bad_count,
                              parse_ms=(time.perf_counter() - started) * 1000, errors=errors)

    catalog_files = _files(upload, "catalog")
    if not catalog_files:
        raise unusable("the upload has no catalog file")
    catalog: list[Product] = []
    for f in catalog_files:
        try:
            products, report = catalogs.parse_catalog_file(f)
        except (IngestError, ValueError, OSError) as exc:
            raise unusable(f"catalog {f.filename or '<inline>'}: {exc}",
                           [{"file": f.filename, "missing": list(getattr(exc, "missing", ()))}]) from exc
        account(report)
        catalog.extend(products)
    if not catalog:
        raise unusable(f"no usable catalog rows ({bad_count} bad rows)")
    categories = {p.product_id: p.category for p in catalog}
    currency = catalogs.majority_currency(catalog)
    orders: list[OrderEvent] = []
    for f in _files(upload, "orders"):
        fmt = f.format if f.format not in ("", "auto") else None
        try:
            data = resolve_file(f)
            events, report = read_orders(data, fmt, store_id=upload.store_id, name=f.filename or None,
                                         categories=categories, currency=currency, source_kind="replay")
        except (IngestError, ValueError, OSError) as exc:
            raise unusable(f"orders {f.filename or '<inline>'}: {exc}",
                           [{"file": f.filename, "missing": list(getattr(exc, "missing", ()))}]) from exc
        account(report)
        orders.extend(events)
    return ParsedUpload(catalog, orders, catalog_files[0], bad, bad_count, (time.perf_counter() - started) * 1000)


def tallies_for_store(items: Iterable[tuple[str, Sequence[int] | None]], store_id: str) -> dict[str, int]:
    """category -> orders, from ``category-transactions`` entries (key ``store SEP category``)."""
    prefix = store_id + SEP
    out: dict[str, int] = {}
    for key, value in items:
        if value and key.startswith(prefix):
            out[key[len(prefix):]] = int(value[0])
    return out


def table_key(combo_key: str) -> str:
    """budget's "objective:TYPE" -> the table's "objective|TYPE"."""
    return combo_key.replace(":", "|", 1)


def rolling_costs_from_table(items: Iterable[tuple[str, Mapping[str, Any] | None]]) -> RollingCosts:
    combos: dict[str, Any] = {}
    recent: list[float] = []
    for key, value in items:
        if not value:
            continue
        if key == ALL_COMBOS_KEY:
            recent = list(value.get("recent", ()))
        else:
            combos[key.replace("|", ":", 1)] = value
    return RollingCosts.from_json({"combos": combos, "recent": recent})


def rolling_cost_writes(state: RollingCosts, runs: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """Table writes that fold every combo's duration into the state (only touched keys + "*")."""
    if not runs:
        return {}
    new = update_many(state, [((r.objective, r.type), float(r.duration_ms)) for r in runs])
    data = orjson.loads(new.to_json())
    touched = {f"{r.objective}:{r.type}" for r in runs}
    writes = {table_key(k): v for k, v in data["combos"].items() if k in touched}
    writes[ALL_COMBOS_KEY] = {"recent": data["recent"]}
    return writes


def error_bundle_set(upload: UploadEvent, exc: UnusableUpload | str) -> BundleSet:
    """The answer to an upload that yields no bundles: status 'error' and the reason."""
    reason = exc.reason if isinstance(exc, UnusableUpload) else str(exc)
    metrics = GenerationMetrics(
        csv_upload_id=upload.upload_id, store_id=upload.store_id,
        bad_rows=exc.bad_rows[:MAX_BAD_ROWS] if isinstance(exc, UnusableUpload) else [],
        bad_row_count=exc.bad_row_count if isinstance(exc, UnusableUpload) else 0,
        parse_ms=exc.parse_ms if isinstance(exc, UnusableUpload) else 0.0,
    )
    return BundleSet(upload_id=upload.upload_id, store_id=upload.store_id, status="error",
                     error=reason[:4000], bundles=[], metrics=metrics)


def with_parse_metrics(bundle_set: BundleSet, parsed: ParsedUpload) -> BundleSet:
    metrics = bundle_set.metrics.model_copy(update={
        "bad_rows": parsed.bad_rows[:MAX_BAD_ROWS], "bad_row_count": parsed.bad_row_count,
        "parse_ms": round(parsed.parse_ms, 3),
    })
    return bundle_set.model_copy(update={"metrics": metrics})


def generate(upload: UploadEvent, parsed: ParsedUpload, tallies: Mapping[str, int], costs: RollingCosts,
             cache: Any) -> tuple[BundleSet, list[Any]]:
    """The engine call (CPU bound, runs in a worker thread)."""
    from bundling.engine import generate_bundle_set

    bundle_set, runs = generate_bundle_set(
        upload.upload_id, upload.store_id, parsed.catalog, parsed.orders,
        category_transactions=tallies, rolling_costs=costs, embedding_cache=cache,
        bad_rows=parsed.bad_rows, bad_row_count=parsed.bad_row_count, parse_ms=round(parsed.parse_ms, 3),
        currency=catalogs.majority_currency(parsed.catalog),
    )
    return bundle_set, list(runs)


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
        parsed = await asyncio.to_thread(parse_upload, upload)
    except UnusableUpload as exc:
        await _dead_letter(event, "unusable_upload", exc.reason, exc.errors)
        bundle_set = error_bundle_set(upload, exc)
        await _publish(bundle_set)
        return bundle_set
    tallies = tallies_for_store(category_transactions.items(), upload.store_id)
    costs = rolling_costs_from_table(rolling_costs.items())
    try:
        bundle_set, runs = await asyncio.to_thread(generate, upload, parsed, tallies, costs, embedding_cache())
    except Exception as exc:  # noqa: BLE001 - an engine bug must not stop the stream or lose the upload
        log.exception("bundle generation failed for upload %s", upload.upload_id)
        reason = f"bundle generation failed: {type(exc).__name__}: {exc}"
        await _dead_letter(event, "processing_error", reason)
        bundle_set = with_parse_metrics(error_bundle_set(upload, reason), parsed)
        await _publish(bundle_set)
        return bundle_set
    # the agent iterates events, so this event is current: changelog records land on its partition
    for key, value in rolling_cost_writes(costs, runs).items():
        rolling_costs[key] = value
    catalogs.register_catalog_products(upload.store_id, upload.upload_id, parsed.catalog,
                                       sha256=catalogs.make_ref(upload.upload_id, parsed.catalog_file)["sha256"])
    await catalogs.record_catalog(upload.store_id, upload.upload_id, parsed.catalog_file)
    await _publish(bundle_set)
    return bundle_set


@app.agent(uploads_topic, name="uploads")
async def uploads_agent(stream) -> None:
    async for event in stream.events():
        await process_upload(event)


__all__ = [
    "ParsedUpload", "RedisEmbeddingCache", "UnusableUpload", "error_bundle_set", "parse_upload",
    "process_upload", "rolling_cost_writes", "rolling_costs", "rolling_costs_from_table", "tallies_for_store",
]
