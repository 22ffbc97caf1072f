"""A replicated Kafka cluster that loses brokers: counts stay exact, nothing is lost or doubled.

The file starts ITS OWN 3-node KRaft cluster (free loopback ports, data under a temporary dir,
the same launcher as ``bundlestream dev up --brokers 3``) and stops it at the end; the shared
single broker is never touched. Topics get replication factor 3 and min.insync.replicas 2, the
worker and the test producers use acks=all with idempotence.

- One broker lost: a real order history is replayed through the cluster while the broker that
  leads its busiest partition is ``kill -9``-ed, then restarted. Leadership moves, the idempotent
  producer retries into the new leader, and every count equals the ground truth with no dead
  letter.
- Below min ISR: two of three brokers killed. No write can be acknowledged (and the controller
  quorum is gone too), so the producer and the worker wait instead of failing or dropping
  records; once one broker is back they resume and the counts are exact, each order in the
  topic exactly once.

Both tests share one set of topics and one worker (a worker start costs ~30 s on a busy 2-core
machine and the file has a 5-minute budget): each test replays its own slice of the history and
checks the cumulative counts of everything replayed so far, so either can also run alone.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from harness import (
    Worker,
    changelog_counts,
    changelog_topic,
    dead_letters,
    diff_counts,
    end_offsets,
    isolated_topics,
    online_retail_orders,
    order_record,
    orders_topic,
    producer,
    redis_counts,
    wait_consumed,
    with_duplicates,
)

from core.settings import Settings, get_settings
from deploy import kafka_cluster
from deploy.config import ClusterNode, ClusterSpec, Endpoint, kafka_layout
from deploy.errors import StackError
from deploy.net import free_port
from deploy.topics_admin import describe_topic_configs
from models import OrderEvent
from popularity import ground_truth

ORDERS = int(os.environ.get("BUNDLESTREAM_TEST_CLUSTER_ORDERS", "600"))
PARTITIONS = (
    4  # fewer replicas to move around on a 2-core machine; still several leaders per broker
)
SMALL_BATCHES = {"BUNDLESTREAM_BATCH_SIZE": "50", "BUNDLESTREAM_BATCH_WITHIN_S": "0.05"}
# The test producer must outlive an outage: aiokafka fails a send that waits longer than this
# for room in a full batch, or a batch whose partition has had no leader for this long.
PRODUCER_OPTS = {"request_timeout_ms": 180_000, "linger_ms": 5}
REPLAY_S = 30.0  # the replay is paced over this long, so the kill lands in its middle
OUTAGE_S = 12.0  # longer than the broker session timeout (6 s): the controller has noticed
PAUSE_S = 8.0  # below min ISR: long enough to show that nothing completes


class Clock:
    """Prints how long each phase took (the file has a 5-minute budget on a shared machine)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.started = self.last = time.monotonic()

    def __call__(self, what: str) -> None:
        now = time.monotonic()
        print(
            f"[{self.name} +{now - self.started:6.1f} s] {what} ({now - self.last:.1f} s)",
            flush=True,
        )
        self.last = now


def _free_nodes(count: int) -> tuple[ClusterNode, ...]:
    ports: list[int] = []
    while len(ports) < 2 * count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return tuple(
        ClusterNode(
            i + 1, Endpoint("127.0.0.1", ports[2 * i]), Endpoint("127.0.0.1", ports[2 * i + 1])
        )
        for i in range(count)
    )


@pytest.fixture(scope="module")
def cluster(stack: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterSpec]:
    """Three nodes for this file only; jars from the shared stack's Maven resolution."""
    spec = ClusterSpec(
        _free_nodes(3),
        tmp_path_factory.mktemp("kafka-cluster"),
        kafka_layout(get_settings()).libs,
        PARTITIONS,
    )
    log = lambda line: print(f"[cluster] {line}")
    try:
        kafka_cluster.start(spec, log=log)
    except (StackError, OSError) as exc:
        kafka_cluster.stop(spec, log=log, term_timeout_s=5)
        pytest.fail(f"the test's own Kafka cluster could not be started: {exc}", pytrace=False)
    try:
        yield spec
    finally:
        # the data is thrown away: no need to wait for a controlled shutdown
        kafka_cluster.stop(spec, log=log, term_timeout_s=3)


