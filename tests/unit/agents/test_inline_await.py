"""Stepping a coroutine inline: done at once when it never blocks, the same results as awaiting
it when it does (values, exceptions, cancellation)."""

from __future__ import annotations

import asyncio

import pytest

from agents.inline_await import Resumed, start_inline


async def _returns_at_once(log: list[str]) -> str:
    log.append("ran")
    return "done"


async def _blocks_on(event: asyncio.Event, log: list[str]) -> str:
    log.append("before")
    await event.wait()
    log.append("after")
    return "woke"


async def _raises_at_once() -> None:
    raise ValueError("bad message")


def test_a_coroutine_that_never_blocks_runs_to_the_end_inline() -> None:
    log: list[str] = []
    assert start_inline(_returns_at_once(log)) is None
    assert log == ["ran"]


def test_an_exception_before_the_first_suspension_propagates() -> None:
    with pytest.raises(ValueError, match="bad message"):
        start_inline(_raises_at_once())


def test_a_blocking_coroutine_continues_where_it_stopped_when_awaited() -> None:
    async def scenario() -> tuple[str, list[str]]:
        log: list[str] = []
        event = asyncio.Event()
        rest = start_inline(_blocks_on(event, log))
        assert isinstance(rest, Resumed)
        assert log == ["before"]  # ran up to the wait, not past it
        task = asyncio.ensure_future(rest)
        await asyncio.sleep(0)
        assert not task.done()
        event.set()
        return await task, log

    result, log = asyncio.run(scenario())
    assert result == "woke"
    assert log == ["before", "after"]


def test_cancelling_the_rest_cancels_the_coroutine_inside() -> None:
    async def scenario() -> list[str]:
        log: list[str] = []

        async def waits_then_cleans_up() -> None:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                log.append("cancelled inside")
                raise

        rest = start_inline(waits_then_cleans_up())
        assert rest is not None
        task = asyncio.ensure_future(rest)
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return log

    assert asyncio.run(scenario()) == ["cancelled inside"]


def test_a_rest_that_completes_first_wins_a_race_like_wait_first() -> None:
    async def scenario() -> set[str]:
        event = asyncio.Event()
        rest = start_inline(_blocks_on(event, []))
        assert rest is not None
        deliver = asyncio.ensure_future(rest)
        suspended = asyncio.ensure_future(asyncio.Event().wait())
        asyncio.get_running_loop().call_soon(event.set)
        done, pending = await asyncio.wait(
            {deliver, suspended}, return_when=asyncio.FIRST_COMPLETED
        )
        for fut in pending:
            fut.cancel()
        return {"deliver" if fut is deliver else "suspended" for fut in done}

    assert asyncio.run(scenario()) == {"deliver"}
