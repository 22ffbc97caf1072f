"""Refuse to serve the world with development secrets: the checks a worker runs before binding.

A worker on a loopback address is a developer's; one bound to any other address (``0.0.0.0`` in a
container, a LAN or public IP, a hostname) is reachable by others, and there the development
webhook secret would let anyone forge orders and a missing admin key would leave nobody able to
manage keys. Pure: settings in, reasons out.
"""

from __future__ import annotations

import ipaddress

from core.settings import DEV_WEBHOOK_SECRET, Settings

# Values that are known to everyone who has read this repository or its compose file.
PLACEHOLDER_SECRETS = frozenset({DEV_WEBHOOK_SECRET, "change-me", "changeme", "secret"})
# An admin key anyone can guess in an afternoon is no key: 16 characters of token_urlsafe are
# 96 bits; a human-chosen word is far less.
MIN_ADMIN_TOKEN_CHARS = 16


def is_loopback(host: str) -> bool:
    """True only for addresses that cannot be reached from another machine.

    A hostname other than ``localhost`` may resolve to anything, so it counts as reachable; so
    does the empty host and ``0.0.0.0``/``::`` (every interface).
    """
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def production_problems(settings: Settings) -> list[str]:
    """Why this worker must not start on its bind address; empty when it may (or binds loopback)."""
    if is_loopback(settings.web_host):
        return []
    where = f"the worker binds {settings.web_host!r}, which is not a loopback address"
    problems = []
    if (
        settings.shopify_webhook_secret.strip() in PLACEHOLDER_SECRETS
        or not settings.shopify_webhook_secret.strip()
    ):
        problems.append(
            f"{where}, and BUNDLESTREAM_SHOPIFY_WEBHOOK_SECRET is the development default "
            f"({settings.shopify_webhook_secret!r} is public): set a secret of your own"
        )
    for shop, secret in sorted(settings.shopify_webhook_secrets.items()):
        if secret.get_secret_value().strip() in PLACEHOLDER_SECRETS:
            problems.append(
                f"{where}, and the webhook secret of shop {shop!r} in BUNDLESTREAM_SHOPIFY_WEBHOOK_SECRETS "
                "is a development default: set the shop's real secret"
            )
    token = settings.admin_token.get_secret_value().strip() if settings.admin_token else ""
    if not token:
        problems.append(
            f"{where}, and BUNDLESTREAM_ADMIN_TOKEN is not set: set a long random admin key "
            "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )
    elif len(token) < MIN_ADMIN_TOKEN_CHARS or token in PLACEHOLDER_SECRETS:
        problems.append(
            f"{where}, and BUNDLESTREAM_ADMIN_TOKEN is too easy to guess (fewer than "
            f"{MIN_ADMIN_TOKEN_CHARS} characters or a placeholder): set a long random admin key"
        )
    return problems
