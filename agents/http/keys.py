"""Admin API for keys: create (the key is in the answer, once), list, revoke.

Writes go to the compacted api-keys topic; the handler waits (bounded) until this worker's key
registry has read the record, so the new key works, or the revoked key stops working, on this
worker when the answer arrives, and on every other worker within a poll.
"""

from __future__ import annotations

from faust import web
from pydantic import ValidationError

from security import admin_only, guarded
from security.keys import KEY_ID_RE

from ..app import app
from ..keys_view import last_used, new_key_record, publish_key, registry_view, revoked
from .common import HttpError, error_response, invalid, parse_json, read_body

READ_YOUR_WRITES_S = 5.0


async def listing() -> list[dict]:
    used = await last_used()
    return [
        {**record.public(), "last_used_at": used.get(record.key_id)}
        for record in sorted(registry_view.records.values(), key=lambda r: r.created_at)
    ]


@app.page("/api/v1/keys")
@guarded(admin_only())
class Keys(web.View):
    """API keys: list (never secrets or hashes) and create (the key is returned once)."""

    async def get(self, request: web.Request) -> web.Response:
        return self.json({"keys": await listing()})

    async def post(self, request: web.Request) -> web.Response:
        try:
            data = parse_json(await read_body(request))
            if not isinstance(data, dict) or not isinstance(data.get("scope"), str):
                raise HttpError(
                    422,
                    "body must be a JSON object with scope ('admin', 'gateway' or 'store:<id>') "
                    "and an optional name",
                )
            name = data.get("name") or ""
            if not isinstance(name, str):
                raise HttpError(422, "name must be a string")
            try:
                generated, record = new_key_record(data["scope"], name)
            except ValidationError as exc:
                raise invalid(exc, "key", listed=None) from exc
        except HttpError as exc:
            return error_response(self, exc)
        offset = await publish_key(record)
        visible = await registry_view.wait_for_offset(offset, READ_YOUR_WRITES_S)
        return self.json(
            {
                **record.public(),
                "key": generated.secret_key,
                "active_on_this_worker": visible,
                "note": "store this key now: it is shown once and stored only as a hash",
            },
            status=201,
        )


@app.page("/api/v1/keys/{key_id}")
@guarded(admin_only())
class Key(web.View):
    """Revoke one key by id; every worker refuses it within seconds."""

    async def delete(self, request: web.Request, key_id: str) -> web.Response:
        record = registry_view.records.get(key_id) if KEY_ID_RE.match(key_id) else None
        if record is None:
            return self.json({"error": f"no key {key_id!r}"}, status=404)
        if not record.active:
            return self.json({**record.public(), "status": "already revoked"}, status=200)
        gone = revoked(record)
        offset = await publish_key(gone)
        visible = await registry_view.wait_for_offset(offset, READ_YOUR_WRITES_S)
        return self.json(
            {**gone.public(), "status": "revoked", "revoked_on_this_worker": visible}, status=200
        )
