"""API key format, generation and hashing.

A key is ``bsk_<key_id>_<secret>``: the id part lets an operator list and revoke a key without
ever seeing its secret, and lets a worker find the one stored hash to compare against. Keys are
generated with 256 bits of randomness, so a single fast hash (SHA-256) is the right storage:
slow password hashes exist to protect low-entropy secrets, and they would cost milliseconds on
every request. Comparison is constant-time (``hmac.compare_digest``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

KEY_PREFIX = "bsk"
KEY_ID_BYTES = 6  # 12 hex characters: unique enough to name a key, not a secret
SECRET_BYTES = 32  # 256 bits of entropy
_KEY_RE = re.compile(r"^bsk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
KEY_ID_RE = re.compile(r"^[0-9a-f]{12}$")


@dataclass(frozen=True)
class GeneratedKey:
    key_id: str
    secret_key: str  # the full key, shown once
    key_hash: str  # what is stored


@dataclass(frozen=True)
class ParsedKey:
    key_id: str
    full: str


def hash_key(full_key: str) -> str:
    """Hex SHA-256 of the whole presented key (id and secret), the only form ever stored."""
    return hashlib.sha256(full_key.encode("utf-8")).hexdigest()


def hash_matches(full_key: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented key with a stored hash."""
    return hmac.compare_digest(hash_key(full_key), stored_hash)


def generate_key() -> GeneratedKey:
    key_id = secrets.token_hex(KEY_ID_BYTES)
    full = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(SECRET_BYTES)}"
    return GeneratedKey(key_id=key_id, secret_key=full, key_hash=hash_key(full))


def parse_key(presented: str) -> ParsedKey | None:
    """The key id of a well-formed key, or None (an unknown shape is simply an unknown key)."""
    match = _KEY_RE.match(presented)
    if match is None:
        return None
    return ParsedKey(key_id=match.group(1), full=presented)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; None when absent or another scheme."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token
