"""Uploads agent: one UploadEvent in -> one BundleSet (and one GenerationMetrics) out.

Thin wiring around ``bundling.uploads`` (pure) and ``bundling.upload_pool``: decode (or
dead-letter), hand the upload to the process pool (parsing and the engine run in a child, off
this worker's GIL, with the hard ``upload_deadline_s``), read the live tables before and write
the store's rolling costs after, publish, update the read model.

Rolling costs are per store (one table record per store, holding the rolling 50 and EMA of every
combo): the record then lives on the store's partition like all its other state, so several
workers and restarts see exactly one history per store.

Every upload gets an answer: an undecodable record becomes a dead letter only (there is no
store to answer); an unusable upload (or one past an expansion limit) becomes a dead letter
*and* an error BundleSet naming the reason; an upload past its deadline gets a
``deadline_exceeded`` dead letter and an error BundleSet naming the deadline; an engine failure
a ``processing_error`` dead letter and an error BundleSet.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Sequence
from typing import Any

import orjson
from faust.types import EventT

from agents import redis_keys
from bundling.redis_embeddings import EMBEDDING_TTL_S, RedisEmbeddingCache
from bundling.upload_pool import (
    DeadlineExceeded,
    UploadJob,
    WorkerDied,
    long_lived_allocation,
    run_upload,
)
from bundling.uploads import error_bundle_set, tallies_for_store
from models import BundleSet, UploadEvent, UploadFile
from models.codec import Decoded, Rejected, decode
from models.dead_letters import ReasonCode
from popularity.aggregate import SEP

from . import catalogs, performance, pools, readmodel
from .app import app, settings
from .dead_letters import send_dead_letter
from .pools import upload_pool
from .tables import category_transactions, published_bundles
from .upload_topics import bundle_sets_topic, generation_metrics_topic, uploads_dlq, uploads_topic

log = logging.getLogger(__name__)

UPLOAD_STATUS_TTL_S = redis_keys.UPLOAD_STATUS_TTL_S

# store -> RollingCosts JSON: {"combos": {"objective:TYPE": {"recent": [<=50 ms], "ema", "runs"}}, "recent": [...]}
# No value_type: Faust recovery decodes typed values with ``typ.from_data``, which dict lacks.
rolling_costs = app.Table(
    "rolling-costs",
    default=None,
    partitions=settings.partitions,
    key_type=str,
    help="Per store: rolling 50 and EMA(0.2) of every (objective, bundle type) combo's duration.",
)


# --- pure helpers ----------------------------------------------------------------------------


def resolve_file(upload_file: UploadFile) -> bytes:
    """The file's bytes (``ingest.uploads``: only file:// URIs inside the upload store, sha checked)."""
    from ingest.uploads import resolve_upload_file

    return resolve_upload_file(upload_file, settings)


def build_event(
    store_id: str, upload_id: str, files: Sequence[tuple[str, bytes, str, str | None]]
) -> UploadEvent:
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
            upload_file = build_upload_file(kind, tmp, fmt, settings, checked=True)
        finally:
            Path(tmp).unlink(missing_ok=True)
        out.append(
            upload_file.model_copy(update={"filename": (filename or upload_file.filename)[:500]})
        )
    return UploadEvent(upload_id=upload_id, store_id=store_id, files=out)


def upload_status(upload_id: str, store_id: str, bundle_set: BundleSet | None = None) -> str:
    """The upload-status document (JSON) that ``GET /api/v1/uploads/{id}`` answers with.

    ``accepted`` from the moment the upload is on the topic; once its bundle set is out,
    ``done`` or ``error``, with the error, the bundle count and when the set was generated.
    """
    status: dict[str, object] = {"upload_id": upload_id, "store_id": store_id, "status": "accepted"}
    if bundle_set is not None:
        status["status"] = "done" if bundle_set.status == "ok" else "error"
        status["error"] = bundle_set.error
        status["bundles"] = len(bundle_set.bundles)
        status["generated_at"] = bundle_set.generated_at.isoformat()
    return orjson.dumps(status).decode()


def upload_job(
    upload: UploadEvent, tallies: dict[str, int], costs: object, feedback: tuple = ()
) -> UploadJob:
    return UploadJob(
        upload=upload.to_bytes(),
        tallies=tallies,
        rolling_costs=costs,
        limits=pools.limits(),
        upload_store_dir=str(settings.upload_store_dir),
        redis_url=readmodel.url_with_timeouts(),
        embedding_prefix=readmodel.family_prefix(redis_keys.EMBEDDINGS),
        feedback=feedback,
    )


# --- wiring ------------------------------------------------------------------------------------


async def _publish(bundle_set: BundleSet) -> None:
    """Read model first, then the topics: a consumer that reacts to the bundle-sets record by
    calling ``GET /api/v1/stores/{store}/bundles`` must find that set, not the one before it."""

    async def store_result() -> None:
        pipe = readmodel.redis_client().pipeline(transaction=False)
        pipe.set(readmodel.rkey("bundles", bundle_set.store_id), bundle_set.to_bytes().decode())
        pipe.set(
            readmodel.rkey("upload", bundle_set.upload_id),
            upload_status(bundle_set.upload_id, bundle_set.store_id, bundle_set),
            ex=UPLOAD_STATUS_TTL_S,
        )
        await pipe.execute()

    await readmodel.write_or_defer("bundle set", store_result)
    key = bundle_set.store_id.encode()
    await bundle_sets_topic.send(key=key, value=bundle_set.to_bytes())
    await generation_metrics_topic.send(key=key, value=bundle_set.metrics.to_bytes())


