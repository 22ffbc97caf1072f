"""Store uploads as events: small files travel inline, large ones by reference to the upload store.

Kafka messages stay small (the broker's default max message is 1 MiB), and the stored file is
named by its sha256 so re-uploading the same file costs nothing and the name cannot be chosen
by the uploader. Readers only follow ``file://`` URIs that resolve inside the upload store.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import uuid
import zipfile
import zlib
from pathlib import Path
from urllib.parse import unquote, urlparse

from core.settings import Settings, get_settings
from models.uploads import UploadEvent, UploadFile

from .catalog import SIGNATURES as CATALOG_SIGNATURES
from .catalog import parse_catalog
from .errors import IngestError
from .limits import Limits, resolve
from .orders import SIGNATURES as ORDER_SIGNATURES
from .orders import open_orders
from .report import IngestReport
from .source import CsvTable, Source, decompressed_size, detect, open_binary


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _detect(path: Path, kind: str) -> str:
    """Check the header now, so an unusable file never reaches a topic."""
    report = IngestReport(file=path.name)
    with CsvTable(path, report) as table:
        return detect(
            table.header,
            CATALOG_SIGNATURES if kind == "catalog" else ORDER_SIGNATURES,
            path.name,
            kind,
        )


def _prefix(src: Source, file: str, prefix_bytes: int, limits: Limits | None) -> tuple[bytes, bool]:
    """(first ``prefix_bytes`` of the content, whether the content goes on past them)."""
    with open_binary(src, file, limits) as stream:
        try:
            head = stream.read(prefix_bytes + 1)
        except IngestError:
            raise
        except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
            raise IngestError(f"file truncated or corrupt ({exc})", file=file) from exc
    return head[:prefix_bytes], len(head) > prefix_bytes


def _cut(head: bytes, more: bool) -> bytes:
    if not more:
        return head
    cut = max(head.rfind(b"\n"), head.rfind(b"\r"))
    if cut < 0:  # one line longer than the prefix: keep it whole so the header check sees its width
        return head
    return head[: cut + 1]


def decompressed_prefix(
    src: Source, file: str, prefix_bytes: int, limits: Limits | None = None
) -> bytes:
    """The first ``prefix_bytes`` of the content (decompressed), cut after its last full line
    when the file goes on: enough for format and header checks, never the whole file."""
    return _cut(*_prefix(src, file, prefix_bytes, limits))


def check_upload_file(
    src: Source,
    kind: str,
    fmt: str | None,
    *,
    name: str,
    prefix_bytes: int,
    limits: Limits | None = None,
) -> str:
    """Bounded checks of one upload file before it is published; returns its format.

    Format, header and columns on a decompressed prefix (a catalog must have a usable product
    in it), then the whole content is inflated once, only counting, against
    ``max_decompressed_bytes``. Full parsing, under the same limits, happens in the uploads agent.
    Raises ``IngestError`` (``LimitExceeded`` past a limit).
    """
    limits = resolve(limits)
    raw_head, more = _prefix(src, name, prefix_bytes, limits)
    head = _cut(raw_head, more)
    # the header fits but the first row does not: no export has a row this long
    row_too_long = (
        IngestError(f"line 2 is longer than upload_prefix_bytes={prefix_bytes} bytes", file=name)
        if more and max(head.count(b"\n"), head.count(b"\r")) <= 1
        else None
    )
    if kind == "catalog":
        result = parse_catalog(head, fmt, name=name, limits=limits)
        fmt = result.report.format
        if not result.products and row_too_long is not None:
            raise row_too_long
        if not result.products:
            shown = "; ".join(f"line {r.line}: {r.reason}" for r in result.report.bad_rows[:5])
            raise IngestError(
                f"no usable product rows in the first {len(head)} bytes "
                f"({result.report.bad_row_count} bad rows{': ' + shown if shown else ''})",
                file=name,
            )
    else:
        stream = open_orders(head, fmt, name=name, limits=limits)
        fmt = stream.format
        stream.table.close()
    if row_too_long is not None:
        raise row_too_long
    decompressed_size(src, name, limits)
    return fmt


def _ext(path: Path) -> str:
    suffixes = "".join(s for s in path.suffixes[-2:] if s.replace(".", "").isalnum()).lower()
    return suffixes.lstrip(".") or "csv"


def build_upload_file(
    kind: str,
    path: str | os.PathLike,
    fmt: str | None,
    settings: Settings,
    *,
    checked: bool = False,
) -> UploadFile:
    """``checked``: the caller already ran ``check_upload_file`` (the HTTP path), skip it here."""
    path = Path(path)
    if not path.is_file():
        raise IngestError("no such file", file=str(path))
    size = path.stat().st_size
    if size > settings.max_upload_bytes:
        raise IngestError(
            f"{size} bytes exceeds max_upload_bytes {settings.max_upload_bytes}", file=path.name
        )
    if not checked:
        fmt = check_upload_file(
            path,
            kind,
            fmt,
            name=path.name,
            prefix_bytes=settings.upload_prefix_bytes,
            limits=Limits.from_settings(settings),
        )
    elif fmt is None:
        fmt = _detect(path, kind)
    sha = _sha256(path)
    common = {"kind": kind, "format": fmt, "filename": path.name, "sha256": sha, "size_bytes": size}
    if size <= settings.inline_upload_bytes:
        raw = path.read_bytes()
        try:
            return UploadFile(inline_text=raw.decode("utf-8"), **common)
        except UnicodeDecodeError:
            pass  # gzip or other non-text bytes: send by reference instead
    store = Path(settings.upload_store_dir)
    store.mkdir(parents=True, exist_ok=True)
    target = store / f"{sha}.{_ext(path)}"
    if not target.exists():
        fd, tmp = tempfile.mkstemp(dir=store, prefix=".incoming-")
        os.close(fd)
        shutil.copyfile(path, tmp)
        os.replace(tmp, target)  # atomic: readers never see a half-written file
    return UploadFile(uri=target.resolve().as_uri(), **common)


def build_upload_event(
    store_id: str,
    catalog_path: str | os.PathLike,
    catalog_format: str | None,
    orders_path: str | os.PathLike | None,
    orders_format: str | None,
    settings: Settings | None = None,
    *,
    requested_by: str | None = None,
) -> UploadEvent:
    """One UploadEvent for a catalog and (optionally) an order history; formats auto-detected if None."""
    settings = settings or get_settings()
    files = [build_upload_file("catalog", catalog_path, catalog_format, settings)]
    if orders_path is not None:
        files.append(build_upload_file("orders", orders_path, orders_format, settings))
    return UploadEvent(
        upload_id=uuid.uuid4().hex, store_id=store_id, files=files, requested_by=requested_by
    )


def resolve_upload_file(upload_file: UploadFile, settings: Settings | None = None) -> bytes:
    """The file's bytes; a URI must be file:// and resolve inside the upload store (no traversal)."""
    if upload_file.inline_text is not None:
        return upload_file.inline_text.encode("utf-8")
    settings = settings or get_settings()
    uri = urlparse(upload_file.uri or "")
    if uri.scheme != "file" or uri.netloc not in ("", "localhost"):
        raise IngestError(
            f"refusing upload URI {upload_file.uri!r}: only file:// URIs into the upload store"
        )
    store = Path(settings.upload_store_dir).resolve()
    path = Path(unquote(uri.path)).resolve()
    if not path.is_relative_to(store):
        raise IngestError(
            f"refusing upload URI {upload_file.uri!r}: outside the upload store {store}"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IngestError(f"upload file unreadable: {exc.strerror or exc}", file=path.name) from exc
    if upload_file.sha256 and hashlib.sha256(data).hexdigest() != upload_file.sha256:
        raise IngestError("upload file does not match its sha256", file=path.name)
    return data
