"""Helpers for agents that consume in batches (``stream.take_events``).

Faust routes a table's changelog record to the partition of the *current event*. Inside a batch
there is no single current event, so writes for keys of source partition P are made while an event
of P is set as current. This keeps a key's changelog on its source partition, which is what makes
recovery land on the worker that owns the partition.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from faust.streams import _current_event
from faust.types import EventT

from .table_writes import TableBatch


@contextmanager
def as_current_event(event: EventT) -> Iterator[None]:
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


def last_event_per_partition(events: list[EventT]) -> dict[int, EventT]:
    last: dict[int, EventT] = {}
    for event in events:
        last[event.message.partition] = event
    return last


# How long a batch agent waits for its table writes to reach the broker before it acks anyway.
SEND_ALL_TIMEOUT_S = 30.0
log = logging.getLogger(__name__)


async def send_batch_writes(
    producer: Any, table_writes: TableBatch | None = None, timeout_s: float = SEND_ALL_TIMEOUT_S
) -> None:
    """Before a batch is acked: every table write it made is on the broker, so the offsets that
    made them are never committed ahead of them (``agents.transport.DurableProducer`` for writes
    through Faust, ``agents.table_writes.TableBatch`` for the ones sent as record batches)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    written = True
    if table_writes is not None:
        written = await table_writes.wait(timeout_s)
    send_all = getattr(producer, "send_all", None)
    if send_all is not None:  # Faust's own producer has no batch drain: nothing to wait for
        written = await send_all(max(deadline - loop.time(), 0.0)) and written
    if not written:
        log.warning(
            "table writes still unsent %.0f s after their batch; acking it anyway", timeout_s
        )
