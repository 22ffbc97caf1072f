"""Open a CSV from a path, bytes or text and stream its rows with physical line numbers.

Gzip and zip are recognised by their magic bytes (not the file name) so uploads stored under a
hash name still work; binary junk is refused up front rather than producing thousands of bad rows.
This is the one place every reader passes through (HTTP checks, the uploads agent, ``bundlestream
publish``), so it is where the expansion limits (``ingest.limits``) are enforced while streaming.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import os
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

from .errors import IngestError
from .limits import BoundedReader, LimitExceeded, Limits, resolve
from .report import IngestReport

Source = str | bytes | bytearray | os.PathLike

_replaced = [0]  # undecodable byte runs seen by any table; rows are scanned only once this moves


def _count_and_replace(exc: UnicodeError) -> tuple[str | bytes, int]:
    _replaced[0] += 1
    return codecs.replace_errors(exc)


codecs.register_error("bundlestream-ingest", _count_and_replace)
GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
SNIFF_BYTES = 8192
READ_BUFFER = 64 * 1024


def normalise_header(name: str) -> str:
    """Header matching ignores case, surrounding spaces and a BOM left by odd exporters."""
    return " ".join(name.replace("\ufeff", "").strip().lower().split())


def source_name(src: Source, name: str | None = None) -> str:
    if name:
        return name
    if isinstance(src, os.PathLike) or (isinstance(src, str) and _looks_like_path(src)):
        return Path(src).name
    return "<upload>"


def _looks_like_path(text: str) -> bool:
    """A str is CSV text when it has a line break (or is empty); otherwise it names a file."""
    return bool(text) and "\n" not in text and "\r" not in text


def _binary_stream(src: Source) -> IO[bytes]:
    if isinstance(src, (bytes, bytearray)):
        return io.BytesIO(bytes(src))
    if isinstance(src, str) and not _looks_like_path(src):
        return io.BytesIO(src.encode("utf-8"))
    path = Path(src)
    try:
        return open(path, "rb")
    except OSError as exc:
        raise IngestError(f"cannot open: {exc.strerror or exc}", file=path.name) from exc


def _decompressed(raw: IO[bytes], file: str) -> IO[bytes] | io.BufferedIOBase:
    """The stream of the file's content: gunzipped, the single member of a zip, or as is."""
    head = raw.read(4)
    raw.seek(0)
    if head[:2] == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if head == ZIP_MAGIC:
        try:
            archive = zipfile.ZipFile(raw)
            members = [info for info in archive.infolist() if not info.is_dir()]
            if len(members) != 1:
                raise IngestError(
                    f"a zip upload must hold exactly one CSV file, found {len(members)}", file=file
                )
            return archive.open(members[0])
        except (zipfile.BadZipFile, NotImplementedError, OSError, EOFError, zlib.error) as exc:
            raise IngestError(f"not a readable zip file ({exc})", file=file) from exc
    return raw


def open_binary(
    src: Source, file: str, limits: Limits | None = None
) -> io.BufferedReader[BoundedReader]:
    """The decompressed bytes, bounded by ``max_decompressed_bytes``; refuses binary content."""
    limits = resolve(limits)
    raw = _binary_stream(src)
    try:
        stream = _decompressed(raw, file)
        sniff = stream.read(SNIFF_BYTES)
    except IngestError:
        raw.close()
        raise
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
        raw.close()
        raise IngestError(f"not a readable gzip or zip file ({exc})", file=file) from exc
    if b"\x00" in sniff:
        raw.close()
        raise IngestError(
            "not a CSV file: binary content (NUL bytes) in the first 8 KiB", file=file
        )
    try:
        bounded = BoundedReader(stream, limits.max_decompressed_bytes, file, sniff, owner=raw)
    except LimitExceeded:
        raw.close()
        raise
    return io.BufferedReader(bounded, READ_BUFFER)


def open_text(
    src: Source, file: str, limits: Limits | None = None
) -> io.TextIOWrapper[io.BufferedReader[BoundedReader]]:
    """Text stream over the (possibly compressed) bytes; refuses binary content."""
    # errors=replace: one undecodable byte must not abort a 500k-row replay; rows are flagged.
    return io.TextIOWrapper(
        open_binary(src, file, limits),
        encoding="utf-8-sig",
        errors="bundlestream-ingest",
        newline="",
    )


def decompressed_size(
    src: Source, file: str, limits: Limits | None = None, chunk: int = 1 << 20
) -> int:
    """Read the whole content once, counting: ``LimitExceeded`` past ``max_decompressed_bytes``.

    Bounded work for the HTTP request path: inflating runs in C in chunks of ``chunk`` bytes
    (zlib releases the GIL while it inflates), nothing is parsed or kept.
    """
    with open_binary(src, file, limits) as stream:
        try:
            while stream.read(chunk):
                pass
        except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
            raise IngestError(f"file truncated or corrupt ({exc})", file=file) from exc
        return stream.raw.count


