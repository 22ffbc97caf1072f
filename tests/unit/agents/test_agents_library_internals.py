"""The private parts of faust-streaming and aiokafka this project reaches into.

Both libraries are pinned (pyproject.toml, requirements.lock) because the worker subclasses or
reads these. An upgrade that moves one of them must fail here, by name, rather than as a
silent change of behaviour in a running worker (a fetch wait that no longer applies, a standby
figure that always reads 0, a partition check that crashes an agent again).
"""

from __future__ import annotations

import inspect
from importlib.metadata import version

import aiokafka
import faust
import pytest
from faust.stores import rocksdb
from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.transport.drivers import aiokafka as faust_aiokafka

PINNED = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0"}


@pytest.mark.parametrize("package", sorted(PINNED))
def test_the_pinned_versions_are_the_installed_ones(package: str) -> None:
    assert version(package) == PINNED[package], (
        f"{package} {version(package)} is installed but the suite passed on {PINNED[package]}: "
        "re-check the internals below before moving the pin"
    )


def test_aiokafka_consumer_reads_fetch_max_wait_ms_at_start() -> None:
    # agents/transport.py sets it after construction; start() must still read the attribute.
    source = inspect.getsource(aiokafka.AIOKafkaConsumer)
    assert "self._fetch_max_wait_ms" in source
    assert "self._fetch_max_wait_ms" in inspect.getsource(aiokafka.AIOKafkaConsumer.start)


def test_aiokafka_coordinator_keeps_a_rejoin_future() -> None:
    from aiokafka.consumer.group_coordinator import GroupCoordinator

    assert "_rejoin_needed_fut" in inspect.getsource(GroupCoordinator)
    assert "self._coordinator" in inspect.getsource(aiokafka.AIOKafkaConsumer.start)


def test_faust_transport_hooks_we_override_exist() -> None:
    thread = faust_aiokafka.AIOKafkaConsumerThread
    assert callable(getattr(thread, "_create_worker_consumer", None))
    assert "_consumer" in inspect.getsource(thread)
    assert callable(getattr(faust_aiokafka.Consumer, "_new_consumer_thread", None))
    assert callable(getattr(faust_aiokafka.Producer, "_settings_extra", None))
    params = inspect.signature(faust_aiokafka.Transport._create_topic).parameters
    assert list(params)[:6] == ["self", "owner", "client", "topic", "partitions", "replication"]


def test_faust_resumes_stream_partitions_before_seeking_them() -> None:
    """The stream-partition hold in agents/transport.py releases on the seek that follows the
    resume; both of Faust's resume paths must still resume first, then seek."""
    for method in (Recovery._resume_streams, Recovery.on_recovery_completed):
        source = inspect.getsource(method)
        assert source.index("consumer.resume_partitions(") < source.index("perform_seek()")
    consumer = faust_aiokafka.Consumer
    for name in ("on_partitions_assigned", "resume_partitions", "perform_seek", "_is_changelog_tp"):
        assert callable(getattr(consumer, name, None)), name


def test_faust_current_event_is_a_context_variable_of_weak_references() -> None:
    from contextvars import ContextVar

    from faust.streams import _current_event, current_event

    assert isinstance(_current_event, ContextVar)
    assert "_current_event.get" in inspect.getsource(current_event)


def test_faust_table_partition_check_and_rocksdb_revoke_exist() -> None:
    assert callable(getattr(faust.Table, "_verify_source_topic_partitions", None))
    assert callable(getattr(rocksdb.Store, "revoke_partitions", None))


def test_faust_recovery_exposes_standby_offsets() -> None:
    assert "_recovery" in inspect.getsource(TableManager)
    source = inspect.getsource(Recovery)
    assert "self.standby_offsets" in source and "self.standby_tps" in source


def test_faust_commit_bookkeeping_we_time_and_report_exists() -> None:
    """``LowLatencyConsumer`` times ``force_commit`` (for /healthz) and reports the consumer's
    commit bookkeeping on SIGUSR2; both read these parts of Faust's consumer."""
    from faust.transport.conductor import Conductor
    from faust.transport.consumer import Consumer

    params = inspect.signature(Consumer.force_commit).parameters
    assert list(params) == ["self", "topics", "start_new_transaction"]
    init = inspect.getsource(Consumer.__init__)
    for name in ("_unacked_messages", "_acked", "_committed_offset", "_read_offset", "_gap"):
        assert f"self.{name} =" in init, name
    assert "self._topic_name_index =" in inspect.getsource(Conductor.__init__)