@dataclass
class Replay:
    """The module's topics and worker on the cluster, and every order replayed into them so far."""

    settings: Settings
    worker: Worker
    orders: list[OrderEvent] = field(default_factory=list)


@pytest.fixture(scope="module")
def replay(cluster: ClusterSpec, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replay]:
    base = get_settings().model_copy(
        update={
            "kafka_bootstrap": cluster.bootstrap,
            "replication_factor": 3,
            "min_insync_replicas": 2,
            "partitions": PARTITIONS,
        }
    )
    with isolated_topics(base, tmp_path_factory.mktemp("cluster-replay")) as settings:
        worker = Worker(settings, name="cluster-worker", extra_env=dict(SMALL_BATCHES)).start()
        try:
            asyncio.run(worker.wait_ready(timeout_s=120))
            yield Replay(settings, worker)
        finally:
            worker.stop(timeout_s=10)


def history_slice(start: int, count: int) -> list[OrderEvent]:
    """Invoices ``start``..``start+count`` of the history, with re-deliveries inside the slice."""
    return with_duplicates(online_retail_orders(start + count)[start:], every=25, gap=200)


async def describe_partitions(settings: Settings, topic: str) -> list[dict]:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=10_000
    )
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
        assert described["error_code"] == 0, described
        return list(described["partitions"])
    finally:
        await admin.close()


async def produce_paced(
    settings: Settings,
    orders: Sequence[OrderEvent],
    rate_per_s: float | None = None,
    chunk: int = 100,
    acked: list[int] | None = None,
) -> int:
    """One idempotent producer for the whole run (so its retries span the outage); returns sent.

    ``acked`` (a one-item list) is kept at the number of orders the cluster acknowledged so far.
    """
    prod = producer(settings, **PRODUCER_OPTS)
    await prod.start()
    started = time.monotonic()
    try:
        for index in range(0, len(orders), chunk):
            futures = [
                await prod.send(orders_topic(settings), key=k, value=v)
                for k, v in map(order_record, orders[index : index + chunk])
            ]
            await asyncio.gather(*futures)
            if acked is not None:
                acked[0] = min(len(orders), index + chunk)
            if rate_per_s:
                ahead = (index + chunk) / rate_per_s - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
    finally:
        await prod.stop()
    return len(orders)


async def applied_orders(settings: Settings) -> int:
    """Records the orders agent wrote to its processed-orders changelog (progress, not exact)."""
    return sum(
        (await end_offsets(settings, changelog_topic(settings, "processed-orders"))).values()
    )


async def in_topic(settings: Settings) -> int:
    return sum((await end_offsets(settings, orders_topic(settings))).values())


async def assert_exact(settings: Settings, orders: Sequence[OrderEvent]) -> None:
    """Counts equal the ground truth in the changelogs and the Redis read model; no dead letter;
    the orders topic holds each produced record exactly once (the producer's retries left no copy)."""
    want_sold, want_cats = ground_truth(orders)
    sold, cats = await changelog_counts(settings)
    assert not diff_counts(sold, want_sold), diff_counts(sold, want_sold)
    assert not diff_counts(cats, want_cats), diff_counts(cats, want_cats)
    r_sold, r_cats = await redis_counts(settings, {o.store_id for o in orders})
    assert not diff_counts(r_sold, want_sold), "Redis read model: " + diff_counts(r_sold, want_sold)
    assert not diff_counts(r_cats, want_cats), "Redis read model: " + diff_counts(r_cats, want_cats)
    assert await dead_letters(settings) == []
    assert await in_topic(settings) == len(orders)


def busiest_partition(
    settings: Settings, orders: Sequence[OrderEvent], partitions: list[dict]
) -> dict:
    """The partition most of the orders go to (stores are keys; one country dominates)."""
    from aiokafka.partitioner import DefaultPartitioner

    by_partition = Counter(
        DefaultPartitioner()(
            o.store_id.encode(), list(range(len(partitions))), list(range(len(partitions)))
        )
        for o in orders
    )
    busiest = by_partition.most_common(1)[0][0]
    return next(p for p in partitions if p["partition"] == busiest)


