"""Upload submission, the latest bundle set per store, and an upload's status.

``POST /api/v1/uploads`` reads the multipart body part by part with a byte budget per file
(413 past ``max_upload_bytes`` without buffering the rest), checks that each file is a CSV of
a known format (422 with the reason otherwise) and only then publishes one UploadEvent keyed by
store: inline when small, else by reference to the upload store, so Kafka messages stay small.

The request does bounded work only (``ingest.uploads.check_upload_file``): format and header
checks on a decompressed prefix and one counting pass against ``max_decompressed_bytes`` (413 or
422 naming the limit). Full parsing happens in the uploads agent's process pool.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import orjson
from aiohttp import BodyPartReader
from faust import web

from ingest.errors import IngestError
from models.uploads import UploadEvent
from security import store_route

from .. import readmodel
from ..app import app, settings
from ..upload_topics import uploads_topic
from ..uploads import UPLOAD_STATUS_TTL_S, upload_status
from ..uploads import build_event as build_upload_event
from .auth import authorize_store, guarded
from .common import AnyRequest, HttpError, aiohttp_request, check_id, error_response

CHUNK = 64 * 1024
FIELD_LIMIT = 4096  # text fields (store id, formats) are short
FILE_FIELDS = ("catalog", "orders")
TEXT_FIELDS = ("store_id", "catalog_format", "orders_format", "upload_id", "requested_by")


def _utf8(value: str | bytes) -> bytes:
    """A read-model value as bytes (the client decodes responses, so it is a str)."""
    return value if isinstance(value, bytes) else value.encode()


@dataclass
class FilePart:
    kind: str
    filename: str
    data: bytes
    format: str | None = None


async def read_part(part, limit: int, what: str) -> bytes:
    """Read one multipart part, refusing (413) the moment it exceeds ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await part.read_chunk(CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise HttpError(413, f"{what} exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_upload_form(request: AnyRequest) -> tuple[dict[str, str], dict[str, FilePart]]:
    request = aiohttp_request(request)
    limit = settings.max_upload_bytes
    declared = request.content_length
    if declared is not None and declared > 2 * limit + 64 * 1024:
        raise HttpError(
            413, f"body of {declared} bytes exceeds the limit of {limit} bytes per file"
        )
    if not (request.content_type or "").startswith("multipart/"):
        raise HttpError(
            415, "expected multipart/form-data with fields store_id, catalog and orders"
        )
    try:
        reader = await request.multipart()
    except (ValueError, AssertionError) as exc:
        raise HttpError(400, f"unreadable multipart body: {exc}") from exc
    fields: dict[str, str] = {}
    files: dict[str, FilePart] = {}
    while True:
        try:
            part = await reader.next()
        except (ValueError, AssertionError) as exc:
            raise HttpError(400, f"unreadable multipart body: {exc}") from exc
        if part is None:
            break
        # aiohttp hands a nested multipart/* part over as a reader of its own; no form field is one
        if not isinstance(part, BodyPartReader):
            raise HttpError(
                422, "nested multipart parts are not accepted: send each file as its own field"
            )
        name = part.name or ""
        if name in FILE_FIELDS:
            if name in files:
                raise HttpError(422, f"field {name!r} given twice")
            data = await read_part(part, limit, f"{name} file")
            files[name] = FilePart(name, part.filename or name, data)
        elif name in TEXT_FIELDS:
            raw = await read_part(part, FIELD_LIMIT, f"field {name}")
            try:
                fields[name] = raw.decode("utf-8").strip()
            except UnicodeDecodeError as exc:
                raise HttpError(422, f"field {name!r} is not UTF-8") from exc
        else:
            await read_part(
                part, limit, f"field {name}"
            )  # drain unknown parts within the same budget
    return fields, files


def check_form(fields: dict[str, str], files: dict[str, FilePart]) -> str:
    store_id = fields.get("store_id", "")
    if not store_id:
        raise HttpError(422, "missing field store_id")
    check_id("store_id", store_id)
    if fields.get("upload_id"):
        check_id("upload_id", fields["upload_id"])
    if "catalog" not in files:
        raise HttpError(422, "missing file field catalog")
    for part in files.values():
        part.format = fields.get(f"{part.kind}_format") or None
        if not part.data.strip():
            raise HttpError(422, f"{part.kind} file {part.filename!r} is empty")
    return store_id


def check_files(files: dict[str, FilePart]) -> None:
    """Bounded checks of each file before anything is published (runs in a thread)."""
    from ingest.limits import LimitExceeded, Limits
    from ingest.uploads import check_upload_file

    limits = Limits.from_settings(settings)
    for part in files.values():
        try:
            part.format = check_upload_file(
                part.data,
                part.kind,
                part.format,
                name=part.filename,
                prefix_bytes=settings.upload_prefix_bytes,
                limits=limits,
            )
        except LimitExceeded as exc:
            raise HttpError(
                exc.http_status,
                f"{part.kind}: {exc}",
                [
                    {
                        "file": part.filename,
                        "kind": part.kind,
                        "limit": exc.limit,
                        "value": exc.value,
                    }
                ],
            ) from exc
        except IngestError as exc:
            raise HttpError(
                422,
                f"{part.kind}: {exc}",
                [{"file": part.filename, "kind": part.kind, "missing": list(exc.missing)}],
            ) from exc


def build_event(store_id: str, files: dict[str, FilePart], upload_id: str | None) -> UploadEvent:
    """Inline or by reference per ``inline_upload_bytes`` (writes the upload store when large)."""
    return build_upload_event(
        store_id,
        upload_id or uuid.uuid4().hex,
        [(f.kind, f.data, f.filename, f.format) for f in files.values()],
    )


@app.page("/api/v1/uploads")
@guarded(store_route(in_view=True, rate_limit="uploads"))
class Uploads(web.View):
    """Accept a store upload; 202 once the UploadEvent is on the uploads topic."""

    async def post(self, request: web.Request) -> web.Response:
        try:
            fields, files = await read_upload_form(request)
            store_id = check_form(fields, files)
            authorize_store(request, store_id)
            await asyncio.to_thread(check_files, files)
            try:
                event = await asyncio.to_thread(
                    build_event, store_id, files, fields.get("upload_id")
                )
            except (IngestError, ValueError) as exc:
                raise HttpError(422, f"upload refused: {exc}") from exc
        except HttpError as exc:
            return error_response(self, exc)
        await readmodel.redis_client().set(
            readmodel.rkey("upload", event.upload_id),
            upload_status(event.upload_id, store_id),
            ex=UPLOAD_STATUS_TTL_S,
            nx=True,
        )
        await uploads_topic.send(key=store_id.encode(), value=event.to_bytes())
        return self.json(
            {
                "upload_id": event.upload_id,
                "store_id": store_id,
                "status": "accepted",
                "files": [
                    {
                        "kind": f.kind,
                        "format": f.format,
                        "by_reference": f.uri is not None,
                        "size_bytes": f.size_bytes,
                    }
                    for f in event.files
                ],
            },
            status=202,
        )


@app.page("/api/v1/stores/{store}/bundles")
@guarded(store_route(param="store"))
class StoreBundles(web.View):
    """The latest BundleSet of the store (ok or error), as the uploads agent stored it."""

    async def get(self, request: web.Request, store: str) -> web.Response:
        try:
            check_id("store", store)
        except HttpError as exc:
            return error_response(self, exc)
        raw = await readmodel.redis_client().get(readmodel.rkey("bundles", store))
        if raw is None:
            return self.json({"error": f"no bundle set for store {store!r}"}, status=404)
        return self.bytes(_utf8(raw), content_type="application/json")


@app.page("/api/v1/uploads/{upload_id}")
@guarded(store_route(in_view=True))
class UploadStatus(web.View):
    """accepted -> done | error, with the bundle count once the set is out."""

    async def get(self, request: web.Request, upload_id: str) -> web.Response:
        try:
            check_id("upload_id", upload_id)
        except HttpError as exc:
            return error_response(self, exc)
        raw = await readmodel.redis_client().get(readmodel.rkey("upload", upload_id))
        if raw is None:
            return self.json({"error": f"unknown upload {upload_id!r}"}, status=404)
        try:
            authorize_store(request, orjson.loads(raw).get("store_id", ""))
        except HttpError as exc:
            return error_response(self, exc)
        return self.bytes(_utf8(raw), content_type="application/json")
