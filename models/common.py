"""Shared base classes and small value types of every event and output."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

SCHEMA_VERSION = 1

Id = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
NonNegativeMoney = Annotated[float, Field(ge=0, allow_inf_nan=False)]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class InputEvent(BaseModel):
    """Inputs are tolerant readers: unknown fields from newer producers are ignored, not fatal."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    schema_version: int = SCHEMA_VERSION

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_bytes(cls, raw: bytes | str) -> "InputEvent":
        return cls.model_validate(orjson.loads(raw))


class OutputRecord(BaseModel):
    """Outputs are strict: a field we emit that is not in the schema is a bug."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_bytes(cls, raw: bytes | str) -> "OutputRecord":
        return cls.model_validate(orjson.loads(raw))


def dumps(obj: Any) -> bytes:
    """orjson with pydantic models accepted, for places that build payloads by hand."""
    if isinstance(obj, BaseModel):
        return orjson.dumps(obj.model_dump(mode="json"))
    return orjson.dumps(obj)
