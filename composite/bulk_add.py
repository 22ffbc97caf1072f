"""POST /api/v1/bundle/add-bulk as pure logic; the caller stores and publishes.

Rules: every id must be in the store's catalog (else ``UnknownProductsError`` naming them, an
HTTP 422); duplicates in the request count once; without a ``bundle_id`` (or with one that does
not exist yet) a bundle is created, otherwise only products not already in it are appended.
``products_added`` names what this call added; ``total_price`` is the whole bundle's.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from models.catalog import Product
from models.chat import AddBulkRequest, AddBulkResponse, BundleAdded
from models.common import utcnow


class UnknownProductsError(ValueError):
    """Ids not in the catalog; the HTTP layer answers 422 with ``unknown_ids``."""

    def __init__(self, unknown_ids: list[str]) -> None:
        super().__init__(f"unknown product ids: {', '.join(unknown_ids)}")
        self.unknown_ids = unknown_ids


class BundleStore(Protocol):
    def get(self, bundle_id: str) -> list[str] | None: ...

    def put(self, bundle_id: str, product_ids: list[str]) -> None: ...


class InMemoryBundleStore:
    """Dict-backed store for tests and the single-process demo."""

    def __init__(self) -> None:
        self.bundles: dict[str, list[str]] = {}

    def get(self, bundle_id: str) -> list[str] | None:
        got = self.bundles.get(bundle_id)
        return list(got) if got is not None else None

    def put(self, bundle_id: str, product_ids: list[str]) -> None:
        self.bundles[bundle_id] = list(product_ids)


@dataclass(frozen=True)
class BulkAddResult:
    bundle_id: str
    bundle_product_ids: list[str]
    created: bool
    response: AddBulkResponse
    record: BundleAdded


def _name(p: Product) -> str:
    return p.title or p.product_id


def plan_bulk_add(
    request: AddBulkRequest,
    catalog: Mapping[str, Product],
    existing: list[str] | None,
    *,
    store_id: str | None = None,
    new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    now: datetime | None = None,
) -> BulkAddResult:
    """Pure: request + catalog + the bundle's current products (None = no such bundle) -> result."""
    wanted = list(dict.fromkeys(pid.strip() for pid in request.product_ids))
    unknown = [pid for pid in wanted if pid not in catalog]
    if unknown:
        raise UnknownProductsError(unknown)
    created = existing is None
    bundle_id = request.bundle_id or new_id()
    current = [] if existing is None else list(existing)
    present = set(current)
    added = [pid for pid in wanted if pid not in present]
    products = current + added
    known = [
        catalog[pid] for pid in products if pid in catalog
    ]  # a delisted old item no longer prices
    total = round(sum(p.price for p in known), 2)
    currency = next((catalog[pid].currency for pid in wanted), "USD")
    response = AddBulkResponse(
        bundle_id=bundle_id,
        products_added=[_name(catalog[pid]) for pid in added],
        total_price=total,
        currency=currency,
    )
    record = BundleAdded(
        bundle_id=bundle_id,
        store_id=store_id or request.store_id or "default",
        user_id=request.user_id,
        session_id=request.session_id,
        option_label=request.option_label,
        product_ids=added,
        products_added=response.products_added,
        bundle_product_ids=products,
        total_price=total,
        currency=currency,
        created=created,
        added_at=now or utcnow(),
    )
    return BulkAddResult(bundle_id, products, created, response, record)


def add_bulk(
    request: AddBulkRequest,
    catalog: Mapping[str, Product],
    store: BundleStore,
    *,
    store_id: str | None = None,
    new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    now: datetime | None = None,
) -> BulkAddResult:
    """Convenience for callers with a synchronous store: read, plan, write."""
    existing = store.get(request.bundle_id) if request.bundle_id else None
    result = plan_bulk_add(request, catalog, existing, store_id=store_id, new_id=new_id, now=now)
    store.put(result.bundle_id, result.bundle_product_ids)
    return result
