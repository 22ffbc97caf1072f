"""The one exception ingestion raises: the whole file is unusable (not one bad row)."""

from __future__ import annotations


class IngestError(ValueError):
    """A file that cannot be read as the requested format at all.

    Row-level problems never raise; they become ``BadRow`` entries so a replay keeps going.
    ``missing`` names the required columns that were not found, for callers that want to
    show them (HTTP 422, dead letters) without parsing the message.
    """

    def __init__(self, message: str, *, file: str = "", missing: tuple[str, ...] = ()) -> None:
        super().__init__(f"{file}: {message}" if file else message)
        self.file = file
        self.missing = missing
