"""A replay of real histories with their cancellations, through the publisher, Kafka and a worker.

The first invoices of UCI Online Retail (``C`` invoices become refunds of the customer's latest
earlier invoice holding the product) and a Shopify orders export with a cancelled and a refunded
order: the tables must equal the net ground truth of exactly the events the parser made, and
every event must be held in its order's ledger.
"""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
from harness import Workers, changelog_counts, dead_letters, read_table, wait_consumed

from core.settings import Settings
from ingest.orders import OrderStream
from ingest.publisher import publish_orders
from models import OrderEvent
from popularity import SeenOrder, dedupe_identity, net_ground_truth
from tests.shared_data import shared_data

EVENTS = 4000
SHOPIFY = (
    "Name,Email,Financial Status,Currency,Created at,Lineitem quantity,Lineitem name,"
    "Lineitem price,Lineitem sku,Cancelled at\n"
    "#1001,a@x.io,paid,USD,2024-01-02 10:00:00 -0500,2,Mug,12.00,MUG,\n"
    "#1002,b@x.io,paid,USD,2024-01-02 11:00:00 -0500,1,Plate,8.00,PLT,2024-01-03 09:00:00 -0500\n"
    "#1002,,,,,1,Mug,12.00,MUG,\n"
    "#1003,c@x.io,refunded,USD,2024-01-02 12:00:00 -0500,3,Vase,20.00,VAS,\n"
)


@pytest.mark.timeout(240)
async def test_replayed_cancellations_and_refunds_are_counted_exactly(
    isolated_settings: Settings, workers: Workers
) -> None:
    # Online Retail spans a year of order time: keep every ledger for the comparison
    settings = isolated_settings.model_copy(update={"dedupe_retention_s": 20 * 365 * 86400})
    retail = OrderStream(
        shared_data() / "online_retail.csv.gz",
        "online_retail",
        store_id="or-replay",
        adjustments=True,
    )
    events: list[OrderEvent] = list(itertools.islice(retail, EVENTS))
    retail.table.close()
    shopify = OrderStream(
        SHOPIFY.encode(), "shopify_orders", name="o.csv", store_id="shop-replay", adjustments=True
    )
    events += list(shopify)
    kinds = Counter(e.kind for e in events)
    assert kinds["refund"] > 100 and kinds["cancellation"] == 1, kinds
    stats = await publish_orders(settings, events)
    assert stats.sent == len(events) and stats.kinds == dict(kinds)

    worker = workers.start(settings, name="replay-cancel")
    await worker.wait_ready(timeout_s=90)
    await wait_consumed(settings, timeout_s=150, workers=[worker])

    want_sold, want_cats, want_stores = net_ground_truth(events)
    sold, cats = await changelog_counts(settings)
    assert {k: v for k, v in sold.items() if v != (0, 0)} == want_sold
    assert {k: v for k, v in cats.items() if v} == want_cats
    stores = {s: v[0] for s, v in (await read_table(settings, "store-orders")).items() if v[0]}
    assert stores == want_stores
    assert want_sold[("shop-replay", "MUG")] == (2, 1) and ("shop-replay", "VAS") not in want_sold
    # every distinct event is in a ledger; nothing was dead-lettered
    assert not await dead_letters(settings)
    held: Counter[str] = Counter()
    for raw in (await read_table(settings, "processed-orders")).values():
        ledger = SeenOrder.from_json(raw)
        assert ledger is not None
        held["order"] += ledger.offset is not None
        held["cancellation"] += ledger.cancelled is not None
        held["refund"] += len(ledger.refunds)
    assert held == Counter(identity[0] for identity in {dedupe_identity(e) for e in events})
    print(f"events={len(events)} {dict(kinds)} sold keys={len(want_sold)} stores={want_stores}")
