"""The Faust app: one per worker process, configured from Settings.

Every agent module registers on this app; ``agents.worker`` imports them all. Input topics carry
raw bytes (``value_serializer="raw"``) so that a record that does not decode reaches the
dead-letter topic byte for byte instead of crashing the agent in Faust's codec layer.
"""

from __future__ import annotations

import faust
from faust.sensors.prometheus import setup_prometheus_sensors
from faust.types.web import ResourceOptions

from core.settings import get_settings

from . import batched_metrics
from .stores import register as register_rocksdb_store

settings = get_settings()
register_rocksdb_store()


def cors_options() -> dict[str, ResourceOptions]:
    """Per-origin CORS for the configured origins only (closed when the setting is empty).

    Keys travel in the Authorization header, never cookies, so credentials stay off; the
    browser may read Retry-After on a 429.
    """
    return {
        origin: ResourceOptions(
            allow_credentials=False,
            expose_headers=("Retry-After",),
            allow_headers=("Authorization", "Content-Type"),
            allow_methods=("GET", "POST", "PUT", "DELETE"),
            max_age=600,
        )
        for origin in settings.cors_allowed_origins
    }


class BundlestreamApp(faust.App):
    """faust.App with the low-latency consumer transport (see ``agents.transport``)."""

    def _new_transport(self) -> faust.types.TransportT:
        from .transport import LowLatencyTransport

        return LowLatencyTransport(self.conf.broker_consumer, self)


app = BundlestreamApp(
    settings.app_id,
    broker=[f"kafka://{hp.strip()}" for hp in settings.kafka_bootstrap.split(",")],
    # RocksDB keeps each table partition and the changelog offset it holds on local disk, so a
    # restart reads only the changelog tail; standbys keep the other workers' partitions warm.
    store=settings.table_store,
    datadir=str(settings.worker_data_dir()),
    table_standby_replicas=settings.table_standby_replicas,
    topic_partitions=settings.partitions,
    topic_replication_factor=settings.replication_factor,
    topic_disable_leader=True,
    key_serializer="raw",
    value_serializer="raw",
    web_host=settings.web_host,
    web_port=settings.web_port,
    web_in_thread=False,
    web_cors_options=cors_options(),
    # Faust's /router and /table pages would show table contents to anyone: not served.
    web_router_enabled=False,
    web_tables_enabled=False,
    consumer_auto_offset_reset="earliest",
    # Throughput levers (see bench/ingest_bench.py): big fetches, batched commits, lingering producer.
    consumer_max_fetch_size=8 * 1024 * 1024,
    stream_buffer_maxsize=max(4096, settings.batch_size * 2),
    broker_commit_every=max(10_000, settings.batch_size * 4),
    broker_commit_interval=1.0,
    producer_linger_ms=5,
    producer_max_batch_size=1024 * 1024,
    producer_acks=-1,
    table_cleanup_interval=60.0,
    # A killed worker's partitions move after the session timeout, not Faust's default 60 s.
    broker_session_timeout=10.0,
    broker_heartbeat_interval=3.0,
    # A recovery from an empty disk reads changelogs for longer than Faust's 1000 s on a big
    # history; past that the consumer left the group mid-recovery and never finished.
    broker_max_poll_interval=settings.consumer_max_poll_interval_s,
    # A changelog topic the worker created a moment before subscribing can be missing from the
    # consumer's first metadata on a busy broker ("0 partitions") until the next refresh: 5 minutes
    # by default. Our Table class does not count that as a partition mismatch (agents/stores.py).
    consumer_metadata_max_age_ms=5_000,
    Table="agents.stores:Table",
)


setup_prometheus_sensors(app, pattern="/metrics", name_prefix=settings.app_id)
batched_metrics.install(app)