class CsvTable:
    """A CSV file with a header row, iterated as ``(physical_line, fields)``.

    Line numbers are physical: the header is line 1 and a record spanning several lines
    (quoted newlines) reports the line it starts on.
    """

    def __init__(self, src: Source, report: IngestReport, limits: Limits | None = None) -> None:
        self.report = report
        self.limits = limits = resolve(limits)
        # Process-wide in the csv module; every table of a process applies the same setting.
        csv.field_size_limit(limits.max_field_bytes)
        self._text = open_text(src, report.file, limits)
        self._raw: BoundedReader = self._text.buffer.raw
        self._replaced_at_open = _replaced[0]
        self._reader = csv.reader(self._text)
        try:
            header = next(self._reader, None)
        except LimitExceeded:
            self.close()
            raise
        except csv.Error as exc:
            self.close()
            if "field larger" in str(exc):
                raise LimitExceeded(
                    "max_field_bytes", limits.max_field_bytes, "a header field", file=report.file
                ) from exc
            raise IngestError(
                f"not a CSV file: header unreadable ({exc})", file=report.file
            ) from exc
        except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
            self.close()
            raise IngestError(f"unreadable file ({exc})", file=report.file) from exc
        if not header or not any(h.strip() for h in header):
            self.close()
            raise IngestError("empty file: no header row", file=report.file)
        if len(header) > limits.max_columns:
            self.close()
            raise LimitExceeded(
                "max_columns",
                limits.max_columns,
                f"a header of {len(header)} columns",
                file=report.file,
            )
        self.header = header
        self.width = len(header)
        self.normalised = [normalise_header(h) for h in header]

    def __enter__(self) -> CsvTable:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._text.close()

    def columns(
        self,
        required: Mapping[str, Sequence[str]],
        optional: Mapping[str, Sequence[str]] = {},
        fmt: str = "",
    ) -> dict[str, int]:
        """Map logical names to column indices; aliases allow classic and current exports."""
        positions: dict[str, int] = {}
        for i, name in enumerate(self.normalised):
            positions.setdefault(name, i)
        found: dict[str, int] = {}
        missing: list[str] = []
        for spec, is_required in ((required, True), (optional, False)):
            for logical, aliases in spec.items():
                idx = next(
                    (
                        positions[normalise_header(a)]
                        for a in aliases
                        if normalise_header(a) in positions
                    ),
                    None,
                )
                if idx is not None:
                    found[logical] = idx
                elif is_required:
                    missing.append(aliases[0])
        if missing:
            raise IngestError(
                f"missing required column(s) for format {fmt or '?'}: {', '.join(missing)}",
                file=self.report.file,
                missing=tuple(missing),
            )
        return found

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """Data records; malformed ones become bad rows here and are not yielded."""
        report, reader, width = self.report, self._reader, self.width
        replaced, replaced_at_open = _replaced, self._replaced_at_open
        max_rows = self.limits.max_rows
        raw = self._raw
        previous_end = reader.line_num
        rows = 0
        try:
            while True:
                try:
                    # A plain for loop is the fast path; a csv.Error drops out and re-enters it.
                    for row in reader:
                        line = previous_end + 1
                        previous_end = reader.line_num
                        if len(row) != width:
                            if not row or (len(row) == 1 and not row[0].strip()):
                                report.blank_lines += 1
                                continue
                            rows += 1
                            if rows > max_rows:
                                raise LimitExceeded(
                                    "max_rows",
                                    max_rows,
                                    f"more than {max_rows} data rows",
                                    file=report.file,
                                )
                            if len(row) > width:
                                if any(cell.strip() for cell in row[width:]):
                                    report.bad(
                                        line,
                                        "too_many_fields",
                                        f"expected {width} fields, got {len(row)}",
                                    )
                                    continue
                                row = row[:width]
                            elif (
                                previous_end > line
                            ):  # a short record over several lines: a quote left open
                                report.bad(
                                    line,
                                    "unbalanced_quote",
                                    f"a quoted field runs from line {line} to line {previous_end}",
                                )
                                continue
                            else:
                                row = row + [""] * (width - len(row))
                        else:
                            rows += 1
                            if rows > max_rows:
                                raise LimitExceeded(
                                    "max_rows",
                                    max_rows,
                                    f"more than {max_rows} data rows",
                                    file=report.file,
                                )
                        if raw.nul_bytes and any("\x00" in cell for cell in row):
                            report.bad(line, "nul_byte", "NUL byte in a field")
                            continue
                        if replaced[0] != replaced_at_open and any(
                            "\ufffd" in cell for cell in row
                        ):
                            report.warn(
                                line, "undecodable_bytes", "invalid UTF-8 replaced with U+FFFD"
                            )
                        yield line, row
                    return
                except csv.Error as exc:
                    line = previous_end + 1
                    previous_end = reader.line_num
                    rows += 1
                    if rows > max_rows:
                        raise LimitExceeded(
                            "max_rows",
                            max_rows,
                            f"more than {max_rows} data rows",
                            file=report.file,
                        ) from exc
                    code = "field_too_large" if "field larger" in str(exc) else "malformed_csv"
                    report.bad(line, code, str(exc))
                except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
                    raise IngestError(
                        f"file truncated or corrupt after line {reader.line_num} ({exc})",
                        file=report.file,
                    ) from exc
        finally:
            report.rows += rows


def detect(
    header: Sequence[str], signatures: Mapping[str, Sequence[str]], file: str, kind: str
) -> str:
    """First format whose signature columns are all present; else an error naming what is missing."""
    present = {normalise_header(h) for h in header}
    best, best_missing = "", None
    for fmt, cols in signatures.items():
        missing = [c for c in cols if normalise_header(c) not in present]
        if not missing:
            return fmt
        if best_missing is None or len(missing) < len(best_missing):
            best, best_missing = fmt, missing
    if best_missing is not None and len(best_missing) == len(signatures[best]):
        expected = "; ".join(f"{fmt}: {', '.join(cols)}" for fmt, cols in signatures.items())
        raise IngestError(
            f"unrecognised {kind} CSV: no known header found (expected one of {expected})",
            file=file,
            missing=tuple(best_missing),
        )
    raise IngestError(
        f"unrecognised {kind} CSV: closest format is {best}, missing column(s): {', '.join(best_missing or [])}",
        file=file,
        missing=tuple(best_missing or ()),
    )
