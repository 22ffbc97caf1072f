"""A Kafka transport with a short consumer fetch wait, for low reply latency.

faust-streaming's aiokafka driver hard-codes ``fetch_max_wait_ms=1500``. aiokafka keeps one
fetch request in flight per broker, so when a record arrives on a partition that was not part of
the parked request, it waits until the broker releases that request: up to 1.5 s. Chat replies
then had a p99 of ~1.5 s while the agent itself needed ~2 ms. A short wait costs a few more idle
fetch round trips on loopback and keeps the p99 near the processing time.
"""

from __future__ import annotations

import aiokafka
from faust.transport.drivers import aiokafka as faust_aiokafka

from bundlestream.settings import get_settings


class LowLatencyConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: faust_aiokafka.Transport) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = get_settings().consumer_fetch_max_wait_ms  # read by start()
        return consumer


class LowLatencyConsumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> LowLatencyConsumerThread:
        return LowLatencyConsumerThread(self, loop=self.loop, beacon=self.beacon)


class LowLatencyTransport(faust_aiokafka.Transport):
    Consumer = LowLatencyConsumer
