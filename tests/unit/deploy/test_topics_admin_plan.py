"""The topic plan that ``bundlestream topics create`` applies, derived from topics.ALL_TOPICS."""

from __future__ import annotations

from core.settings import Settings
from deploy.topics_admin import _matches, plan_topics
from topics import ALL_TOPICS, CONFIG, ORDERS


def test_plan_covers_every_topic_with_prefix() -> None:
    plans = plan_topics(Settings(topic_prefix="px", partitions=5, replication_factor=1))
    assert [p.name for p in plans] == [spec.name("px") for spec in ALL_TOPICS]
    by_name = {p.name: p for p in plans}
    assert by_name[ORDERS.name("px")].partitions == 5
    assert by_name[CONFIG.name("px")].partitions == 1
    assert by_name[CONFIG.name("px")].config["cleanup.policy"] == "compact"
    assert by_name[ORDERS.name("px")].config["cleanup.policy"] == "delete"
    assert all(p.replication == 1 for p in plans)


def test_delete_prefix_matching_is_exact_on_separators() -> None:
    assert _matches("tabc.orders", "tabc")
    assert _matches("appabc-sold_counts-changelog", "appabc")
    assert not _matches("tabcdef.orders", "tabc")
    assert not _matches("bundlestream.orders", "tabc")
