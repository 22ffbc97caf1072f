"""Imports every agent and view so that one ``faust worker`` process runs all of them."""

from __future__ import annotations

from . import (
    health,  # noqa: F401  (registers stream progress sensor and event-loop lag task for /healthz)
    orders,  # noqa: F401  (registers orders agent)
)
from .app import app
from .http import orders as orders_http  # noqa: F401  (registers webhooks, popularity, health)

__all__ = ["app"]
from . import (
    bundles_store,  # noqa: F401  (registers bundle-attach-stats agent and table)
    chat,  # noqa: F401  (registers chat agent, chat-sessions table)
    config_view,  # noqa: F401  (registers config reader service in every worker, config-validator agent)
    keys_view,  # noqa: F401  (registers api-key registry reader in every worker)
    uploads,  # noqa: F401  (registers uploads agent, rolling-costs table, catalog-refs table)
)
from .http import auth as auth_http
from .http import bundles as bundles_http  # noqa: F401  (registers POST /api/v1/bundle/add-bulk, GET bundles)
from .http import chat as chat_http  # noqa: F401  (registers POST /api/v1/chat/turns, replies, /demo page)
from .http import config as config_http  # noqa: F401  (registers GET/PUT /api/v1/config, /config page, /static)
from .http import inventory as inventory_http  # noqa: F401  (registers the inventory webhook and stock levels)
from .http import keys as keys_http  # noqa: F401  (registers GET/POST /api/v1/keys, DELETE /api/v1/keys/{id})
from .http import merchant_page as merchant_page_http  # noqa: F401  (registers the /stores/{store} page)
from .http import performance as performance_http  # noqa: F401  (registers GET bundles/performance)
from .http import uploads as uploads_http  # noqa: F401  (registers upload submission, bundles, upload status)

auth_http.install()
