"""An order stream pauses the cyclic GC only while its own code runs: the caller gets the
collector back as it had it, between events, at the end, on an early close and on an error."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from ingest.errors import IngestError
from ingest.orders import OrderStream, collector_paused_between
from tests.shared_data import shared_data


def _replay() -> OrderStream:
    return OrderStream(shared_data() / "online_retail.csv.gz", store_id="s", adjustments=True)


def test_iterated_fully_the_caller_keeps_its_gc_state_between_events_and_after(caller_gc):
    states = set()
    n = 0
    for _ in OrderStream(
        b"InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        b"1,A,Mug,1,2010-12-01 08:00:00,2.5,17850,UK\n"
        b"2,B,Plate,1,2010-12-01 09:00:00,4.0,17850,UK\n"
        b"C3,A,Mug,-1,2010-12-01 10:00:00,2.5,17850,UK\n",
        name="r.csv",
        adjustments=True,
    ):
        states.add(gc.isenabled())
        n += 1
    assert n == 3  # two orders and one refund
    assert states == {caller_gc}
    assert gc.isenabled() is caller_gc


def test_closed_early_the_caller_keeps_its_gc_state_and_the_stream_cleans_up(caller_gc):
    stream = _replay()
    events = iter(stream)
    for _ in range(100):  # well inside the first batch of rows
        next(events)
        assert gc.isenabled() is caller_gc
    assert stream.report.parse_ms == 0
    events.close()  # type: ignore[attr-defined]
    assert gc.isenabled() is caller_gc
    assert stream.report.parse_ms > 0  # the stream's own clean-up ran too


def test_the_caller_turning_gc_off_midway_is_respected():
    was = gc.isenabled()
    gc.enable()
    try:
        events = iter(_replay())
        next(events)
        assert gc.isenabled()
        gc.disable()
        next(events)
        assert not gc.isenabled()
        gc.enable()
        next(events)
        assert gc.isenabled()
        events.close()  # type: ignore[attr-defined]
    finally:
        (gc.enable if was else gc.disable)()


def test_an_error_in_the_stream_gives_the_gc_back(caller_gc):
    def failing() -> Iterator[object]:
        assert not gc.isenabled()  # the stream's own code runs paused
        yield 1
        raise IngestError("broken", file="x.csv")

    events = collector_paused_between(failing())  # type: ignore[arg-type]
    assert next(events) == 1
    assert gc.isenabled() is caller_gc
    with pytest.raises(IngestError):
        next(events)
    assert gc.isenabled() is caller_gc
