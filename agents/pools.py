"""The worker's upload process pool (``bundling.upload_pool``), shared by the uploads agent and
the catalog cache: both run heavy parsing there, off the event loop's GIL."""

from __future__ import annotations

from bundling.upload_pool import DeadlinePool
from ingest.limits import Limits

from .app import settings

_pool: DeadlinePool | None = None


def upload_pool() -> DeadlinePool:
    """``upload_processes`` children; every task has the ``upload_deadline_s`` deadline."""
    global _pool
    if _pool is None:
        _pool = DeadlinePool(settings.upload_processes, settings.upload_deadline_s)
    return _pool


def limits() -> Limits:
    return Limits.from_settings(settings)


def close() -> None:
    global _pool
    if _pool is not None:
        _pool.close()
        _pool = None
