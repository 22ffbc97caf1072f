"""POST /api/v1/chat/turns, the session's replies, and the chat demo page.

The view only validates and publishes (keyed by store_id, so the turn meets its store's state);
the reply arrives asynchronously through Kafka and the chat agent's Redis list, which
``GET /api/v1/chat/sessions/{id}/replies?after=N`` reads (optionally long-polling ``wait`` s).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from faust import web

from models.chat import ChatTurn
from security import chat_route, open_route

from .. import readmodel
from ..app import app, settings
from ..bundles_store import session_store
from ..chat import SESSION_TTL_S
from ..chat_topics import chat_turns_topic
from .auth import authorize_store, guarded, nothing_to_authorize
from .common import HttpError, check_id, error_response, read_model
from .config import PAGE_HEADERS

STATIC = Path(__file__).resolve().parent.parent / "static"
MAX_WAIT_S = 25.0
POLL_S = 0.05


def turn_defaults(data: dict[str, Any]) -> dict[str, Any]:
    """A turn may leave out its ids (new ones) and its store (the default store)."""
    data.setdefault("turn_id", str(uuid.uuid4()))
    data.setdefault("session_id", str(uuid.uuid4()))
    data.setdefault("store_id", settings.default_store_id)
    return data


async def replies_after(session_id: str, after: int) -> list[dict[str, Any]]:
    entries = await readmodel.redis_client().lrange(readmodel.rkey("replies", session_id), 0, -1)
    out = [orjson.loads(e) for e in entries]
    return [e for e in out if e["seq"] > after]


async def bind_session(session_id: str, store_id: str) -> str:
    """Bind a session to its first turn's store (atomically); returns the store it is bound to.

    Bound at submission, so a store key can read its session's replies as soon as they exist,
    and no key can steer another store's session. (SET NX GET: Redis >= 7.0.)
    """
    bound = await readmodel.redis_client().set(
        readmodel.rkey("session-store", session_id), store_id, ex=SESSION_TTL_S, nx=True, get=True
    )
    return bound if isinstance(bound, str) else store_id  # None: this turn bound it


async def authorize_session(request: web.Request, session_id: str, required: bool = False) -> None:
    """403 unless the key covers the session's store (bound by its first turn). A session with no
    store yet has nothing to read, so it passes unless ``required`` (replies were found)."""
    store = await session_store(session_id)
    if store is not None:
        authorize_store(request, store)
    elif required:
        raise HttpError(403, f"session {session_id!r} has no known store yet")


@app.page("/api/v1/chat/turns")
@guarded(chat_route(in_view=True, rate_limit="chat_turns"))
class ChatTurns(web.View):
    async def post(self, request: web.Request) -> web.Response:
        try:
            turn = await read_model(request, ChatTurn, "chat turn", turn_defaults)
            authorize_store(request, turn.store_id)
            bound = await bind_session(turn.session_id, turn.store_id)
            if bound != turn.store_id:
                raise HttpError(
                    409,
                    f"session {turn.session_id!r} belongs to store {bound!r}, not {turn.store_id!r}",
                )
        except HttpError as exc:
            return error_response(self, exc)
        await chat_turns_topic.send(key=turn.store_id.encode(), value=turn.to_bytes(), force=True)
        return self.json(
            {"turn_id": turn.turn_id, "session_id": turn.session_id, "store_id": turn.store_id},
            status=202,
        )


@app.page("/api/v1/chat/sessions/{session_id}/replies")
@guarded(chat_route(in_view=True))
class SessionReplies(web.View):
    """Replies with seq > ``after``; ``wait`` (seconds, <= 25) long-polls until one arrives."""

    async def get(self, request: web.Request, session_id: str) -> web.Response:
        try:
            check_id("session_id", session_id)
        except HttpError as exc:
            return error_response(self, exc)
        try:
            after = int(request.query.get("after", "0"))
            wait = min(float(request.query.get("wait", "0")), MAX_WAIT_S)
        except ValueError:
            return self.json(
                {"error": "after must be an integer and wait a number of seconds"}, status=422
            )
        deadline = time.monotonic() + max(wait, 0.0)
        try:
            await authorize_session(request, session_id)
            replies = await replies_after(session_id, after)
            while not replies and time.monotonic() < deadline:
                await asyncio.sleep(POLL_S)
                replies = await replies_after(session_id, after)
            if replies:
                await authorize_session(request, session_id, required=True)
            else:
                nothing_to_authorize(request)
        except HttpError as exc:
            return error_response(self, exc)
        last = replies[-1]["seq"] if replies else after
        return self.json(
            {
                "session_id": session_id,
                "after": after,
                "last": last,
                "replies": [{"seq": e["seq"], **e["reply"]} for e in replies],
            }
        )


@app.page("/demo")
@guarded(open_route("static HTML of the chat demo: no data; its API calls carry a key"))
class DemoPage(web.View):
    async def get(self, request: web.Request) -> web.Response:
        return self.html(
            (STATIC / "demo.html").read_text(encoding="utf-8"), headers=dict(PAGE_HEADERS)
        )
