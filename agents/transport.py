"""Faust's aiokafka transport, adjusted for reply latency and for a replicated cluster.

Low latency: faust-streaming's aiokafka driver hard-codes ``fetch_max_wait_ms=1500``. aiokafka
keeps one fetch request in flight per broker, so when a record arrives on a partition that was not
part of the parked request, it waits until the broker releases that request: up to 1.5 s. Chat
replies then had a p99 of ~1.5 s while the agent itself needed ~2 ms. A short wait costs a few
more idle fetch round trips on loopback and keeps the p99 near the processing time.

Durability: every table write and output event needs all in-sync replicas (acks=all; with
``min.insync.replicas`` 2 of 3 a write survives the loss of any one broker). Faust's producer
retries a failed send until its own request timeout (``producer_request_timeout``, 20 minutes),
so a worker waits out a broker outage instead of dropping writes.

Idempotence stays OFF for the worker's producer, on purpose: measured on a local 3-node
cluster (tests/integration/test_cluster.py), aiokafka 0.14's idempotent producer inside the
worker stopped completing sends after the leader of a partition was killed, so the worker never
committed again; the same run without idempotence committed everything within a minute. A
retried send can therefore write a changelog record twice, which is harmless: every changelog
record holds a whole value (latest wins) and counters carry their source offset. Producers
outside the worker (CLI, benches, tests) are short-lived and do use idempotence.

Faust creates its changelog and repartition topics itself; they get the same
``min.insync.replicas`` as the topics ``bundlestream topics create`` makes. Creation returns
before the broker's metadata lists the new topic, and a group joined in that gap is assigned
without it ("Ignoring missing topic"); the next metadata refresh then rebalances a worker that
has just started consuming. So each created topic is awaited in the metadata first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, cast

import aiokafka
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.transport.producer import ProducerBuffer

from core.settings import get_settings
from deploy.topics_admin import replication_config

from .inline_await import start_inline

DURABLE_PRODUCER = {"acks": "all"}
# Records Faust's send buffer holds before the message drain waits for it: a batch's table writes
# (batch agents empty it before each ack), bounded so a runaway writer still gets throttled.
SEND_BUFFER_MAX = 200_000
# How long a created topic is awaited in the broker's metadata before the worker goes on anyway
# (it then joins without the topic and rebalances once the topic shows up, as before).
TOPIC_METADATA_WAIT_S = 30.0

log = logging.getLogger(__name__)


async def wait_for_topic_metadata(
    client: aiokafka.AIOKafkaClient,
    topic: str,
    partitions: int,
    timeout_s: float = TOPIC_METADATA_WAIT_S,
) -> bool:
    """Until the broker's metadata lists ``topic`` with ``partitions`` partitions (True), or
    ``timeout_s`` passed (False). A metadata request of its own: the client's state is left as is."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        metadata = await client.fetch_all_metadata()
        if len(metadata.partitions_for_topic(topic) or ()) >= partitions:
            return True
        if loop.time() >= deadline:
            log.warning("topic %s not in the metadata %.0f s after its creation", topic, timeout_s)
            return False
        await asyncio.sleep(0.1)


def return_unwanted(
    records: Mapping[Any, list[Any]],
    wanted: Callable[[Any], bool],
    seek: Callable[[Any, int], None],
) -> dict[Any, list[Any]]:
    """``records`` without the partitions Faust will not take, each of those seeked back to its
    first record so that it is fetched again once it is wanted.

    aiokafka advances a partition's position as soon as it hands records over, and Faust's
    ``getmany`` silently drops records of a partition that is no longer active. Faust passes its
    live set of active partitions to the consumer thread, which may wait up to the poll timeout;
    the event loop's thread can empty the set meanwhile (recovery pauses the changelogs while the
    stream partitions wait for their seek), and aiokafka reads an empty set as *every* partition.
    Seen after a kill -9 restart: a partition's whole backlog drained right after the seek to the
    committed offset and dropped, the worker idle with read == committed for good."""
    kept: dict[Any, list[Any]] = {}
    for tp, batch in records.items():
        if wanted(tp):
            kept[tp] = batch
        elif batch:
            seek(tp, batch[0].offset)
    return kept


class LowLatencyConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(
        self, transport: faust_aiokafka.Transport
    ) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = get_settings().consumer_fetch_max_wait_ms  # read by start()
        return consumer

    async def _fetch_records(
        self,
        consumer: aiokafka.AIOKafkaConsumer,
        active_partitions: set[Any],
        timeout: float | None = None,
        max_records: int | None = None,
    ) -> Any:
        """Faust's fetch, keeping only what Faust takes (see ``return_unwanted``). Runs in the
        consumer's thread, right after aiokafka handed the records over, so the seek back lands
        before aiokafka can fetch past them."""
        records = await super()._fetch_records(
            consumer, active_partitions, timeout=timeout, max_records=max_records
        )
        if not records or active_partitions is None:
            return records
        buffered = self.consumer._buffered_partitions

        def seek_back(tp: Any, offset: int) -> None:
            log.info("fetched records of %s while it is not read: seeking back to %d", tp, offset)
            consumer.seek(tp, offset)

        return return_unwanted(
            records, lambda tp: tp in active_partitions or tp in buffered, seek_back
        )


class LowLatencyConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer with a timed commit, commit diagnostics, and stream partitions
    held paused until the seek to the committed offsets that follows every assignment is done.

    Why the hold: after a rebalance Faust resumes the stream partitions, then seeks them to
    their committed offsets, then resumes the flow. When tables were restored from their
    changelogs the flow is already running from the restore, so records fetched between the
    resume and the end of the seek are processed, and the seek then rewinds the consumer and
    resets Faust's committed and read offsets underneath them. The re-fetched copies below the
    read offset those records left behind are dropped as already read, and if the first of them
    was not acked, Faust never commits that partition again (its next commit needs the acked
    offsets to start right after the committed one). Seen after a kill -9 restart under load:
    every event processed, one partition stuck at its old committed offset.
    """

    #: monotonic time the running offset commit started (None: none running), for /healthz
    commit_since: float | None = None
    #: set at each assignment until the seek to the committed offsets has run
    _streams_await_seek: bool = False
    #: stream partitions Faust resumed while ``_streams_await_seek`` (resumed after the seek)
    _held_stream_partitions: frozenset[Any] = frozenset()

    async def on_partitions_assigned(self, assigned: set[Any], generation_id: int = 0) -> None:
        self._streams_await_seek = True
        self._held_stream_partitions = frozenset()
        await super().on_partitions_assigned(assigned, generation_id)

    def resume_partitions(self, tps: Any) -> None:
        """Changelog partitions resume at once (recovery reads them); stream partitions wait for
        the seek when an assignment is still settling."""
        tps = set(tps)
        if self._streams_await_seek:
            streams = {tp for tp in tps if not self._is_changelog_tp(tp)}
            self._held_stream_partitions = self._held_stream_partitions | streams
            tps -= streams
        super().resume_partitions(tps)

    async def perform_seek(self) -> None:
        await super().perform_seek()
        if self._held_stream_partitions:
            held, self._held_stream_partitions = self._held_stream_partitions, frozenset()
            self._streams_await_seek = False
            super().resume_partitions(held)

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - needs a broker
        """Faust's drain loop, handing each message to the streams without per-message tasks.

        Faust awaits every delivery as ``wait_first(callback(message), suspend_flow.wait())`` so
        that a delivery blocked on a full stream buffer is abandoned when a rebalance suspends
        the flow. That creates and cancels four tasks per message, more than the delivery itself
        costs. Here a delivery runs inline while the flow is active; only one that really blocks
        continues under ``wait_first`` from where it stopped, so a rebalance still abandons it.
        The rest is Faust's loop: read offsets, gaps in acked topics, commits every N acks.
        """
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for
        yield_every = 100
        num_since_yield = 0
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(CONSUMER_FETCHING)
                ait = getmany(timeout=1.0)
                await self.sleep(0)
                if not self.should_stop:
                    async for tp, message in ait:
                        num_since_yield += 1
                        if num_since_yield > yield_every:
                            await asyncio.sleep(0)
                            num_since_yield = 0
                        offset = message.offset
                        r_offset = get_read_offset(tp)
                        if r_offset is None or offset >= r_offset:
                            gap = offset - (r_offset or 0)
                            if gap > 1 and r_offset and acks_enabled_for(message.topic):
                                await self._add_gap(tp, r_offset + 1, offset)
                            if commit_every is not None and self._n_acked >= commit_every:
                                self._n_acked = 0
                                await self.commit()
                            await self._deliver(callback, message)
                            set_read_offset(tp, offset)
                    unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(CONSUMER_FETCHING)

    async def _deliver(self, callback: Any, message: Any) -> None:
        """One message to its streams: inline while the flow is active, else (or once it blocks)
        under ``wait_first`` with the flow's suspension, as Faust does."""
        if not self.flow_active:
            await self.wait_first(callback(message), self.suspend_flow.wait())
            return
        rest = start_inline(callback(message))
        if rest is not None:
            await self.wait_first(rest, self.suspend_flow.wait())

    async def force_commit(self, topics: Any = None, start_new_transaction: bool = True) -> bool:
        """Faust's commit (one at a time), timed: a commit that never returns stops every later
        commit while processing goes on, and only /healthz can tell."""
        self.commit_since = time.monotonic()
        try:
            return await super().force_commit(topics, start_new_transaction=start_new_transaction)
        finally:
            self.commit_since = None

    def commit_state(self) -> dict[str, Any]:
        """Faust's commit bookkeeping per acked partition (read-only, from the event loop): the
        committed and last-read offsets, the acked offsets waiting to be committed, the messages
        read but not acked, and how many channels each topic feeds. What a worker that processes
        but does not commit is waiting for; logged on SIGUSR2."""
        in_flight: dict[Any, list[tuple[int, int]]] = {}
        for message in list(self._unacked_messages):
            if not message.acked:
                in_flight.setdefault(message.tp, []).append((message.offset, message.refcount))
        state: dict[str, Any] = {}
        for tp in sorted(self.assignment()):
            if not self.app.topics.acks_enabled_for(tp.topic):
                continue
            acked = sorted(self._acked.get(tp, ()))
            waiting = sorted(in_flight.get(tp, ()))
            state[f"{tp.topic}[{tp.partition}]"] = {
                "committed": self._committed_offset.get(tp),
                "read": self._read_offset.get(tp),
                "acked": (acked[0], acked[-1], len(acked)) if acked else None,
                "gap": str(self._gap.get(tp)) if self._gap.get(tp) else None,
                "in_flight": (waiting[:3], len(waiting)) if waiting else None,
            }
        channels = getattr(self.app.topics, "_topic_name_index", {})
        state["channels_per_topic"] = {t: len(c) for t, c in channels.items() if len(c) != 1}
        state["fetch"] = self.fetch_state()
        return state

    def read_and_highwater(self) -> dict[str, tuple[int | None, int | None]]:
        """Per stream partition that is being read: the last offset Faust read and the high
        watermark aiokafka's last fetch saw (for /healthz's unread-partition check). Empty while
        partitions are legitimately not read: flow stopped, an assignment settling, a recovery."""
        recovery = getattr(self.app.tables, "_recovery", None)
        if (
            not self.flow_active
            or self._streams_await_seek
            or self.app.rebalancing
            or (recovery is not None and recovery.in_recovery)
        ):
            return {}
        assignment = self._aiokafka_assignment()
        if assignment is None:  # consumer thread not started
            return {}
        out: dict[str, tuple[int | None, int | None]] = {}
        for tp in self.assignment():
            if (
                self._is_changelog_tp(tp)
                or tp in self._buffered_partitions  # back-pressure: the stream tracker's part
                or not self.app.topics.acks_enabled_for(tp.topic)
            ):
                continue
            highwater = getattr(assignment.state_value(tp), "highwater", None)
            out[f"{tp.topic}[{tp.partition}]"] = (self._read_offset.get(tp), highwater)
        return out

    def _aiokafka_assignment(self) -> Any:
        # aiokafka's current assignment (per-partition fetch state); read-only, from the event loop
        fetcher = getattr(getattr(self._thread, "_consumer", None), "_fetcher", None)
        subscription = getattr(getattr(fetcher, "_subscriptions", None), "subscription", None)
        return getattr(subscription, "assignment", None)

    def fetch_state(self) -> dict[str, Any]:
        """Why a stream partition is or is not fetched: Faust's active, paused and buffer-full
        sets, the partitions held for the seek, and aiokafka's own view (paused, position,
        records buffered but not yet handed over). Read-only diagnostics for SIGUSR2."""
        active = self._active_partitions or set()
        fetcher = getattr(getattr(self._thread, "_consumer", None), "_fetcher", None)
        records = getattr(fetcher, "_records", {}) or {}
        assignment = self._aiokafka_assignment()
        partitions: dict[str, Any] = {}
        for tp in sorted(self.assignment()):
            if self._is_changelog_tp(tp):
                continue
            entry: dict[str, Any] = {
                "active": tp in active,
                "paused": tp in self._paused_partitions,
                "buffer_full": tp in self._buffered_partitions,
                "held": tp in self._held_stream_partitions,
            }
            tp_state = assignment.state_value(tp) if assignment is not None else None
            if tp_state is not None:
                entry["kafka_paused"] = tp_state.paused
                entry["position"] = tp_state._position
                entry["awaiting_reset"] = tp_state.awaiting_reset
            if tp in records:
                entry["buffered_records"] = type(records[tp]).__name__
            partitions[f"{tp.topic}[{tp.partition}]"] = entry
        return {
            "flow_active": self.flow_active,
            "streams_await_seek": self._streams_await_seek,
            "partitions": partitions,
        }

    def _new_consumer_thread(self) -> LowLatencyConsumerThread:
        return LowLatencyConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def topics_without_metadata(self) -> list[str]:
        """Subscribed topics the group's metadata lists with no partitions yet.

        A topic the worker created a moment before subscribing (a new table's changelog) can be
        missing from the first metadata; its partitions join the assignment only after the next
        metadata refresh and the rebalance it triggers. Until then the assignment is incomplete."""
        snapshot = getattr(self._coordinator(), "_metadata_snapshot", None) or {}
        return sorted(topic for topic, partitions in snapshot.items() if not partitions)

    def rejoin_pending(self) -> bool:
        """The group coordinator asked to rejoin (metadata changed) and the rebalance has not begun:
        the current assignment is about to change, though Faust does not say it is rebalancing yet."""
        pending = getattr(self._coordinator(), "_rejoin_needed_fut", None)
        return bool(pending is not None and pending.done())

    def _coordinator(self) -> Any:
        # aiokafka keeps these on its consumer's group coordinator; read-only, from the event loop
        return getattr(getattr(self._thread, "_consumer", None), "_coordinator", None)


