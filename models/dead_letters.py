"""Dead letters: every input that cannot be processed, with enough to replay or debug it."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from .common import OutputRecord, utcnow

ReasonCode = Literal[
    "undecodable",  # not UTF-8 / not JSON
    "invalid_schema",  # JSON but fails the pydantic model
    "unsupported_version",  # schema_version newer than this worker understands
    "unusable_upload",  # upload parsed but nothing usable (no catalog rows, missing columns, ...)
    "processing_error",  # the pure function raised; the event is kept, the agent goes on
    "limit_exceeded",  # an upload file past an expansion limit (decompressed bytes, rows, ...)
    "deadline_exceeded",  # parsing + generation ran past upload_deadline_s; the child was stopped
]


class DeadLetter(OutputRecord):
    source_topic: str
    source_partition: int
    source_offset: int
    key_b64: str | None = None
    raw_b64: str = Field(description="The record value exactly as received, base64.")
    reason_code: ReasonCode
    reason: str = Field(max_length=4000)
    errors: list[dict[str, Any]] = Field(default_factory=list, max_length=50)
    failed_at: datetime = Field(default_factory=utcnow)

    @classmethod
    def for_record(
        cls,
        *,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        reason_code: ReasonCode,
        reason: str,
        errors: list[dict[str, Any]] | None = None,
    ) -> DeadLetter:
        return cls(
            source_topic=topic,
            source_partition=partition,
            source_offset=offset,
            key_b64=base64.b64encode(key).decode() if key is not None else None,
            raw_b64=base64.b64encode(value or b"").decode(),
            reason_code=reason_code,
            reason=reason[:4000],
            errors=(errors or [])[:50],
        )

    @property
    def raw(self) -> bytes:
        return base64.b64decode(self.raw_b64)