async def _dead_letter(
    event: EventT, code: ReasonCode, reason: str, errors: list[dict] | None = None
) -> None:
    await send_dead_letter(uploads_dlq, event, Rejected(code, reason, errors or []))


async def _fail(
    event: EventT,
    upload: UploadEvent,
    code: ReasonCode,
    reason: str,
    errors: list[dict] | None = None,
    bundle_set: BundleSet | None = None,
) -> BundleSet:
    await _dead_letter(event, code, reason, errors)
    bundle_set = bundle_set or error_bundle_set(upload, reason)
    await _publish(bundle_set)
    return bundle_set


async def process_upload(event: EventT) -> BundleSet | None:
    """One upload end to end; never raises for bad input (the stream must keep going)."""
    result = decode(UploadEvent, event.message.value)
    if not isinstance(result, Decoded):
        await send_dead_letter(uploads_dlq, event, result)
        return None
    upload = result.value
    tallies = tallies_for_store(category_transactions.items(), upload.store_id, SEP)
    # the store's live bundle performance (same partition as this event) scores the next set
    feedback = performance.feedback_for(upload.store_id)
    job = upload_job(upload, tallies, rolling_costs.get(upload.store_id), feedback)
    started = time.perf_counter()
    try:
        outcome = await upload_pool().run(run_upload, job)
    except DeadlineExceeded as exc:
        log.warning("upload %s of store %s: %s", upload.upload_id, upload.store_id, exc)
        return await _fail(
            event,
            upload,
            "deadline_exceeded",
            f"upload processing {exc}",
            [{"limit": "upload_deadline_s", "value": exc.deadline_s}],
        )
    except (WorkerDied, Exception) as exc:
        log.exception("upload %s failed in the upload pool", upload.upload_id)
        return await _fail(
            event,
            upload,
            "processing_error",
            f"upload processing failed: {type(exc).__name__}: {exc}",
        )
    log.info(
        "upload %s of store %s processed in %.0f ms",
        upload.upload_id,
        upload.store_id,
        (time.perf_counter() - started) * 1000,
    )
    if outcome.dead_letter is not None:
        code, reason, errors = outcome.dead_letter
        return await _fail(event, upload, code, reason, errors, outcome.bundle_set)
    # the agent iterates events, so this event is current: the record lands on the store's partition
    rolling_costs[upload.store_id] = outcome.rolling_costs
    # The catalog is hundreds of thousands of long-lived objects, decoded and indexed a slice at a
    # time so the loop keeps serving; the cyclic GC is paused meanwhile and they are frozen after
    # (one full collection over them would stall the loop for 100s of ms).
    with long_lived_allocation():
        products = await outcome.products()
        await catalogs.register_catalog_products_async(
            upload.store_id,
            upload.upload_id,
            products,
            sha256=catalogs.make_ref(upload.upload_id, outcome.catalog_file)["sha256"],
            currency=(outcome.catalog_summary or {}).get("currency"),
        )
    await catalogs.record_catalog(
        upload.store_id, upload.upload_id, outcome.catalog_file, outcome.catalog_summary
    )
    if outcome.bundle_set.status == "ok":
        # this event is current: the record lands on the store's partition
        published_bundles[upload.store_id] = outcome.bundle_set.to_bytes().decode()
        await performance.on_published(upload.store_id, outcome.bundle_set)
    await _publish(outcome.bundle_set)
    return outcome.bundle_set


@app.task
async def warm_upload_pool() -> None:
    """Start and warm the pool's children at startup, so the first upload pays no imports."""
    started = time.perf_counter()
    warm = await upload_pool().warm()
    log.info(
        "upload pool: %d process(es) warm in %.0f ms", warm, (time.perf_counter() - started) * 1000
    )
    gc.freeze()  # what startup built lives as long as the worker: keep it out of full collections


@app.on_before_shutdown.connect
async def _stop_upload_pool(sender: Any, /, *args: Any, **kwargs: Any) -> None:
    await asyncio.to_thread(pools.close)


@app.agent(uploads_topic, name="uploads")
async def uploads_agent(stream) -> None:
    async for event in stream.events():
        try:
            await process_upload(event)
        except Exception as exc:
            log.exception(
                "upload record %s[%d]@%d failed",
                event.message.topic,
                event.message.partition,
                event.message.offset,
            )
            await _dead_letter(
                event, "processing_error", f"upload processing failed: {type(exc).__name__}: {exc}"
            )


__all__ = [
    "EMBEDDING_TTL_S",
    "RedisEmbeddingCache",
    "build_event",
    "process_upload",
    "resolve_file",
    "rolling_costs",
    "upload_pool",
    "upload_status",
]
