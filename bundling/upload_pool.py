"""Uploads are parsed and turned into bundles in a process pool, with a hard deadline.

Why a process and not a thread: CSV parsing and the engine are Python code that holds the GIL,
and the worker's event loop (heartbeats, the consumer keepalive, HTTP, chat replies) needs that
same GIL. A child process has its own.

Why pebble: its ``ProcessPool.schedule(..., timeout=)`` kills the one child that overran its
deadline and starts a replacement while the pool keeps serving; ``concurrent.futures`` cannot
stop a running task at all (only tear the whole pool down and handle ``BrokenProcessPool``).

Children come from a fork server (never a fork of the running asyncio/Kafka process) that has
already imported numpy, scipy, the parsers and the engine, so a new or replacement child starts
warm. What crosses the boundary stays small: the job is the upload event (inline text or a file
reference), the tallies and rolling costs; the outcome is the BundleSet, the new rolling-cost
state, a catalog summary and the parsed products as pickled chunks the worker decodes a few at
a time between other work (unpickling 30k products at once would hold its GIL for about 1 s).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import logging
import multiprocessing
import os
import pickle
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from core.settings import get_settings
from ingest.uploads import resolve_upload_file
from models import BundleSet, Product, UploadEvent, UploadFile
from models.dead_letters import ReasonCode

from .budget import RollingCosts
from .uploads import (
    UnusableUpload,
    error_bundle_set,
    fold_rolling_costs,
    generate,
    parse_catalog_file,
    parse_upload,
)

log = logging.getLogger(__name__)

PRODUCT_CHUNK = (
    250  # products per pickled chunk: ~1.5 ms of unpickling each in the worker (idle CPU)
)
PRELOAD = [
    "numpy",
    "scipy.sparse",
    "pydantic",
    "models",
    "ingest.catalog",
    "ingest.columnar",
    "bundling.uploads",
    "bundling.engine",
    "bundling.upload_pool",
]


class DeadlineExceeded(Exception):
    """The task ran past its deadline; its process was killed."""

    def __init__(self, deadline_s: float) -> None:
        super().__init__(
            f"exceeded upload_deadline_s={deadline_s:g} s; the parsing process was stopped"
        )
        self.deadline_s = deadline_s


class WorkerDied(Exception):
    """The child process died (killed by the OS, out of memory, crashed)."""


def probe(sleep_s: float = 0.0) -> int:
    """A trivial task: warms a child (imports are done at preload) and serves tests of the pool."""
    if sleep_s:
        time.sleep(sleep_s)
    return os.getpid()


def _child_init() -> None:
    # A child's numpy/BLAS threads would compete with the worker for the same cores.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    import bundling.engine  # noqa: F401  (loads the engine in the child; a no-op when the fork server preloaded it)


class DeadlinePool:
    """A pebble process pool where every task has a hard deadline; usable from asyncio."""

    def __init__(
        self,
        processes: int,
        deadline_s: float,
        *,
        start_method: str = "forkserver",
        stuck_after_s: float = 30.0,
    ) -> None:
        """``stuck_after_s``: how long past its deadline a task may stay unanswered before the pool
        is declared stuck. pebble's deadline only counts from the moment a child picks the task
        up, so a pool whose children never start would otherwise keep a task waiting forever."""
        self.processes, self.deadline_s, self.start_method = processes, deadline_s, start_method
        self.stuck_after_s = stuck_after_s
        self._pool: Any = None
        self._lock = threading.Lock()  # the warm-up thread and a first task may both start it

    def start(self) -> list[concurrent.futures.Future[Any]]:
        """Start the children now and warm each one; returns the warm-up futures.

        Blocks until the children exist (the fork server imports numpy/scipy first): call it
        from a thread, never on the event loop."""
        from pebble import ProcessPool

        with self._lock:
            if self._pool is None:
                context = multiprocessing.get_context(self.start_method)
                if self.start_method == "forkserver":
                    context.set_forkserver_preload(PRELOAD)
                self._pool = ProcessPool(
                    max_workers=self.processes, initializer=_child_init, context=context
                )
            return [self._pool.schedule(probe) for _ in range(self.processes)]

    async def run(self, fn: Callable[..., Any], *args: Any, deadline_s: float | None = None) -> Any:
        """``fn(*args)`` in a child; ``DeadlineExceeded`` past the deadline, ``WorkerDied`` if it died.

        A task still unanswered ``stuck_after_s`` past its deadline means the pool itself is stuck
        (a child that never started, a lost acknowledgement): the pool is replaced and the task
        tried once more on the fresh one before it counts as past its deadline."""
        deadline = self.deadline_s if deadline_s is None else deadline_s
        for attempt in (1, 2):
            future = await self._schedule(fn, args, deadline)
            wrapped = asyncio.wrap_future(future)
            try:
                done, _ = await asyncio.wait({wrapped}, timeout=deadline + self.stuck_after_s)
            except asyncio.CancelledError:
                future.cancel()  # pebble stops the child of a cancelled running task
                raise
            if done:
                return self._outcome(wrapped, deadline)
            future.cancel()
            log.error(
                "upload pool: no answer %.0f s after the %.0f s deadline (attempt %d); replacing the pool",
                self.stuck_after_s,
                deadline,
                attempt,
            )
            self.abandon()
        raise DeadlineExceeded(deadline)

    async def _schedule(
        self, fn: Callable[..., Any], args: tuple[Any, ...], deadline: float
    ) -> concurrent.futures.Future[Any]:
        if self._pool is None:
            await asyncio.to_thread(self.start)
        # pebble is untyped (the pool is Any): name what ``schedule`` returns
        future: concurrent.futures.Future[Any]
        try:
            future = self._pool.schedule(fn, args=args, timeout=deadline)
        except (
            RuntimeError,
            concurrent.futures.BrokenExecutor,
        ):  # the pool died: start a fresh one
            log.warning("upload pool unusable, starting a new one")
            self.abandon()
            await asyncio.to_thread(self.start)
            future = self._pool.schedule(fn, args=args, timeout=deadline)
        return future

    @staticmethod
    def _outcome(wrapped: asyncio.Future[Any], deadline: float) -> Any:
        from pebble import ProcessExpired

        try:
            return wrapped.result()
        except concurrent.futures.TimeoutError as exc:
            raise DeadlineExceeded(deadline) from exc
        except ProcessExpired as exc:
            raise WorkerDied(f"the parsing process died ({exc})") from exc

    async def warm(self, bound_s: float | None = None) -> int:
        """Start the children and wait (bounded) until each answered a probe; a pool that does not
        answer in time is replaced once. Returns how many children answered."""
        bound = self.stuck_after_s if bound_s is None else bound_s
        for attempt in (1, 2):
            futures = [asyncio.wrap_future(f) for f in await asyncio.to_thread(self.start)]
            done, pending = await asyncio.wait(futures, timeout=bound)
            if not pending:
                return len(done)
            log.error(
                "upload pool: %d of %d children not warm after %.0f s (attempt %d); replacing the pool",
                len(pending),
                len(futures),
                bound,
                attempt,
            )
            for future in pending:
                future.cancel()
            self.abandon()
        return 0

    def abandon(self) -> None:
        """Drop the current pool without waiting for it: a stuck pool may not stop cleanly, so it
        is stopped on a daemon thread while the next task starts a fresh one."""
        with self._lock:
            old, self._pool = self._pool, None
        if old is not None:
            threading.Thread(
                target=_stop_quietly, args=(old,), name="upload-pool-stop", daemon=True
            ).start()

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.stop()
                self._pool.join(timeout=5)
                self._pool = None


def _stop_quietly(pool: Any) -> None:
    try:
        pool.stop()
        pool.join(timeout=5)
    except Exception:  # best effort: the pool is already out of service
        log.warning("a replaced upload pool did not stop cleanly", exc_info=True)


# --- the upload job, run in the child ------------------------------------------------------------


@dataclass(frozen=True)
class UploadJob:
    """Everything the child needs, all small and cheap to pickle."""

    upload: bytes  # UploadEvent JSON
    tallies: Mapping[str, int]  # live category tallies of the store
    rolling_costs: Any  # the store's RollingCosts state (JSON-able dict) or None
    limits: Any  # ingest.limits.Limits
    upload_store_dir: str
    redis_url: str | None = None  # embedding cache; None: no cache
    embedding_prefix: str = ""
    feedback: tuple[Any, ...] = ()  # bundling.feedback.Adjustment from the store's live performance


@dataclass
class UploadOutcome:
    """The answer to one upload. ``dead_letter`` is (code, reason, errors) when it failed."""

    bundle_set: BundleSet
    dead_letter: tuple[ReasonCode, str, list[dict[str, Any]]] | None = None
    rolling_costs: dict[str, Any] | None = None
    catalog_file: UploadFile | None = None
    catalog_summary: dict[str, Any] | None = None
    product_chunks: list[bytes] = field(default_factory=list)

    async def products(self) -> list[Product]:
        """Decode the catalog a chunk at a time, yielding to the event loop between chunks."""
        return await unpickle_chunks(self.product_chunks)


_cache: Any = None


def _embedding_cache(redis_url: str | None, prefix: str) -> Any:
    """One Redis client per child process (a client never crosses a process boundary)."""
    global _cache
    if redis_url is None:
        return None
    if _cache is None or (_cache.prefix, _cache.url) != (prefix, redis_url):
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        from .redis_embeddings import RedisEmbeddingCache

        # the URL carries the worker's short timeouts; one retry, no backoff: a miss costs time only
        _cache = RedisEmbeddingCache(
            redis.Redis.from_url(redis_url, decode_responses=False, retry=Retry(NoBackoff(), 1)),
            prefix,
        )
        _cache.url = redis_url
    return _cache


def catalog_summary(products: list[Product], currency: str | None = None) -> dict[str, Any]:
    """``currency``: the products' majority currency when the caller has it already."""
    from .uploads import majority_currency

    return {
        "products": len(products),
        "categories": sorted({p.category for p in products})[:200],
        "currency": majority_currency(products) if currency is None else currency,
    }


