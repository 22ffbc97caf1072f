"""A worker at the current schema version reads orders written by the previous one.

The committed pre-versioned payloads (``tests/data/payloads/v0``: real orders from three
histories, no ``schema_version`` field) are produced to the orders topic of an isolated worker,
followed by the same kind of records at the current version, the way a topic looks across a
producer upgrade. Every order must be counted exactly, through the upgrade path, and none may
become a dead letter.
"""

from __future__ import annotations

import orjson
import pytest
from harness import (
    Workers,
    changelog_counts,
    dead_letters,
    diff_counts,
    produce_raw,
    read_table,
    redis_counts,
    wait_consumed,
)

from core.settings import Settings
from models import SCHEMA_VERSION, OrderEvent
from models.codec import Decoded, decode
from models.upgrade import PRE_VERSIONED
from popularity import ground_truth, key_of
from tests.data.payloads.samples import records, sample_files


@pytest.mark.timeout(180)
async def test_orders_of_the_previous_version_are_counted_exactly(
    isolated_settings: Settings, workers: Workers
) -> None:
    # the samples' order times run from 2010 (Online Retail) to 2025 (Shopify) and their stores
    # share partitions, whose order-time watermark drives the dedupe window: a window longer than
    # that span keeps every order id in processed-orders, which this test compares with the input
    settings = isolated_settings.model_copy(update={"dedupe_retention_s": 20 * 365 * 86400})
    old = records(sample_files(PRE_VERSIONED)["OrderEvent"])
    current = records(sample_files(SCHEMA_VERSION)["OrderEvent"])
    assert len(old) == len(current) > 100
    half = len(old) // 2
    # previous producer first, then the upgraded one: different orders, so every one must count
    values = old[:half] + current[half:]
    assert all(b'"schema_version"' not in v for v in values[:half])
    orders: list[OrderEvent] = []
    for raw in values:
        result = decode(OrderEvent, raw)
        assert isinstance(result, Decoded), result
        orders.append(result.value)
    produced = await produce_raw(
        settings, [(o.store_id.encode(), raw) for o, raw in zip(orders, values)]
    )
    assert len({p.partition for p in produced}) >= 2, "the sample stores should span partitions"

    worker = workers.start(settings, name="upgrade")
    await worker.wait_ready(timeout_s=90)
    await wait_consumed(settings, timeout_s=120, workers=[worker])

    letters = await dead_letters(settings)
    assert not letters, [(letter.reason_code, letter.reason) for _, letter in letters[:5]]
    seen = await read_table(settings, "processed-orders")
    assert set(seen) == {key_of(o.store_id, o.order_id) for o in orders}
    want_sold, want_cats = ground_truth(orders)
    sold, cats = await changelog_counts(settings)
    assert not diff_counts(sold, want_sold), diff_counts(sold, want_sold)
    assert not diff_counts(cats, want_cats), diff_counts(cats, want_cats)
    r_sold, r_cats = await redis_counts(settings, {o.store_id for o in orders})
    assert not diff_counts(r_sold, want_sold), diff_counts(r_sold, want_sold)
    assert not diff_counts(r_cats, want_cats), diff_counts(r_cats, want_cats)
    assert sum(units for units, _ in sold.values()) == sum(
        line.quantity for o in orders for line in o.lines
    )
    assert orjson.loads(values[0]).get("schema_version") is None
