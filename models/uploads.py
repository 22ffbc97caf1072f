"""Store uploads: a catalog and an order history, inline when small, by reference when large."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from .common import InputEvent, SafeId, utcnow

CatalogFormat = Literal["generic", "shopify_products"]
OrdersFormat = Literal["generic", "shopify_orders", "online_retail", "olist"]


class UploadFile(InputEvent):
    """One CSV of an upload. Exactly one of ``inline_text`` and ``uri`` is set."""

    kind: Literal["catalog", "orders"]
    format: str = Field(description="One of CatalogFormat for catalogs, OrdersFormat for orders.")
    filename: str = Field("", max_length=500)
    inline_text: str | None = Field(None, description="The CSV itself, for small files.")
    uri: str | None = Field(
        None, max_length=2000, description="file:// URI in the upload store, for large files."
    )
    sha256: str = Field("", max_length=64)
    size_bytes: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _one_source(self) -> UploadFile:
        if (self.inline_text is None) == (self.uri is None):
            raise ValueError("exactly one of inline_text and uri must be set")
        return self


class UploadEvent(InputEvent):
    """A store's upload; the uploads agent answers with one BundleSet per upload_id."""

    upload_id: SafeId
    store_id: SafeId
    submitted_at: datetime = Field(default_factory=utcnow)
    files: list[UploadFile] = Field(min_length=1, max_length=4)
    requested_by: str | None = Field(None, max_length=200)
