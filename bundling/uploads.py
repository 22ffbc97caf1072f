"""A store upload -> its bundle set: parse the files, run the engine, account for every bad row.

Pure: the caller hands in a ``read_file`` function (the agent resolves inline text or upload-store
URIs), the live category tallies and the store's rolling-cost state, and gets back data. The
uploads agent only wires this to Kafka, the tables and Redis.

Order histories are parsed column-wise (``ingest.columnar``): the engine only needs columns, and
skipping one pydantic object per order is what keeps a 541,909-line history inside the budget.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ingest.catalog import parse_catalog
from ingest.columnar import read_order_lines
from ingest.errors import IngestError
from ingest.limits import LimitExceeded
from models import BadRow, BundleSet, ComboRun, GenerationMetrics, Product, UploadEvent, UploadFile
from models.dead_letters import ReasonCode

from .budget import RollingCosts, update_many

MAX_BAD_ROWS = 1000
ReadFile = Callable[[UploadFile], bytes]


class UnusableUpload(Exception):
    """The upload cannot yield bundles (no usable catalog rows, missing columns, unreadable file)."""

    def __init__(
        self,
        reason: str,
        *,
        bad_rows: Sequence[BadRow] = (),
        bad_row_count: int = 0,
        parse_ms: float = 0.0,
        errors: list[dict[str, Any]] | None = None,
        code: ReasonCode = "unusable_upload",
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = (
            code  # dead-letter code: "unusable_upload", or "limit_exceeded" past an expansion limit
        )
        self.bad_rows = list(bad_rows)
        self.bad_row_count = bad_row_count
        self.parse_ms = parse_ms
        self.errors = errors or []


@dataclass
class ParsedUpload:
    catalog: list[Product]
    order_lines: Any  # ingest.columnar.OrderLines, or None when the upload has no orders file
    catalog_file: UploadFile
    bad_rows: list[BadRow] = field(default_factory=list)
    bad_row_count: int = 0
    parse_ms: float = 0.0
    # the catalog's majority currency: the orders parse and the engine both price in it
    currency: str = "USD"


def majority_currency(products: Sequence[Product]) -> str:
    """The most common currency, the first seen of equals (Counter counts in C, in insertion
    order, and ``max`` keeps the first maximum)."""
    counts = Counter(p.currency for p in products)
    return max(counts, key=counts.__getitem__) if counts else "USD"


def _format(upload_file: UploadFile) -> str | None:
    return upload_file.format if upload_file.format not in ("", "auto") else None


def parse_catalog_file(
    upload_file: UploadFile, read_file: ReadFile, limits: Any = None
) -> tuple[list[Product], Any]:
    """Raises IngestError/ValueError/OSError when the file is unusable (``limits``: ``ingest.limits.Limits``)."""
    result = parse_catalog(
        read_file(upload_file),
        _format(upload_file),
        name=upload_file.filename or None,
        limits=limits,
    )
    return result.products, result.report


def parse_upload(upload: UploadEvent, read_file: ReadFile, limits: Any = None) -> ParsedUpload:
    """Resolve and parse every file of the upload. Raises ``UnusableUpload`` with the reason.

    Bad rows of all files are pooled (at most 1000 kept, the count stays exact). An orders file
    that cannot be read makes the upload unusable too: silently dropping the history would turn a
    mature store into a cold-start one. One orders file per upload (the contract allows up to four
    files in all; a second orders file is refused with a reason rather than half-used).
    """
    started = time.perf_counter()
    bad: list[BadRow] = []
    bad_count = 0

    def account(report: Any) -> None:
        nonlocal bad_count
        bad.extend(report.bad_rows[: max(0, MAX_BAD_ROWS - len(bad))])
        bad_count += report.bad_row_count

    def unusable(
        reason: str, errors: list[dict[str, Any]] | None = None, cause: Exception | None = None
    ) -> UnusableUpload:
        code: ReasonCode = (
            "limit_exceeded" if isinstance(cause, LimitExceeded) else "unusable_upload"
        )
        return UnusableUpload(
            reason,
            bad_rows=bad,
            bad_row_count=bad_count,
            parse_ms=(time.perf_counter() - started) * 1000,
            errors=errors,
            code=code,
        )

    def file_errors(f: UploadFile, exc: Exception) -> list[dict[str, Any]]:
        detail: dict[str, Any] = {"file": f.filename, "missing": list(getattr(exc, "missing", ()))}
        if isinstance(exc, LimitExceeded):
            detail.update(limit=exc.limit, value=exc.value)
        return [detail]

    catalog_files = [f for f in upload.files if f.kind == "catalog"]
    order_files = [f for f in upload.files if f.kind == "orders"]
    if not catalog_files:
        raise unusable("the upload has no catalog file")
    if len(order_files) > 1:
        raise unusable(
            f"the upload has {len(order_files)} orders files; send one history per upload"
        )
    catalog: list[Product] = []
    for f in catalog_files:
        try:
            products, report = parse_catalog_file(f, read_file, limits)
        except (IngestError, ValueError, OSError) as exc:
            raise unusable(
                f"catalog {f.filename or '<inline>'}: {exc}", file_errors(f, exc), exc
            ) from exc
        account(report)
        catalog.extend(products)
    if not catalog:
        raise unusable(f"no usable catalog rows ({bad_count} bad rows)")
    currency = majority_currency(catalog)
    order_lines = None
    for f in order_files:
        try:
            order_lines = read_order_lines(
                read_file(f),
                _format(f),
                store_id=upload.store_id,
                name=f.filename or None,
                categories={p.product_id: p.category for p in catalog},
                currency=currency,
                limits=limits,
            )
        except (IngestError, ValueError, OSError) as exc:
            raise unusable(
                f"orders {f.filename or '<inline>'}: {exc}", file_errors(f, exc), exc
            ) from exc
        account(order_lines.report)
    return ParsedUpload(
        catalog,
        order_lines,
        catalog_files[0],
        bad,
        bad_count,
        (time.perf_counter() - started) * 1000,
        currency,
    )


def generate(
    upload: UploadEvent,
    parsed: ParsedUpload,
    tallies: Mapping[str, int],
    costs: RollingCosts,
    embedding_cache: Any = None,
    feedback: Sequence[Any] = (),
) -> tuple[BundleSet, list[ComboRun]]:
    """The engine call on a parsed upload (CPU bound; the agent runs it in a thread)."""
    from .engine import generate_bundle_set

    bundle_set, runs = generate_bundle_set(
        upload.upload_id,
        upload.store_id,
        parsed.catalog,
        [],
        order_lines=parsed.order_lines,
        category_transactions=tallies,
        rolling_costs=costs,
        embedding_cache=embedding_cache,
        bad_rows=parsed.bad_rows,
        bad_row_count=parsed.bad_row_count,
        parse_ms=round(parsed.parse_ms, 3),
        currency=parsed.currency,
        feedback=feedback,
    )
    return bundle_set, list(runs)


def error_bundle_set(
    upload: UploadEvent, exc: UnusableUpload | str, parsed: ParsedUpload | None = None
) -> BundleSet:
    """The answer to an upload that yields no bundles: status 'error' and the reason."""
    reason = exc.reason if isinstance(exc, UnusableUpload) else str(exc)
    source: UnusableUpload | ParsedUpload | None = (
        exc if isinstance(exc, UnusableUpload) else parsed
    )
    metrics = GenerationMetrics(
        csv_upload_id=upload.upload_id,
        store_id=upload.store_id,
        bad_rows=source.bad_rows[:MAX_BAD_ROWS] if source else [],
        bad_row_count=source.bad_row_count if source else 0,
        parse_ms=round(source.parse_ms, 3) if source else 0.0,
    )
    return BundleSet(
        upload_id=upload.upload_id,
        store_id=upload.store_id,
        status="error",
        error=reason[:4000],
        bundles=[],
        metrics=metrics,
    )


def tallies_for_store(
    items: Iterable[tuple[str, Sequence[int] | None]], store_id: str, sep: str
) -> dict[str, int]:
    """category -> orders, from ``category-transactions`` entries keyed ``store <sep> category``."""
    prefix = store_id + sep
    out: dict[str, int] = {}
    for key, value in items:
        if value and key.startswith(prefix):
            out[key[len(prefix) :]] = int(value[0])
    return out


def fold_rolling_costs(state: RollingCosts, runs: Sequence[ComboRun]) -> RollingCosts:
    """The store's rolling-cost state after this upload's combos (rolling 50 + EMA per combo)."""
    return (
        update_many(state, [((r.objective, r.type), float(r.duration_ms)) for r in runs])
        if runs
        else state
    )
