"""API key records: one per key id on the compacted api-keys topic (the system of record).

Only the SHA-256 of the key is stored; the key itself is shown once, when it is created. A
revoked key keeps its record with ``revoked_at`` set, so listings still say who it was and
compaction never resurrects it; a tombstone (null value) forgets the key id altogether.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, field_validator

from security.scopes import ScopeError, parse_scope

from .common import InputEvent, utcnow


class ApiKeyRecord(InputEvent):
    key_id: str = Field(
        ..., pattern=r"^[0-9a-f]{12}$", description="Public id of the key (the part after bsk_)."
    )
    name: str = Field("", max_length=200, description="Who or what the key is for.")
    scope: str = Field(..., description="admin, gateway or store:<store_id>.")
    key_hash: str = Field(
        ..., pattern=r"^[0-9a-f]{64}$", description="Hex SHA-256 of the full key."
    )
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = Field(
        None, description="Set when revoked; the key no longer authenticates."
    )

    @field_validator("scope")
    @classmethod
    def _valid_scope(cls, value: str) -> str:
        try:
            return str(parse_scope(value))
        except ScopeError as exc:
            raise ValueError(str(exc)) from exc

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def public(self) -> dict[str, Any]:
        """What listings show: never the hash."""
        return {
            "key_id": self.key_id,
            "name": self.name,
            "scope": self.scope,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }
