"""Key scopes: ``admin``, ``gateway`` or ``store:<store_id>``, exactly one per key."""

from __future__ import annotations

from dataclasses import dataclass

ADMIN = "admin"
GATEWAY = "gateway"
STORE_PREFIX = "store:"
MAX_STORE_ID = 200


class ScopeError(ValueError):
    """A scope string that is not one of the three forms."""


def valid_store_id(store_id: str) -> bool:
    """The store ids the upload form accepts: 1-200 characters, no control characters, no '/'."""
    return (
        0 < len(store_id) <= MAX_STORE_ID
        and store_id == store_id.strip()
        and not any(ord(c) < 32 or c == "/" or c == "\x7f" for c in store_id)
    )


@dataclass(frozen=True)
class Scope:
    kind: str  # "admin" | "gateway" | "store"
    store_id: str | None = None

    def __str__(self) -> str:
        return f"{STORE_PREFIX}{self.store_id}" if self.kind == "store" else self.kind

    @property
    def is_admin(self) -> bool:
        return self.kind == ADMIN

    @property
    def is_gateway(self) -> bool:
        return self.kind == GATEWAY

    def covers_store(self, store_id: str) -> bool:
        """Whether this key may act on ``store_id`` at all (the route decides which kinds count)."""
        return self.is_admin or self.is_gateway or self.store_id == store_id


def parse_scope(text: str) -> Scope:
    """Parse and validate; raises ScopeError with the reason."""
    text = (text or "").strip()
    if text == ADMIN:
        return Scope(ADMIN)
    if text == GATEWAY:
        return Scope(GATEWAY)
    if text.startswith(STORE_PREFIX):
        store_id = text[len(STORE_PREFIX) :]
        if not valid_store_id(store_id):
            raise ScopeError(
                f"invalid store id in scope {text!r}: 1-{MAX_STORE_ID} characters, "
                "no control characters, no '/', no surrounding spaces"
            )
        return Scope("store", store_id)
    raise ScopeError(f"unknown scope {text!r}: expected 'admin', 'gateway' or 'store:<store_id>'")