@pytest.mark.timeout(300)
async def test_one_broker_killed_mid_replay_then_restarted_counts_exact(
    cluster: ClusterSpec, replay: Replay
) -> None:
    clock = Clock("one-lost")
    settings, worker = replay.settings, replay.worker
    orders = history_slice(0, ORDERS)
    distinct = len({(o.store_id, o.order_id) for o in orders})

    # replication: our topics and Faust's own changelogs, 3 replicas and min ISR 2
    changelog = changelog_topic(settings, "sold-counts")
    for topic in (orders_topic(settings), changelog):
        parts = await describe_partitions(settings, topic)
        assert parts and all(len(p["replicas"]) == 3 for p in parts), (topic, parts)
    configs = describe_topic_configs(settings, [orders_topic(settings), changelog])
    assert {t: c["min.insync.replicas"] for t, c in configs.items()} == {
        orders_topic(settings): "2",
        changelog: "2",
    }

    partitions = await describe_partitions(settings, orders_topic(settings))
    victim = busiest_partition(settings, orders, partitions)["leader"]
    applied_before = await applied_orders(settings)
    acked = [0]
    replay.orders.extend(orders)
    producing = asyncio.create_task(
        produce_paced(settings, orders, rate_per_s=len(orders) / REPLAY_S, acked=acked)
    )
    # mid-replay: a third of the history is in, and the worker is consuming it
    while acked[0] < len(orders) / 3 or await applied_orders(settings) == applied_before:
        assert not producing.done(), "the replay finished before the worker consumed anything"
        assert worker.alive(), worker.log_tail()
        await asyncio.sleep(0.2)
    clock(f"mid-replay: {acked[0]} of {len(orders)} orders acknowledged")
    assert kafka_cluster.kill_node(cluster, victim, log=print)
    killed_at = time.monotonic()
    await asyncio.sleep(OUTAGE_S)
    assert not producing.done(), "the replay finished before the broker came back: not mid-replay"
    moved = await describe_partitions(settings, orders_topic(settings))
    assert all(p["leader"] not in (victim, -1) for p in moved), moved
    clock(f"node {victim} killed, leaders moved; {acked[0]} orders acknowledged")
    await asyncio.to_thread(kafka_cluster.start_node, cluster, victim, print)
    clock(f"node {victim} back after {time.monotonic() - killed_at:.1f} s")

    await asyncio.wait_for(producing, 120)
    clock("replay acknowledged")
    waited = await wait_consumed(settings, timeout_s=150, workers=[worker])
    clock("input consumed and committed")
    assert worker.alive(), worker.log_tail()
    await assert_exact(settings, replay.orders)
    clock("counts checked")
    print(
        f"orders={len(orders)} distinct={distinct} victim=node {victim} consumed {waited:.1f} s after the replay"
    )


@pytest.mark.timeout(300)
async def test_two_brokers_killed_below_min_isr_pause_then_resume_exactly(
    cluster: ClusterSpec, replay: Replay
) -> None:
    clock = Clock("below-min-isr")
    settings, worker = replay.settings, replay.worker
    orders = history_slice(ORDERS, ORDERS // 2)
    await wait_consumed(
        settings, timeout_s=90, workers=[worker]
    )  # whatever an earlier test replayed
    applied_before = await applied_orders(settings)

    survivor, *victims = [n.node_id for n in cluster.nodes]
    for node_id in victims:
        assert kafka_cluster.kill_node(cluster, node_id, log=print)
    replay.orders.extend(orders)
    producing = asyncio.create_task(produce_paced(settings, orders))
    await asyncio.sleep(PAUSE_S)
    # paused, not failed: the producer still waits for acks=all, the worker still runs
    assert not producing.done(), "a write was acknowledged (or failed) with one broker of three"
    assert worker.alive(), worker.log_tail()
    clock(f"nodes {victims} killed; producer and worker waiting")

    await asyncio.to_thread(kafka_cluster.start_node, cluster, victims[0], print)
    clock(f"node {victims[0]} back")
    back_at = time.monotonic()
    await asyncio.wait_for(producing, 120)
    resumed = time.monotonic() - back_at
    clock("replay acknowledged")
    waited = await wait_consumed(settings, timeout_s=150, workers=[worker])
    clock("input consumed and committed")
    assert worker.alive(), worker.log_tail()
    assert await applied_orders(settings) > applied_before
    await assert_exact(settings, replay.orders)
    clock("counts checked")
    print(
        f"orders={len(orders)} survivor=node {survivor}; producer done {resumed:.1f} s after a "
        f"broker served again, input consumed {waited:.1f} s later"
    )
