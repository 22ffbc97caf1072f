"""A local HTTP server speaking the Anthropic Messages API, with scriptable misbehaviour.

Runs aiohttp on 127.0.0.1 (random port) in its own thread and event loop, so the code under
test drives the REAL ``anthropic`` client against it through ``base_url``. Each POST
/v1/messages takes the next scripted ``Behaviour`` (or the default one) and records the request
body for assertions (prompt delimiting, retry feedback).
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

Responder = Callable[[dict[str, Any]], "Behaviour"]


@dataclass
class Behaviour:
    """One scripted answer. kind: tool | text | status | malformed | slow | dynamic."""

    kind: str
    tool_input: dict[str, Any] | None = None
    text: str = ""
    status: int = 200
    delay_s: float = 0.0
    then: Behaviour | None = None
    responder: Responder | None = None


def tool(input_: dict[str, Any]) -> Behaviour:
    """A good (or crafted) forced-tool answer: a tool_use block with this input."""
    return Behaviour("tool", tool_input=input_)


def text(t: str) -> Behaviour:
    """Plain text, stop_reason end_turn: a refusal when a tool was forced, or an engagement line."""
    return Behaviour("text", text=t)


def status(code: int) -> Behaviour:
    """An API error: 500 api_error, 529 overloaded_error, ..."""
    return Behaviour("status", status=code)


def malformed() -> Behaviour:
    """200 with a body that is not JSON."""
    return Behaviour("malformed")


def slow(delay_s: float, then: Behaviour | None = None) -> Behaviour:
    """Answer only after delay_s (past the client's deadline)."""
    return Behaviour("slow", delay_s=delay_s, then=then or text("too late"))


def dynamic(fn: Responder) -> Behaviour:
    """Compute the answer from the request body (e.g. pick ids from the listing it was sent)."""
    return Behaviour("dynamic", responder=fn)


def _message(model: str, content: list[dict[str, Any]], stop_reason: str) -> dict[str, Any]:
    return {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": 120,
            "output_tokens": 48,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
    503: "api_error",
}


@dataclass
class FakeAnthropic:
    """Start with ``start()`` (or as a context manager); ``base_url`` goes to the client."""

    default: Behaviour = field(default_factory=lambda: text("I can't help with that."))
    script: deque[Behaviour] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def push(self, *behaviours: Behaviour) -> None:
        self.script.extend(behaviours)

    def reset(self, default: Behaviour | None = None) -> None:
        self.script.clear()
        self.requests.clear()
        if default is not None:
            self.default = default

    async def _render(self, b: Behaviour, body: dict[str, Any]) -> web.Response:
        model = str(body.get("model", "claude-test"))
        if b.kind == "dynamic" and b.responder is not None:
            return await self._render(b.responder(body), body)
        if b.kind == "slow":
            await asyncio.sleep(b.delay_s)
            return await self._render(b.then or text("late"), body)
        if b.kind == "status":
            err = {
                "type": "error",
                "error": {"type": _ERROR_TYPES.get(b.status, "api_error"), "message": "scripted"},
            }
            return web.Response(
                status=b.status, body=orjson.dumps(err), content_type="application/json"
            )
        if b.kind == "malformed":
            return web.Response(
                status=200,
                text='{"id": "msg_1", "type": "message", "content": [',
                content_type="application/json",
            )
        if b.kind == "tool":
            tools = body.get("tools") or [{"name": "tool"}]
            name = (body.get("tool_choice") or {}).get("name") or tools[0]["name"]
            block = {
                "type": "tool_use",
                "id": f"toolu_{uuid.uuid4().hex[:20]}",
                "name": name,
                "input": b.tool_input or {},
            }
            return web.json_response(
                _message(model, [block], "tool_use"), dumps=lambda o: orjson.dumps(o).decode()
            )
        return web.json_response(
            _message(model, [{"type": "text", "text": b.text}], "end_turn"),
            dumps=lambda o: orjson.dumps(o).decode(),
        )

    async def _handle(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        self.requests.append(body)
        b = self.script.popleft() if self.script else self.default
        return await self._render(b, body)

    def start(self) -> FakeAnthropic:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            app = web.Application()
            app.router.add_post("/v1/messages", self._handle)
            self._runner = web.AppRunner(app, shutdown_timeout=0.1)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-anthropic", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake Anthropic server did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
