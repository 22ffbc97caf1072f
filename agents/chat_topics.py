"""Faust topic objects of the composite flow (chat turns, replies, config, bundle adds).

Kept apart from ``agents.topics`` so that the composite wiring can change without touching the
shared module; every object is still declared from the registry via ``faust_topic``.
"""

from __future__ import annotations

import topics as registry

from .topics import faust_topic

chat_turns_topic = faust_topic(registry.CHAT_TURNS)
chat_dlq = faust_topic(registry.CHAT_DLQ)
composite_options_topic = faust_topic(registry.COMPOSITE_OPTIONS)
config_topic = faust_topic(registry.CONFIG)
config_dlq = faust_topic(registry.CONFIG_DLQ)
bundle_adds_topic = faust_topic(registry.BUNDLE_ADDS)
