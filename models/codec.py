"""Decode raw record bytes into a model, or say precisely why not (for the dead-letter topic).

Older records are upcast to the current version first (``models.upgrade``), so an agent always
sees the current model whatever version the producer wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from .dead_letters import ReasonCode
from .upgrade import PATH, UpgradeError, UpgradePath

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Rejected:
    reason_code: ReasonCode
    reason: str
    errors: list[dict[str, Any]]


@dataclass(frozen=True)
class Decoded(Generic[M]):
    value: M
    written_at: int = PATH.current  # the schema_version the producer wrote (older ones were upcast)


def decode(model: type[M], raw: bytes | None, path: UpgradePath = PATH) -> Decoded[M] | Rejected:
    """Never raises: every outcome is either a model or a machine-readable rejection."""
    if raw is None or raw == b"":
        return Rejected("undecodable", "empty record value", [])
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Rejected("undecodable", f"not JSON: {exc}", [])
    if not isinstance(data, dict):
        return Rejected("invalid_schema", f"expected a JSON object, got {type(data).__name__}", [])
    try:
        current, written_at = path.upgrade(model, data)
    except UpgradeError as exc:
        return Rejected(exc.reason_code, exc.reason, [])
    try:
        return Decoded(model.model_validate(current), written_at)
    except ValidationError as exc:
        errors = [
            {"loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        summary = "; ".join(f"{e['loc']}: {e['msg']}" for e in errors[:5])
        return Rejected("invalid_schema", f"{model.__name__} validation failed: {summary}", errors)
