"""Imports every agent and view so that one ``faust worker`` process runs all of them."""

from __future__ import annotations

from . import (
    health,  # noqa: F401  (stream progress sensor and event-loop lag task for /healthz)
    orders,  # noqa: F401  (orders agent)
)
from .app import app
from .http import orders as orders_http  # noqa: F401  (webhooks, popularity, health)

__all__ = ["app"]
from . import (
    bundles_store,  # noqa: F401  (bundle-attach-stats agent and table)
    chat,  # noqa: F401  (chat agent, chat-sessions table)
    config_view,  # noqa: F401  (config reader service in every worker, config-validator agent)
    keys_view,  # noqa: F401  (api-key registry reader in every worker)
    uploads,  # noqa: F401  (uploads agent, rolling-costs table, catalog-refs table)
)
from .http import auth as auth_http
from .http import bundles as bundles_http  # noqa: F401  (POST /api/v1/bundle/add-bulk, GET bundles)
from .http import chat as chat_http  # noqa: F401  (POST /api/v1/chat/turns, replies, /demo page)
from .http import config as config_http  # noqa: F401  (GET/PUT /api/v1/config, /config page, /static)
from .http import keys as keys_http  # noqa: F401  (GET/POST /api/v1/keys, DELETE /api/v1/keys/{id})
from .http import uploads as uploads_http  # noqa: F401  (upload submission, bundles, upload status)

auth_http.install()