def pickle_chunks(products: list[Product]) -> list[bytes]:
    return [
        pickle.dumps(products[i : i + PRODUCT_CHUNK], protocol=pickle.HIGHEST_PROTOCOL)
        for i in range(0, len(products), PRODUCT_CHUNK)
    ]


_gc_pause_depth = 0
_gc_was_enabled = True


@contextlib.contextmanager
def long_lived_allocation() -> Iterator[None]:
    """Pause the cyclic GC while a big long-lived structure is built, then freeze it.

    Decoding a 30k-product catalog allocates ~300k tracked objects; with the collector on, one
    of the full collections it triggers walks all of them at once (a 150-300 ms pause of the
    event loop, the chat p99 tail at the end of a big upload). Paused, nothing walks them;
    frozen at the end, no later full collection does either. Products hold no reference cycles,
    so a replaced catalog is still freed by reference counting. The price: reference cycles
    that other coroutines create and drop during the pause (a fraction of a second) are frozen
    too and never collected. Re-entrant: the outermost exit freezes and re-enables.
    """
    global _gc_pause_depth, _gc_was_enabled
    if _gc_pause_depth == 0:
        _gc_was_enabled = gc.isenabled()
        gc.disable()
    _gc_pause_depth += 1
    try:
        yield
    finally:
        _gc_pause_depth -= 1
        if _gc_pause_depth == 0:
            gc.freeze()
            if _gc_was_enabled:
                gc.enable()


