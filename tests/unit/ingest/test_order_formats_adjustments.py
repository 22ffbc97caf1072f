"""Replays turn Online Retail ``C`` invoices and Shopify export cancellations into events.

Without ``adjustments`` (the bundle engine, evaluation) they stay skipped, exactly as before.
"""

from __future__ import annotations

import itertools
from collections import Counter

from ingest.orders import OrderStream, adjustment_counts, read_orders
from popularity import net_ground_truth
from tests.shared_data import shared_data

RETAIL = """InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
1001,A,Mug,6,2010-12-01 08:00:00,2.50,17850,United Kingdom
1001,B,Plate,2,2010-12-01 08:00:00,4.00,17850,United Kingdom
1002,A,Mug,1,2010-12-01 09:00:00,2.50,17850,United Kingdom
1003,B,Plate,3,2010-12-01 09:30:00,4.00,12000,France
C1004,A,Mug,-2,2010-12-01 10:00:00,2.50,17850,United Kingdom
C1004,B,Plate,-1,2010-12-01 10:00:00,4.00,17850,United Kingdom
C1004,Z,Vase,-1,2010-12-01 10:00:00,9.00,17850,United Kingdom
C1005,B,Plate,-1,2010-12-01 11:00:00,4.00,,United Kingdom
C1006,B,Plate,oops,2010-12-01 11:00:00,4.00,12000,France
1007,A,Mug,4,2010-12-01 12:00:00,2.50,12000,France
"""


def retail(adjustments: bool) -> OrderStream:
    return OrderStream(
        RETAIL.encode(), "online_retail", name="r.csv", store_id="s", adjustments=adjustments
    )


def test_a_c_invoice_refunds_the_latest_earlier_invoice_of_the_customer_holding_the_product() -> (
    None
):
    stream = retail(True)
    events = list(stream)
    refunds = [
        (e.order_id, e.refund_id, [(x.product_id, x.quantity) for x in e.lines])
        for e in events
        if e.kind == "refund"
    ]
    assert refunds == [
        ("1002", "C1004", [("A", 2)]),  # the latest earlier invoice of 17850 with A
        ("1001", "C1004", [("B", 1)]),  # B: only 1001 holds it for 17850
        ("C1004", "C1004", [("Z", 1)]),  # never bought: a refund of an unknown order
        ("C1005", "C1005", [("B", 1)]),  # no customer: unknown order
    ]
    assert stream.report.accounted
    assert stream.report.bad_by_reason == Counter({"bad_quantity": 1})
    assert adjustment_counts(stream) == {"refund": 4, "unmatched_refund_rows": 2}
    # the refunded units leave the counts: 1002 had one A, the refund of 2 takes it away whole
    sold, _cats, stores = net_ground_truth(events)
    assert sold[("s", "A")] == (10, 2) and sold[("s", "B")] == (4, 2)
    assert stores == {"s": 3}


def test_without_adjustments_c_invoices_are_skipped_as_before() -> None:
    stream = retail(False)
    events = list(stream)
    assert {e.kind for e in events} == {"order"}
    assert [e.order_id for e in events] == ["1001", "1002", "1003", "1007"]
    assert stream.report.skipped["cancellation"] == 5
    assert stream.report.skipped_orders["cancelled"] == 3
    assert stream.report.accounted


SHOPIFY_HEADER = (
    "Name,Email,Financial Status,Currency,Created at,Lineitem quantity,Lineitem name,"
    "Lineitem price,Lineitem sku,Cancelled at\n"
)
SHOPIFY = SHOPIFY_HEADER + (
    "#1001,a@x.io,paid,USD,2024-01-02 10:00:00 -0500,2,Mug,12.00,MUG,\n"
    "#1002,b@x.io,voided,USD,2024-01-02 11:00:00 -0500,1,Plate,8.00,PLT,"
    "2024-01-03 09:00:00 -0500\n"
    "#1002,,,,,1,Mug,12.00,MUG,\n"
    "#1003,c@x.io,refunded,USD,2024-01-02 12:00:00 -0500,3,Vase,20.00,VAS,\n"
    "#1004,d@x.io,partially_refunded,USD,2024-01-02 13:00:00 -0500,1,Vase,20.00,VAS,\n"
)


def test_shopify_cancelled_and_refunded_orders_come_as_order_then_adjustment() -> None:
    events, report = read_orders(SHOPIFY.encode(), "shopify_orders", name="o.csv", store_id="s")
    assert [e.order_id for e in events] == ["#1001", "#1004"]  # the default: skipped
    assert report.skipped_orders == Counter({"cancelled": 1, "refunded": 1})
    stream = OrderStream(
        SHOPIFY.encode(), "shopify_orders", name="o.csv", store_id="s", adjustments=True
    )
    events = list(stream)
    assert [(e.order_id, e.kind) for e in events] == [
        ("#1001", "order"),
        ("#1002", "order"),
        ("#1002", "cancellation"),
        ("#1003", "order"),
        ("#1003", "refund"),
        ("#1004", "order"),  # partially refunded: which lines is not said
    ]
    cancel, refund = events[2], events[4]
    assert cancel.created_at.isoformat() == "2024-01-03T09:00:00-05:00"
    assert refund.refund_id == "#1003-refund"
    assert [(x.product_id, x.quantity) for x in refund.lines] == [("VAS", 3)]
    assert stream.report.accounted and not stream.report.skipped
    sold, _cats, stores = net_ground_truth(events)
    assert sold == {("s", "MUG"): (2, 1), ("s", "VAS"): (1, 1)} and stores == {"s": 2}


def test_the_real_online_retail_replay_accounts_for_every_row() -> None:
    path = shared_data() / "online_retail.csv.gz"
    stream = OrderStream(path, "online_retail", store_id="s", adjustments=True)
    kinds = Counter(e.kind for e in itertools.islice(stream, 3000))
    stream.table.close()
    assert kinds["refund"] > 50 and kinds["order"] > 2000
