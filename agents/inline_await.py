"""Run a coroutine inline up to its first suspension.

Handing each consumed message to the streams goes through a coroutine that almost never blocks
(it decodes the message and puts it on a stream's queue). Wrapping each one in tasks so it can be
abandoned when the flow stops costs more than the work itself. Stepping the coroutine by hand
runs the common case with no task at all; only a coroutine that really suspends is handed to the
event loop, as the awaitable ``Resumed``, at the point where it stopped.
"""

from __future__ import annotations

from collections.abc import Coroutine, Generator
from typing import Any


class Resumed:
    """The rest of a coroutine that ran up to its first suspension; awaiting it (or wrapping it
    in a task) finishes the coroutine, passing values and exceptions through to it."""

    __slots__ = ("_coro", "_pending")

    def __init__(self, coro: Coroutine[Any, Any, Any], pending: Any) -> None:
        self._coro = coro
        self._pending = pending

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, value = self._coro, self._pending
        self._pending = None
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # every exception goes on to the coroutine
                try:
                    value = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = coro.send(sent)
                except StopIteration as stop:
                    return stop.value

    def close(self) -> None:
        """Close the coroutine without running it further (it was never awaited)."""
        self._coro.close()


def start_inline(coro: Coroutine[Any, Any, Any]) -> Resumed | None:
    """Run ``coro`` until it returns (None) or first suspends (its rest, to be awaited).

    An exception the coroutine raises before suspending propagates from here."""
    try:
        pending = coro.send(None)
    except StopIteration:
        return None
    return Resumed(coro, pending)
