"""Expansion limits: what an uploaded file may *expand to*, enforced while it streams.

A 5 MB gzip can hold 2 GB of valid rows, so a limit on what arrives says nothing about the work
it causes. Every reader in ``ingest`` goes through ``source.open_binary``/``CsvTable``, which
count decompressed bytes, rows, columns and field sizes as they read; the parsers add products
per catalog and lines per order. A breach raises ``LimitExceeded`` naming the limit and its
value: HTTP answers it with 413/422, the uploads agent with a dead letter and an error BundleSet.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from core.settings import get_settings

from .errors import IngestError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer  # a stub-only name: it does not exist at run time

# Limits about sheer size answer 413 (Content Too Large); limits about shape answer 422.
_SIZE_LIMITS = frozenset({"max_decompressed_bytes", "max_rows", "max_catalog_products"})


class LimitExceeded(IngestError):
    """A file past one expansion limit; ``limit`` is the setting's name, ``value`` its value."""

    def __init__(self, limit: str, value: int, detail: str, *, file: str = "") -> None:
        super().__init__(f"{detail} exceeds {limit}={value}", file=file)
        self.limit = limit
        self.value = value

    @property
    def http_status(self) -> int:
        return 413 if self.limit in _SIZE_LIMITS else 422


@dataclass(frozen=True)
class Limits:
    """The expansion limits of one parse (defaults mirror ``Settings``; see its descriptions)."""

    max_decompressed_bytes: int = 256 * 1024 * 1024
    max_rows: int = 2_000_000
    max_columns: int = 512
    max_field_bytes: int = 128 * 1024
    max_lines_per_order: int = 10_000
    max_catalog_products: int = 100_000

    @classmethod
    def from_settings(cls, settings: object | None = None) -> Limits:
        """The limits configured for this process (``BUNDLESTREAM_MAX_*``)."""
        if settings is None:
            settings = get_settings()
        return cls(**{name: getattr(settings, name) for name in cls.__dataclass_fields__})


def resolve(limits: Limits | None) -> Limits:
    return limits if limits is not None else Limits.from_settings()


class BoundedReader(io.RawIOBase):
    """Raw stream over a (decompressing) stream that refuses to yield more than ``limit`` bytes.

    Reads are bounded chunks of the inner stream (gzip/zip decompress incrementally), so a bomb
    costs at most ``limit`` bytes of work before ``LimitExceeded``. ``prefix`` is served first:
    bytes already read for sniffing, counted like the rest.
    """

    def __init__(
        self,
        inner: IO[bytes] | io.BufferedIOBase,
        limit: int,
        file: str,
        prefix: bytes = b"",
        owner: IO[bytes] | None = None,
    ) -> None:
        super().__init__()
        self._inner = inner
        self._owner = owner  # the file under a decompressor (gzip/zip do not close it themselves)
        self._limit = limit
        self._file = file
        self._pending = memoryview(prefix)
        self.count = len(prefix)
        self.nul_bytes = prefix.count(b"\x00")  # rows are scanned for NUL only once this moves
        self._check()

    def _check(self) -> None:
        if self.count > self._limit:
            raise LimitExceeded(
                "max_decompressed_bytes",
                self._limit,
                f"decompressed size above {self._limit} bytes",
                file=self._file,
            )

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        if self._pending.nbytes:
            n = min(len(view), self._pending.nbytes)
            view[:n] = self._pending[:n]
            self._pending = self._pending[n:]
            return n
        data = self._inner.read(len(view))
        n = len(data)
        self.count += n
        self._check()
        if b"\x00" in data:
            self.nul_bytes += data.count(b"\x00")
        view[:n] = data
        return n

    def close(self) -> None:
        try:
            self._inner.close()
            if self._owner is not None and self._owner is not self._inner:
                self._owner.close()
        finally:
            super().close()
