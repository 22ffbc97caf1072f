"""Live bundle performance end to end: upload a store, wait for its bundle set, publish orders
(whole, partial, one product only, one before publication, a duplicate) through Kafka, and read
exact counts from the endpoint and /metrics; then upload again and see the feedback in the next
set and the old set's counts gone.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, timedelta

import aiohttp
import pytest

from core.settings import Settings, get_settings
from models import BundleSet, OrderEvent, OrderLine, StorePerformance
from popularity.performance import contribution
from tests.integration.harness import (
    Worker,
    admin_headers,
    isolated_topics,
    produce_orders,
    ready_worker,
    wait_consumed,
)
from tests.integration.test_uploads_pipeline import (
    cold_catalog,
    few_orders,
    http_get,
    inline_event,
    publish,
    wait_bundle_sets,
)

WAIT_S = 60.0


@pytest.fixture(scope="module")
def settings(stack, tmp_path_factory) -> Iterator[Settings]:
    # feedback judges at once here (no minimum days, one order is enough evidence)
    with isolated_topics(
        get_settings(),
        tmp_path_factory.mktemp("perf"),
        partitions=2,
        feedback_min_days=0.0,
        feedback_min_orders=1,
        feedback_boost_at=0.2,
        feedback_penalty_below=0.2,
    ) as s:
        yield s


@pytest.fixture(scope="module")
def worker(settings: Settings) -> Iterator[Worker]:
    with ready_worker(settings, "perf-worker") as w:
        yield w


async def get_text(worker: Worker, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        async with session.get(worker.url + path, headers=admin_headers()) as resp:
            return resp.status, await resp.text()


async def wait_performance(
    worker: Worker, store: str, upload_id: str, orders: int
) -> StorePerformance:
    path = f"/api/v1/stores/{store}/bundles/performance"
    deadline = time.monotonic() + WAIT_S
    status, body = await http_get(worker, path)
    while time.monotonic() < deadline:
        if (
            status == 200
            and body.get("upload_id") == upload_id
            and body.get("orders_since_published") == orders
        ):
            return StorePerformance.model_validate(body)
        await asyncio.sleep(0.3)
        status, body = await http_get(worker, path)
    raise AssertionError(f"{path}: {status} {body}\n{worker.log_tail(2000)}")


def gauge(text: str, name: str, **labels: str) -> float | None:
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        m = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if m and ",".join(sorted(m.group(1).split(","))) == want:
            return float(m.group(2))
    return None


def order(store: str, order_id: str, lines: dict[str, tuple[int, float]], when) -> OrderEvent:
    return OrderEvent(
        order_id=order_id,
        store_id=store,
        created_at=when,
        lines=[OrderLine(product_id=p, quantity=q, price=price) for p, (q, price) in lines.items()],
    )


def test_live_counts_endpoint_metrics_and_feedback(settings: Settings, worker: Worker) -> None:
    async def run() -> None:
        store = "perf-" + uuid.uuid4().hex[:6]
        status, body = await http_get(worker, f"/api/v1/stores/{store}/bundles/performance")
        assert status == 404 and "no published bundle set" in body["error"]

        first = inline_event(store, cold_catalog(), few_orders(40))
        await publish(settings, first)
        bs: BundleSet = (await wait_bundle_sets(settings, worker, [first.upload_id]))[
            first.upload_id
        ]
        assert bs.status == "ok", bs.error
        multi = [b for b in bs.bundles if len({p.product_id for p in b.products}) >= 2]
        assert multi, [b.products for b in bs.bundles]
        target = multi[0]
        prices = {p.product_id: p.unit_price for b in bs.bundles for p in b.products}
        pids = list(dict.fromkeys(p.product_id for p in target.products))

        # before any order: zero counts for the new set
        empty = await wait_performance(worker, store, first.upload_id, 0)
        assert {b.bundle_id for b in empty.bundles} == {b.bundle_id for b in bs.bundles}
        assert all(b.orders_whole == b.orders_partial == 0 for b in empty.bundles)

        now = bs.generated_at + timedelta(seconds=1)
        whole = {p: (2 if i == 0 else 1, prices[p]) for i, p in enumerate(pids)}
        partial = {p: (1, prices[p]) for p in pids[:2]}
        single = {pids[0]: (3, prices[pids[0]])}
        counted = [
            order(store, "w1", whole, now),
            order(store, "p1", partial, now + timedelta(minutes=1)),
            order(store, "s1", single, now + timedelta(minutes=2)),
        ]
        before = order(store, "old", whole, bs.generated_at - timedelta(hours=1))
        duplicate = order(store, "w1", whole, now)  # same order id: dropped by the dedupe
        await produce_orders(settings, [counted[0], before, counted[1], duplicate, counted[2]])
        await wait_consumed(settings, workers=[worker])

        perf = await wait_performance(worker, store, first.upload_id, len(counted))
        # order times are whole seconds, so is the publication time the counts start at
        assert perf.published_at == bs.generated_at.astimezone(UTC).replace(microsecond=0)
        expected: dict[str, list[int]] = {}
        for b in bs.bundles:
            ids = list(dict.fromkeys(p.product_id for p in b.products))
            totals = [0, 0, 0, 0]
            for o in counted:
                held = {
                    ln.product_id: [ln.quantity, round(ln.quantity * ln.price * 100)]
                    for ln in o.lines
                }
                totals = [x + y for x, y in zip(totals, contribution(ids, held))]
            expected[b.bundle_id] = totals
        got = {
            b.bundle_id: [
                b.orders_whole,
                b.orders_partial,
                round(b.revenue_whole * 100),
                round(b.revenue_partial * 100),
            ]
            for b in perf.bundles
        }
        assert got == expected
        assert got[target.bundle_id][0] >= 1  # the whole order counts for the target
        day = next(b for b in perf.bundles if b.bundle_id == target.bundle_id).days
        assert [d.day for d in day] == [now.astimezone(UTC).date()]
        assert day[0].orders_whole == expected[target.bundle_id][0]

        status, text = await get_text(worker, "/metrics")
        assert status == 200
        labels = {"store": store, "bundle": target.bundle_id}
        assert gauge(text, "bundlestream_bundle_live_orders", **labels, kind="whole") == float(
            expected[target.bundle_id][0]
        )
        assert gauge(text, "bundlestream_bundle_live_orders", **labels, kind="partial") == float(
            expected[target.bundle_id][1]
        )
        assert gauge(
            text, "bundlestream_bundle_live_revenue", **labels, kind="whole"
        ) == pytest.approx(expected[target.bundle_id][2] / 100)
        assert gauge(text, "bundlestream_store_live_orders", store=store) == float(len(counted))

        # a restarted worker exports the same gauges from its table, before any new order
        worker.restart(kill=True)
        await worker.wait_ready(timeout_s=90, min_partitions=1)
        deadline = time.monotonic() + WAIT_S
        whole_after = None
        while time.monotonic() < deadline and whole_after is None:
            await asyncio.sleep(0.5)
            status, text = await get_text(worker, "/metrics")
            whole_after = gauge(text, "bundlestream_bundle_live_orders", **labels, kind="whole")
        assert whole_after == float(expected[target.bundle_id][0]), worker.log_tail(2000)
        assert gauge(text, "bundlestream_store_live_orders", store=store) == float(len(counted))
        again = await wait_performance(worker, store, first.upload_id, len(counted))
        assert again.bundles == perf.bundles

        # the next upload of the store uses what the orders said
        second = inline_event(store, cold_catalog(), few_orders(40))
        await publish(settings, second)
        bs2 = (await wait_bundle_sets(settings, worker, [second.upload_id]))[second.upload_id]
        assert bs2.status == "ok", bs2.error
        old_sets = {
            tuple(sorted({p.product_id for p in b.products})): b.bundle_id for b in bs.bundles
        }
        noted = [b for b in bs2.bundles if "Live feedback" in b.rationale]
        assert noted, [b.rationale for b in bs2.bundles]
        for b in bs2.bundles:
            key = tuple(sorted({p.product_id for p in b.products}))
            assert ("Live feedback" in b.rationale) == (key in old_sets), b.rationale
        # and the old set's counts are gone: the new set starts at zero, on /metrics too
        fresh = await wait_performance(worker, store, second.upload_id, 0)
        assert all(b.orders_whole == b.orders_partial == 0 for b in fresh.bundles)
        status, text = await get_text(worker, "/metrics")
        assert gauge(text, "bundlestream_store_live_orders", store=store) == 0.0
        for b in bs2.bundles:
            for kind in ("whole", "partial"):
                value = gauge(
                    text,
                    "bundlestream_bundle_live_orders",
                    store=store,
                    bundle=b.bundle_id,
                    kind=kind,
                )
                assert value == 0.0, (b.bundle_id, kind, value)
        exported = set(re.findall(rf'bundle="([^"]+)",kind="whole",store="{store}"', text))
        exported |= set(re.findall(rf'store="{store}",bundle="([^"]+)",kind="whole"', text))
        assert exported == {b.bundle_id for b in bs2.bundles}

    asyncio.run(run())
