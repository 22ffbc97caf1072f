"""The catalog per store: a small changelog-backed reference, parsed catalogs in a local LRU.

Why a reference and not the catalog: a store's catalog can be megabytes; one changelog record
per store must stay far below Kafka's message size. The ``catalog-refs`` table (keyed by store,
co-partitioned with uploads, orders and chat turns) holds the upload id and the catalog
``UploadFile`` (inline text for small files, else a file:// URI in the upload store) with its
sha256. Parsed catalogs live in a process-local LRU keyed by that sha256, so an unchanged
catalog is parsed once per process however many stores or uploads share it. A summary (and
the same reference) also goes to Redis, for HTTP readers on workers that do not own the store.

Used by the uploads agent (``record_catalog``/``register_catalog_products``) and by the
composite chat agent (``catalog_for``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from faust.streams import current_event

from bundling import uploads as uploads_pipeline
from bundling.upload_pool import long_lived_allocation, parse_catalog_job, unpickle_chunks
from bundling.uploads import majority_currency
from ingest.uploads import resolve_upload_file
from models import Product, UploadFile

from . import readmodel
from .app import app, settings
from .pools import limits, upload_pool

log = logging.getLogger(__name__)

LRU_SIZE = 64
BUILD_SLICE = 2000  # products indexed between two yields to the event loop (~1-3 ms)

# store_id -> {"upload_id", "file": UploadFile as dict, "format", "sha256"}
# No value_type: Faust recovery decodes typed values with ``typ.from_data``, which dict lacks.
catalog_refs = app.Table(
    "catalog-refs",
    default=None,
    partitions=settings.partitions,
    key_type=str,
    help="Latest catalog reference per store (never the catalog itself).",
)


@dataclass(frozen=True)
class CatalogView:
    """A parsed catalog, read-only; ``by_id`` keeps the first row of a repeated product id."""

    store_id: str
    upload_id: str
    products: list[Product]
    currency: str = "USD"
    sha256: str = ""
    by_id: dict[str, Product] = field(default_factory=dict)

    @classmethod
    def build(
        cls, store_id: str, upload_id: str, products: Sequence[Product], sha256: str = ""
    ) -> CatalogView:
        by_id: dict[str, Product] = {}
        for p in products:
            by_id.setdefault(p.product_id, p)
        return cls(store_id, upload_id, list(products), majority_currency(products), sha256, by_id)

    @classmethod
    async def build_async(
        cls,
        store_id: str,
        upload_id: str,
        products: Sequence[Product],
        sha256: str = "",
        currency: str | None = None,
    ) -> CatalogView:
        """``build`` a slice at a time, yielding to the event loop between slices: indexing 30k
        products at once holds the loop for tens of ms. ``currency``: already known (the child's
        summary), else counted here."""
        by_id: dict[str, Product] = {}
        counts: dict[str, int] = {}
        for start in range(0, len(products), BUILD_SLICE):
            for p in products[start : start + BUILD_SLICE]:
                by_id.setdefault(p.product_id, p)
                if currency is None:
                    counts[p.currency] = counts.get(p.currency, 0) + 1
            await asyncio.sleep(0)
        if currency is None:
            currency = max(counts, key=counts.__getitem__) if counts else "USD"
        return cls(store_id, upload_id, list(products), currency, sha256, by_id)

    def for_store(self, store_id: str, upload_id: str) -> CatalogView:
        """The same parsed products under another store/upload (identical files share one parse)."""
        if store_id == self.store_id and upload_id == self.upload_id:
            return self
        return CatalogView(
            store_id, upload_id, self.products, self.currency, self.sha256, self.by_id
        )


def products_sha256(products: Sequence[Product]) -> str:
    """Content hash of already-parsed products (for callers without the source file)."""
    h = hashlib.sha256()
    for p in products:
        h.update(p.model_dump_json().encode())
    return h.hexdigest()


def make_ref(upload_id: str, upload_file: UploadFile) -> dict[str, Any]:
    """The table value: small, self-contained, enough to re-parse the catalog on any worker."""
    sha = (
        upload_file.sha256
        or hashlib.sha256((upload_file.inline_text or upload_file.uri or "").encode()).hexdigest()
    )
    return {
        "upload_id": upload_id,
        "file": upload_file.model_dump(mode="json"),
        "format": upload_file.format,
        "sha256": sha,
    }


class _Lru:
    """sha256 -> CatalogView, least recently used evicted past ``size``."""

    def __init__(self, size: int = LRU_SIZE) -> None:
        self.size = size
        self._d: OrderedDict[str, CatalogView] = OrderedDict()

    def get(self, key: str) -> CatalogView | None:
        view = self._d.get(key)
        if view is not None:
            self._d.move_to_end(key)
        return view

    def put(self, key: str, view: CatalogView) -> None:
        self._d[key] = view
        self._d.move_to_end(key)
        while len(self._d) > self.size:
            self._d.popitem(last=False)

    def clear(self) -> None:
        self._d.clear()

    def __len__(self) -> int:
        return len(self._d)


_parsed = _Lru()
_registered: dict[
    str, CatalogView
] = {}  # store -> products registered by a caller that parsed them


def parse_catalog_file(upload_file: UploadFile) -> tuple[list[Product], Any]:
    """Resolve (inline or upload-store URI) and parse; raises IngestError/ValueError when unusable."""
    return uploads_pipeline.parse_catalog_file(
        upload_file, lambda file: resolve_upload_file(file, settings)
    )


async def _parse_in_pool(upload_file: UploadFile) -> list[Product]:
    """Parse in the upload pool (a catalog can be 30k rows: never on this process's GIL)."""
    chunks = await upload_pool().run(
        parse_catalog_job,
        upload_file.model_dump_json().encode(),
        limits(),
        str(settings.upload_store_dir),
    )
    with long_lived_allocation():
        return await unpickle_chunks(chunks)


def register_catalog_products(
    store_id: str, upload_id: str, products: Sequence[Product], *, sha256: str | None = None
) -> CatalogView:
    """Cache products a caller already parsed; ``sha256`` (of the source file) lets a later
    ``catalog_for`` that follows the table reference hit this parse instead of re-reading."""
    key = sha256 or products_sha256(products)
    return _register(CatalogView.build(store_id, upload_id, products, key))


async def register_catalog_products_async(
    store_id: str,
    upload_id: str,
    products: Sequence[Product],
    *,
    sha256: str,
    currency: str | None = None,
) -> CatalogView:
    """``register_catalog_products`` for big catalogs on the event loop: indexed a slice at a time."""
    return _register(await CatalogView.build_async(store_id, upload_id, products, sha256, currency))


def _register(view: CatalogView) -> CatalogView:
    _parsed.put(view.sha256, view)
    _registered[view.store_id] = view
    return view


async def record_catalog(
    store_id: str, upload_id: str, upload_file: UploadFile, counted: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Point the store at this upload's catalog (table + Redis). Call from the uploads agent,
    inside the upload's event, so the changelog record lands on the store's partition.

    ``counted``: products/categories/currency already computed where the catalog was parsed
    (``bundling.upload_pool.catalog_summary``); else they are counted from the cached parse."""
    ref = make_ref(upload_id, upload_file)
    catalog_refs[store_id] = ref
    if counted is None:
        view = _parsed.get(ref["sha256"])
        counted = {
            "products": len(view.products) if view else None,
            "categories": sorted({p.category for p in view.products})[:200] if view else None,
            "currency": view.currency if view else None,
        }
    summary = {
        "store_id": store_id,
        "upload_id": upload_id,
        "sha256": ref["sha256"],
        "format": ref["format"],
        "products": counted.get("products"),
        "categories": counted.get("categories"),
        "currency": counted.get("currency"),
    }
    document = orjson.dumps({"summary": summary, "ref": ref}).decode()

    async def store_catalog() -> None:
        await readmodel.redis_client().set(readmodel.rkey("catalog", store_id), document)

    await readmodel.write_or_defer("catalog summary", store_catalog)
    return ref


async def _ref_for(store_id: str) -> dict[str, Any] | None:
    ref = catalog_refs.get(store_id)
    if ref is not None:
        return ref
    try:
        raw = await readmodel.redis_client().get(readmodel.rkey("catalog", store_id))
    except readmodel.UNAVAILABLE as exc:
        # the table is the truth where the store's partition lives (its agents); only another
        # worker's HTTP view needs the Redis copy, and it answers 503 through its own read
        if current_event() is None:
            raise
        log.warning(
            "catalog copy of store %s not readable from Redis (%s); using the table's answer",
            store_id,
            exc,
        )
        return None
    return orjson.loads(raw)["ref"] if raw else None


async def catalog_for(store_id: str) -> CatalogView | None:
    """The store's latest catalog, or None when the store never uploaded one.

    Order: the table reference (authoritative on the worker that owns the store), else the Redis
    copy of it (any worker); the parse comes from the LRU or, once per sha256, from the file.
    """
    ref = await _ref_for(store_id)
    registered = _registered.get(store_id)
    if ref is None:
        return registered
    if registered is not None and registered.upload_id == ref["upload_id"]:
        return registered
    cached = _parsed.get(ref["sha256"])
    if cached is not None:
        return cached.for_store(store_id, ref["upload_id"])
    try:
        upload_file = UploadFile.model_validate(ref["file"])
        products = await _parse_in_pool(upload_file)
    except Exception as exc:
        log.warning(
            "catalog of store %s (upload %s) unreadable: %s", store_id, ref.get("upload_id"), exc
        )
        return None
    view = await CatalogView.build_async(store_id, ref["upload_id"], products, ref["sha256"])
    _parsed.put(ref["sha256"], view)
    return view