async def unpickle_chunks(chunks: list[bytes]) -> list[Product]:
    """Decode product chunks, yielding to the event loop between them.

    Call inside ``long_lived_allocation()`` when the products outlive the call (a catalog)."""
    out: list[Product] = []
    for chunk in chunks:
        out.extend(pickle.loads(chunk))
        await asyncio.sleep(0)
    return out


def parse_catalog_job(upload_file: bytes, limits: Any, upload_store_dir: str) -> list[bytes]:
    """Re-parse a stored catalog (in the child) for a worker that has no parse of it yet.

    Raises ``IngestError``/``ValueError``/``OSError`` when the file is unusable."""
    settings = get_settings().model_copy(update={"upload_store_dir": upload_store_dir})
    products, _report = parse_catalog_file(
        UploadFile.model_validate_json(upload_file),
        lambda f: resolve_upload_file(f, settings),
        limits,
    )
    return pickle_chunks(products)


def run_upload(job: UploadJob) -> UploadOutcome:
    """Parse and generate one upload (in the child). Never raises for bad input or engine bugs."""
    upload = UploadEvent.model_validate_json(job.upload)
    settings = get_settings().model_copy(update={"upload_store_dir": job.upload_store_dir})

    def read_file(upload_file: UploadFile) -> bytes:
        return resolve_upload_file(upload_file, settings)

    try:
        parsed = parse_upload(upload, read_file, job.limits)
    except UnusableUpload as exc:
        return UploadOutcome(error_bundle_set(upload, exc), (exc.code, exc.reason, exc.errors))
    costs = RollingCosts.from_json(job.rolling_costs)
    try:
        bundle_set, runs = generate(
            upload,
            parsed,
            job.tallies,
            costs,
            _embedding_cache(job.redis_url, job.embedding_prefix),
            job.feedback,
        )
    except Exception as exc:
        log.exception("bundle generation failed for upload %s", upload.upload_id)
        reason = f"bundle generation failed: {type(exc).__name__}: {exc}"
        return UploadOutcome(
            error_bundle_set(upload, reason, parsed), ("processing_error", reason, [])
        )
    import orjson

    return UploadOutcome(
        bundle_set,
        None,
        orjson.loads(fold_rolling_costs(costs, runs).to_json()),
        parsed.catalog_file,
        catalog_summary(parsed.catalog, parsed.currency),
        pickle_chunks(parsed.catalog),
    )