def test_serialized_store_getitem_is_encode_get_decode() -> None:
    # agents.stores.read_value does the same three steps without the KeyError
    from faust.stores.base import SerializedStore

    source = inspect.getsource(SerializedStore.__getitem__)
    assert "self._get(self._encode_key(key))" in source
    assert "self._decode_value(value)" in source
    assert issubclass(rocksdb.Store, SerializedStore)


def test_prometheus_monitor_hooks_the_batched_monitor_replaces() -> None:
    # agents/batched_metrics.py overrides these and writes the same metric families in flush()
    from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor

    for hook in ("on_message_in", "on_stream_event_in", "on_table_get", "on_send_initiated"):
        assert hook in vars(PrometheusMonitor), hook
    for family in ("messages_received_per_topics", "total_events_per_stream", "table_operations"):
        assert family in FaustMetrics._fields, family


def test_streams_iterate_on_faust_compiled_iterator() -> None:
    # Faust's cython stream iterator is its only compiled hot path; the wheel ships it and the
    # worker must not run with NO_CYTHON (which silently falls back to the Python iterator).
    import faust.streams

    assert faust.streams._CStreamIterator is not None
    assert faust.streams._CStreamIterator.__module__ == "faust._cython.streams"


def test_fetched_records_reads_an_empty_partition_set_as_all_and_faust_drops_the_rest() -> None:
    """Why ``return_unwanted`` exists (agents/transport.py): aiokafka drains every partition when
    the set it is given is empty, and Faust's getmany drops (without a seek) the records of a
    partition that is not active or buffer-full when they come back."""
    from aiokafka.consumer.fetcher import Fetcher
    from faust.transport.consumer import Consumer

    fetched = inspect.getsource(Fetcher.fetched_records)
    assert "if partitions and tp not in partitions:" in fetched
    assert "while True:" in fetched  # waits and re-reads the (live) set
    getmany = inspect.getsource(Consumer.getmany)
    assert (
        "or tp in active_partitions" in getmany and "or tp in self._buffered_partitions" in getmany
    )
    thread = inspect.getsource(faust_aiokafka.AIOKafkaConsumerThread._fetch_records)
    assert "fetcher.fetched_records(" in thread and "active_partitions," in thread


def test_faust_drain_loop_is_the_one_the_inline_drain_copies() -> None:
    # agents/transport.py replaces Consumer._drain_messages with a copy whose only change is how
    # a message is delivered; the copy is right only while Faust's loop still looks like this.
    from faust.transport.consumer import Consumer

    source = inspect.getsource(Consumer._drain_messages)
    for step in (
        "getmany(timeout=1.0)",
        "await self._add_gap(tp, r_offset + 1, offset)",
        "await self.commit()",
        "callback(message), self.suspend_flow.wait()",
        "set_read_offset(tp, offset)",
    ):
        assert step in source, step


def test_table_changelog_internals_the_batch_writer_relies_on() -> None:
    # agents/table_writes.py: the store's own encoders and _set, aiokafka's batch interface, and
    # what Faust does with each changelog acknowledgement (done there once per batch)
    from aiokafka import AIOKafkaProducer
    from aiokafka.producer.message_accumulator import BatchBuilder
    from faust.stores.base import SerializedStore, Store
    from faust.tables.base import Collection

    assert {"_encode_key", "_encode_value", "set_persisted_offset"} <= set(dir(Store))
    assert "_set" in SerializedStore.__abstractmethods__
    assert {"create_batch", "send_batch"} <= set(dir(AIOKafkaProducer))
    assert list(inspect.signature(AIOKafkaProducer.send_batch).parameters) == [
        "self",
        "batch",
        "topic",
        "partition",
    ]
    assert {"append", "close"} <= set(dir(BatchBuilder))
    sent = inspect.getsource(Collection._on_changelog_sent)
    assert "persist_offset_on_commit(" in sent and "set_persisted_offset(" in sent
    assert "self.changelog_topic.send_soon(" in inspect.getsource(Collection.send_changelog)
