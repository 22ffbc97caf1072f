"""Imports every agent and view so that one ``faust worker`` process runs all of them."""

from __future__ import annotations

from . import orders  # noqa: F401  (orders agent)
from .app import app
from .http import orders as orders_http  # noqa: F401  (webhooks, popularity, health)

__all__ = ["app"]
from . import uploads  # noqa: F401,E402  (uploads agent, rolling-costs table, catalog-refs table)
from .http import uploads as uploads_http  # noqa: F401,E402  (upload submission, bundles, upload status)
