"""Dead-letter accounting: every input ends as table state, a counted duplicate, or one dead letter.

Valid orders (real Online Retail invoices, some re-delivered) are interleaved with broken records
of every kind. The worker must keep going, and afterwards each input is accounted for exactly
once: applied (in processed-orders at its own offset), dropped as a duplicate (counted), or dead-
lettered once with its raw bytes, key and source topic/partition/offset intact.
"""

from __future__ import annotations

import base64
import re

import orjson
import pytest
from harness import (
    Workers,
    changelog_counts,
    dead_letters,
    diff_counts,
    online_retail_orders,
    order_record,
    orders_topic,
    produce_raw,
    read_table,
    wait_consumed,
    with_duplicates,
)

from core.settings import Settings
from models import SCHEMA_VERSION
from popularity import SeenOrder, ground_truth, key_of

VALID_LINE = {"product_id": "p1", "quantity": 1, "price": 1.0}


def broken_records() -> list[tuple[bytes | None, bytes | None, str]]:
    """(key, value, expected reason_code) for each way an order record can be unusable."""

    def js(obj: object) -> bytes:
        return orjson.dumps(obj)

    good = {"order_id": "x", "store_id": "or-broken", "lines": [VALID_LINE]}
    return [
        (b"or-broken", b"this is not json {", "undecodable"),
        (b"or-broken", b"", "undecodable"),
        (b"or-france", b"\xff\xfe\x00garbage", "undecodable"),
        (None, b'{"order_id": "trunc', "undecodable"),
        (b"or-broken", js([1, 2, 3]), "invalid_schema"),
        (b"or-broken", js("an order"), "invalid_schema"),
        (b"or-broken", js({**good, "order_id": 12345}), "invalid_schema"),  # wrong type
        (b"or-broken", js({**good, "lines": "p1 x 1"}), "invalid_schema"),  # wrong type
        (
            b"or-broken",
            js({**good, "lines": [{**VALID_LINE, "quantity": "two"}]}),
            "invalid_schema",
        ),
        (
            b"or-broken",
            js({k: v for k, v in good.items() if k != "store_id"}),
            "invalid_schema",
        ),  # missing
        (b"or-broken", js({k: v for k, v in good.items() if k != "lines"}), "invalid_schema"),
        (b"or-broken", js({**good, "lines": []}), "invalid_schema"),
        (b"or-broken", js({**good, "lines": [{**VALID_LINE, "quantity": -3}]}), "invalid_schema"),
        (b"or-broken", js({**good, "lines": [{**VALID_LINE, "price": -1}]}), "invalid_schema"),
        (b"or-broken", js({**good, "schema_version": 99}), "unsupported_version"),
        (
            b"or-eire",
            js({**good, "store_id": "or-eire", "schema_version": SCHEMA_VERSION + 1}),
            "unsupported_version",
        ),
    ]


@pytest.mark.timeout(180)
async def test_every_input_is_state_a_counted_duplicate_or_one_dead_letter(
    isolated_settings: Settings,
    workers: Workers,
) -> None:
    settings = isolated_settings
    valid = with_duplicates(online_retail_orders(150), every=10, gap=20)
    broken = broken_records()
    records: list[tuple[bytes | None, bytes | None]] = []
    expected_reason: dict[bytes | None, str] = {}
    for index, order in enumerate(valid):  # interleave: a broken record after every ~10 valid ones
        records.append(order_record(order))
        if index % 10 == 5 and broken:
            key, value, reason = broken.pop()
            records.append((key, value))
            expected_reason[value] = reason
    for key, value, reason in broken:
        records.append((key, value))
        expected_reason[value] = reason
    produced = await produce_raw(settings, records)
    valid_values = {order_record(o)[1] for o in valid}
    bad = [p for p in produced if p.value not in valid_values]
    good = [p for p in produced if p.value in valid_values]
    assert len(bad) == len(broken_records()) and len(good) == len(valid)

    worker = workers.start(settings, name="dlq")
    await worker.wait_ready(timeout_s=90)
    await wait_consumed(settings, timeout_s=120, workers=[worker])
    assert worker.alive(), "the agent must keep going after bad records"

    # dead letters: exactly one per broken input, bytes and coordinates intact, none for valid input
    letters = await dead_letters(settings)
    by_source = {}
    for _record, letter in letters:
        coords = (letter.source_partition, letter.source_offset)
        assert coords not in by_source, f"two dead letters for {coords}"
        by_source[coords] = letter
    assert set(by_source) == {(p.partition, p.offset) for p in bad}
    for p in bad:
        letter = by_source[(p.partition, p.offset)]
        assert letter.source_topic == orders_topic(settings)
        assert letter.raw == (p.value or b""), (letter.raw, p.value)
        assert letter.key_b64 == (base64.b64encode(p.key).decode() if p.key is not None else None)
        assert letter.reason_code == expected_reason[p.value], (p.value, letter.reason)
        assert letter.reason

    # state: each distinct valid order applied once, at the offset of its first copy
    first_offset: dict[str, int] = {}
    for p, order in zip(good, valid):
        first_offset.setdefault(key_of(order.store_id, order.order_id), p.offset)
    seen = await read_table(settings, "processed-orders")
    assert {k: SeenOrder.from_json(v).offset for k, v in seen.items()} == first_offset
    duplicates = len(valid) - len(first_offset)
    assert duplicates > 0
    dropped = sum(
        int(n) for n in re.findall(r"dropped (\d+) duplicate orders", worker.log_tail(10_000_000))
    )
    assert dropped == duplicates

    sold, cats = await changelog_counts(settings)
    want_sold, want_cats = ground_truth(valid)
    assert not diff_counts(sold, want_sold), diff_counts(sold, want_sold)
    assert not diff_counts(cats, want_cats), diff_counts(cats, want_cats)
    assert len(first_offset) + duplicates + len(by_source) == len(produced)
