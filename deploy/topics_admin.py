"""Create (and, for tests, delete) every topic of ``topics.ALL_TOPICS`` with its contract.

Topics are created explicitly because the broker never auto-creates them: Faust requires
co-partitioned inputs, and an auto-created 1-partition topic would break that.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from core.settings import Settings
from deploy.aio import run_sync
from deploy.errors import TopicMismatchError
from topics import ALL_TOPICS, partitions_for

TOPIC_ALREADY_EXISTS = 36
UNKNOWN_TOPIC_OR_PARTITION = 3
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicPlan:
    name: str
    partitions: int
    replication: int
    config: dict[str, str]


def replication_config(settings: Settings) -> dict[str, str]:
    """Topic config every created topic carries, Faust's changelogs included: with acks=all a
    write is only acknowledged once this many replicas have it."""
    return {"min.insync.replicas": str(settings.effective_min_insync_replicas)}


def plan_topics(settings: Settings) -> list[TopicPlan]:
    """The topics ``settings`` needs, as pure data (no broker)."""
    return [
        TopicPlan(
            spec.name(settings.topic_prefix),
            partitions_for(spec, settings.partitions),
            settings.replication_factor,
            {**replication_config(settings), **spec.kafka_config()},
        )
        for spec in ALL_TOPICS
    ]


def _admin(settings: Settings) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=30000)


async def _partition_counts(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    """Partition count per existing topic among ``names`` (missing topics are left out)."""
    counts: dict[str, int] = {}
    for topic in await admin.describe_topics(names):
        if topic["error_code"] == 0:
            counts[topic["topic"]] = len(topic["partitions"])
    return counts


async def ensure_topics_async(settings: Settings, timeout_s: float = 30.0) -> dict[str, str]:
    """Create missing topics, verify existing ones. Returns {topic: "created" | "exists"}.

    A topic that exists with another partition count raises TopicMismatchError naming it:
    co-partitioning would silently break, and Kafka cannot shrink a topic.
    """
    plans = plan_topics(settings)
    admin = _admin(settings)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [p for p in plans if p.name not in existing]
        outcome = {p.name: "exists" for p in plans if p.name in existing}
        if missing:
            response = await admin.create_topics(
                [
                    NewTopic(p.name, p.partitions, p.replication, topic_configs=p.config)
                    for p in missing
                ]
            )
            for item in response.to_object()["topic_errors"]:
                code = item["error_code"]
                if code == 0:
                    outcome[item["topic"]] = "created"
                elif code == TOPIC_ALREADY_EXISTS:  # a concurrent creator won the race
                    outcome[item["topic"]] = "exists"
                else:
                    raise RuntimeError(
                        f"creating topic {item['topic']} failed: error {code} "
                        f"{item.get('error_message') or ''}".strip()
                    )
        names = [p.name for p in plans]
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:  # wait until metadata shows every topic with all its partitions
            counts = await _partition_counts(admin, names)
            wrong = [p for p in plans if p.name in counts and counts[p.name] != p.partitions]
            if wrong:
                raise TopicMismatchError(
                    "; ".join(
                        f"topic {p.name} has {counts[p.name]} partitions, its contract needs {p.partitions} "
                        f"(delete it or change BUNDLESTREAM_PARTITIONS)"
                        for p in wrong
                    )
                )
            if len(counts) == len(plans):
                return outcome
            if asyncio.get_running_loop().time() > deadline:
                absent = sorted(set(names) - set(counts))
                raise RuntimeError(
                    f"topics not visible in metadata after {timeout_s:.0f} s: {absent}"
                )
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


def ensure_topics(settings: Settings) -> dict[str, str]:
    """Synchronous ``ensure_topics_async`` (usable from CLI, fixtures and running loops)."""
    return run_sync(ensure_topics_async(settings))


def _matches(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".") or name.startswith(prefix + "-")


async def delete_topics_async(settings: Settings, prefix: str) -> list[str]:
    """Delete every topic named ``prefix``, ``prefix.*`` or ``prefix-*`` (Faust changelogs)."""
    if not prefix or prefix.startswith("__"):
        raise ValueError(f"refusing to delete topics with prefix {prefix!r}")
    admin = _admin(settings)
    await admin.start()
    try:
        doomed = sorted(t for t in await admin.list_topics() if _matches(t, prefix))
        if doomed:
            response = await admin.delete_topics(doomed)
            for item in response.to_object()["topic_error_codes"]:
                if item["error_code"] not in (0, UNKNOWN_TOPIC_OR_PARTITION):
                    log.warning(
                        "deleting topic %s failed: error %s", item["topic"], item["error_code"]
                    )
        return doomed
    finally:
        await admin.close()


def delete_topics(settings: Settings, prefix: str) -> list[str]:
    return run_sync(delete_topics_async(settings, prefix))


async def describe_topic_configs_async(
    settings: Settings, names: list[str]
) -> dict[str, dict[str, str]]:
    """Effective config of each topic, read back from the broker (used by tests and operators)."""
    admin = _admin(settings)
    await admin.start()
    try:
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        )
        result: dict[str, dict[str, str]] = {}
        for response in responses:
            for resource in response.to_object()["resources"]:
                result[resource["resource_name"]] = {
                    entry["config_names"]: entry["config_value"]
                    for entry in resource["config_entries"]
                }
        return result
    finally:
        await admin.close()


def describe_topic_configs(settings: Settings, names: list[str]) -> dict[str, dict[str, str]]:
    return run_sync(describe_topic_configs_async(settings, names))


def partition_counts(settings: Settings, names: list[str]) -> dict[str, int]:
    async def go() -> dict[str, int]:
        admin = _admin(settings)
        await admin.start()
        try:
            return await _partition_counts(admin, names)
        finally:
            await admin.close()

    return run_sync(go())
