"""Every topic bundlestream reads or writes: name, key, value schema, partitions, compaction, DLQ.

This module is the single source of truth for topic contracts. The Faust app declares its topics
from it, ``bundlestream topics create`` creates them (topics are never auto-created: a broker's
default partition count would break co-partitioning), and the AsyncAPI document and the README's
topic table are generated from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel

from models import (
    ApiKeyRecord,
    BundleAdded,
    BundleSet,
    ChatTurn,
    CompositeReply,
    ConfigDocument,
    DeadLetter,
    GenerationMetrics,
    OrderEvent,
    UploadEvent,
)
from models.inventory import InventoryEvent

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    """A topic contract. ``suffix`` is appended to the configured prefix to make the name."""

    suffix: str
    key: str
    value: type[BaseModel]
    direction: Literal["input", "output", "dead-letter"]
    summary: str
    compacted: bool = False
    retention_ms: int | None = 7 * DAY_MS
    keyed_partitions: bool = True
    dead_letter: str | None = None
    producers: tuple[str, ...] = ()
    consumers: tuple[str, ...] = ()
    extra_config: dict[str, str] = field(default_factory=dict)

    def name(self, prefix: str) -> str:
        return f"{prefix}.{self.suffix}"

    def kafka_config(self) -> dict[str, str]:
        cfg = {"cleanup.policy": "compact" if self.compacted else "delete"}
        if self.retention_ms is not None and not self.compacted:
            cfg["retention.ms"] = str(self.retention_ms)
        cfg.update(self.extra_config)
        return cfg


ORDERS_DLQ = TopicSpec(
    "dead-letters.orders",
    key="source key (raw)",
    value=DeadLetter,
    direction="dead-letter",
    summary="Order events that did not decode or validate, with raw bytes and reason.",
    retention_ms=30 * DAY_MS,
    producers=("orders agent",),
    consumers=("operators",),
)
UPLOADS_DLQ = TopicSpec(
    "dead-letters.uploads",
    key="source key (raw)",
    value=DeadLetter,
    direction="dead-letter",
    summary="Uploads that did not decode, validate or parse into anything usable.",
    retention_ms=30 * DAY_MS,
    producers=("uploads agent",),
    consumers=("operators",),
)
CHAT_DLQ = TopicSpec(
    "dead-letters.chat-turns",
    key="source key (raw)",
    value=DeadLetter,
    direction="dead-letter",
    summary="Chat turns that did not decode or validate.",
    retention_ms=30 * DAY_MS,
    producers=("chat agent",),
    consumers=("operators",),
)
CONFIG_DLQ = TopicSpec(
    "dead-letters.config",
    key="source key (raw)",
    value=DeadLetter,
    direction="dead-letter",
    summary="Config documents that failed validation (never applied).",
    retention_ms=30 * DAY_MS,
    keyed_partitions=False,
    producers=("config agent",),
    consumers=("operators",),
)
INVENTORY_DLQ = TopicSpec(
    "dead-letters.inventory",
    key="source key (raw)",
    value=DeadLetter,
    direction="dead-letter",
    summary="Stock level records that did not decode or validate, with raw bytes and reason.",
    retention_ms=30 * DAY_MS,
    producers=("stock agent",),
    consumers=("operators",),
)

ORDERS = TopicSpec(
    "orders",
    key="store_id",
    value=OrderEvent,
    direction="input",
    summary="Orders from webhooks, the API or replayed history; feed sold counts and category tallies.",
    dead_letter=ORDERS_DLQ.suffix,
    producers=("webhook receiver", "bundlestream publish orders"),
    consumers=("orders agent",),
)
UPLOADS = TopicSpec(
    "uploads",
    key="store_id",
    value=UploadEvent,
    direction="input",
    summary="Store uploads (catalog + order history, inline or by URI); each yields one bundle set.",
    dead_letter=UPLOADS_DLQ.suffix,
    producers=("POST /api/v1/uploads", "bundlestream publish upload"),
    consumers=("uploads agent",),
)
INVENTORY = TopicSpec(
    "inventory",
    key="store_id",
    value=InventoryEvent,
    direction="input",
    summary="Stock levels from inventory webhooks or a store's JSON; re-gate the published bundles.",
    dead_letter=INVENTORY_DLQ.suffix,
    producers=("POST /api/v1/webhooks/inventory", "POST /api/v1/stores/{store}/inventory"),
    consumers=("stock agent",),
)
CHAT_TURNS = TopicSpec(
    "chat-turns",
    key="store_id",
    value=ChatTurn,
    direction="input",
    summary="Shopper chat turns; keyed by store so sessions meet their store's catalog and counts.",
    dead_letter=CHAT_DLQ.suffix,
    producers=("chat gateway", "POST /api/v1/chat/turns"),
    consumers=("chat agent",),
)
CONFIG = TopicSpec(
    "config",
    key="scope",
    value=ConfigDocument,
    direction="input",
    compacted=True,
    retention_ms=None,
    keyed_partitions=False,
    summary="Platform config and prompts; latest document per scope wins; read by every worker.",
    dead_letter=CONFIG_DLQ.suffix,
    producers=("PUT /api/v1/config",),
    consumers=("config table (global)",),
)
API_KEYS = TopicSpec(
    "api-keys",
    key="key_id",
    value=ApiKeyRecord,
    direction="input",
    compacted=True,
    retention_ms=None,
    keyed_partitions=False,
    summary="API keys (hash and scope only); latest record per key id wins; read by every worker.",
    producers=("bundlestream keys", "POST/DELETE /api/v1/keys"),
    consumers=("key registry (every worker)",),
)
BUNDLE_SETS = TopicSpec(
    "bundle-sets",
    key="store_id",
    value=BundleSet,
    direction="output",
    summary="One bundle set per upload, latest per store is the storefront's answer.",
    compacted=True,
    retention_ms=None,
    producers=("uploads agent", "stock agent"),
    consumers=("storefronts", "read model"),
)
COMPOSITE_OPTIONS = TopicSpec(
    "composite-options",
    key="session_id",
    value=CompositeReply,
    direction="output",
    summary="Probing questions or 2-4 composite bundle options with an experience card, per chat turn.",
    producers=("chat agent",),
    consumers=("chat gateway", "read model"),
)
BUNDLE_ADDS = TopicSpec(
    "bundle-adds",
    key="bundle_id",
    value=BundleAdded,
    direction="output",
    summary="Every successful bulk add (created or extended bundle).",
    producers=("POST /api/v1/bundle/add-bulk",),
    consumers=("analytics", "attach statistics"),
)
GENERATION_METRICS = TopicSpec(
    "generation-metrics",
    key="store_id",
    value=GenerationMetrics,
    direction="output",
    summary="How one upload was generated (objectives, budget, combos, gates, MMR), one per upload.",
    retention_ms=30 * DAY_MS,
    producers=("uploads agent",),
    consumers=("analytics", "operators"),
)

ALL_TOPICS: tuple[TopicSpec, ...] = (
    ORDERS,
    UPLOADS,
    CHAT_TURNS,
    CONFIG,
    API_KEYS,
    BUNDLE_SETS,
    COMPOSITE_OPTIONS,
    BUNDLE_ADDS,
    GENERATION_METRICS,
    ORDERS_DLQ,
    UPLOADS_DLQ,
    CHAT_DLQ,
    CONFIG_DLQ,
    INVENTORY,
    INVENTORY_DLQ,
)


def partitions_for(spec: TopicSpec, default_partitions: int) -> int:
    """Keyed topics share one partition count (co-partitioning); config and api-keys have one partition."""
    return default_partitions if spec.keyed_partitions else 1
