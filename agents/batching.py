"""Helpers for agents that consume in batches (``stream.take_events``).

Faust routes a table's changelog record to the partition of the *current event*. Inside a batch
there is no single current event, so writes for keys of source partition P are made while an event
of P is set as current. This keeps a key's changelog on its source partition, which is what makes
recovery land on the worker that owns the partition.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from faust.streams import _current_event
from faust.types import EventT


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
