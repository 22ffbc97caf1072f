"""Shared base classes and small value types of every event and output."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from .upgrade import upgrade
from .version import SCHEMA_VERSION

Id = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
# Ids a client names and the worker puts into URLs, Redis keys and key scopes (store, upload,
# session, bundle): ASCII letters, digits and ``. _ @ + -``, starting with a letter or digit. No
# path separators, percent escapes, '..' runs, control characters (NUL) or letters from other
# scripts that look like ASCII ones, so one store can never be reached by another's spelling.
SAFE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,199}$"
_SAFE_ID = re.compile(SAFE_ID_PATTERN)


def _no_dot_runs(value: str) -> str:
    if ".." in value:
        raise ValueError("must not contain '..'")
    return value


SafeId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, pattern=SAFE_ID_PATTERN, strip_whitespace=True),
    AfterValidator(_no_dot_runs),
]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
# A unit price or cost above a billion is a unit or parsing error, never a product: refusing it here
# keeps sums of a few prices finite (two 1e308 prices overflow to inf, and inf is not JSON).
MAX_MONEY = 1e9
NonNegativeMoney = Annotated[float, Field(ge=0, le=MAX_MONEY, allow_inf_nan=False)]


def safe_id_problem(value: str) -> str | None:
    """Why ``value`` is not a SafeId (for a 422 that names the problem), or None when it is one."""
    if not value:
        return "is empty"
    if len(value) > 200:
        return f"is {len(value)} characters long (at most 200)"
    if _SAFE_ID.fullmatch(value) and ".." not in value:
        return None
    return (
        "may hold only ASCII letters, digits and . _ @ + -, must start with a letter or digit "
        "and must not contain '..'"
    )


def utcnow() -> datetime:
    return datetime.now(UTC)


class InputEvent(BaseModel):
    """Inputs are tolerant readers: unknown fields from newer producers are ignored, not fatal."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    schema_version: int = SCHEMA_VERSION

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_bytes(cls, raw: bytes | str) -> InputEvent:
        """Parse a record of any supported version (upcast first); raises on anything else."""
        return cls.model_validate(_upgraded(cls, orjson.loads(raw)))


class OutputRecord(BaseModel):
    """Outputs are strict: a field we emit that is not in the schema is a bug."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_bytes(cls, raw: bytes | str) -> OutputRecord:
        """Parse a record of any supported version (upcast first); raises on anything else."""
        return cls.model_validate(_upgraded(cls, orjson.loads(raw)))


def _upgraded(model: type[BaseModel], data: Any) -> Any:
    """``data`` lifted to the current schema version; non-objects pass through for pydantic to refuse."""
    return upgrade(model, data)[0] if isinstance(data, dict) else data


def dumps(obj: Any) -> bytes:
    """orjson with pydantic models accepted, for places that build payloads by hand."""
    if isinstance(obj, BaseModel):
        return orjson.dumps(obj.model_dump(mode="json"))
    return orjson.dumps(obj)
