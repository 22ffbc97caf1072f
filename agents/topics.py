"""Faust topic objects, declared from the topic registry (``topics``), never by name by hand."""

from __future__ import annotations

import faust

import topics as registry
from topics import TopicSpec

from .app import app, settings


def faust_topic(spec: TopicSpec) -> faust.TopicT:
    return app.topic(
        spec.name(settings.topic_prefix),
        key_serializer="raw",
        value_serializer="raw",
        partitions=registry.partitions_for(spec, settings.partitions),
        internal=False,  # created by `bundlestream topics create`, with the registry's config
    )


orders_topic = faust_topic(registry.ORDERS)
orders_dlq = faust_topic(registry.ORDERS_DLQ)