class DurableProducer(faust_aiokafka.Producer):
    """acks=all whatever ``producer_acks`` says (transactions still add idempotence), and a
    send buffer that batch agents drain themselves.

    Faust queues every table write in its own buffer and, once more than 100 are queued, makes
    the message drain wait for each queued record in turn before it hands on the next message.
    The orders agent writes thousands of records per batch, so that throttled every delivery.
    Here the buffer may hold a whole batch's writes (``SEND_BUFFER_MAX``), and a batch agent calls
    ``send_all`` before its batch is acked: the records are on the broker before the offsets that
    produced them can be committed, which Faust's own commit does not wait for.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.buffer.max_messages = SEND_BUFFER_MAX

    async def send_all(self, timeout_s: float) -> bool:
        """Until every record queued so far is acknowledged by the broker (True), or ``timeout_s``
        passed (False: the caller goes on, as Faust would)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        buffer = cast(ProducerBuffer, self.buffer)
        while buffer.size:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            buffer.message_sent.clear()
            try:
                await asyncio.wait_for(buffer.message_sent.wait(), min(remaining, 1.0))
            except TimeoutError:
                continue
        if self._producer is not None:
            try:
                await asyncio.wait_for(self._producer.flush(), max(deadline - loop.time(), 0.0))
            except TimeoutError:
                return False
        return True

    def _settings_extra(self) -> Mapping[str, Any]:
        return {**DURABLE_PRODUCER, **super()._settings_extra()}


def with_replication_config(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """A Faust-created topic's config plus ours; a table's own ``extra_topic_configs`` win."""
    return {**replication_config(get_settings()), **(config or {})}


class LowLatencyTransport(faust_aiokafka.Transport):
    Consumer = LowLatencyConsumer
    Producer = DurableProducer

    async def _create_topic(
        self,
        owner: Any,
        client: aiokafka.AIOKafkaClient,
        topic: str,
        partitions: int,
        replication: int,
        **kwargs: Any,
    ) -> None:
        kwargs["config"] = with_replication_config(kwargs.get("config"))
        await super()._create_topic(owner, client, topic, partitions, replication, **kwargs)
        await wait_for_topic_metadata(client, topic, partitions)
