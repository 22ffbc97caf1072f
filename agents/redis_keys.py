"""Every Redis key the project writes: its prefix, type, and its TTL or its documented bound.

Redis is a read model and a cache, never the truth, so nothing in it may grow without a limit
that someone wrote down. A key either expires (``ttl_s``) or is bounded by something that is
itself bounded or owned by an operator (products of a store, API keys, a setting). Writers build
their keys through ``RedisKey.key`` and take their TTL from here; ``bundlestream docs`` renders
this registry into the README, and the integration suite scans a real Redis after the demo flow
and fails on any prefix that is not listed here or breaks its bound.

Broker-free on purpose: the docs generator and unit tests import it without a Faust app.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from bundling.redis_embeddings import EMBEDDING_TTL_S
from webhooks.shopify import WEBHOOK_DEDUPE_TTL_S


class Per(str, Enum):
    """What one key stands for: how the number of keys is bounded."""

    STORE = "one per store"
    STORE_CATEGORY = "one per (store, category)"
    SINGLE = "one key"
    EXPIRING = "one per id, each expires"


class Members(str, Enum):
    """What bounds the size of one key (members of a zset/hash, entries of a list)."""

    PRODUCTS_OF_STORE = "products sold in the store"
    PRODUCTS_OF_CATEGORY = "products sold in the store in that category"
    CATEGORIES_OF_STORE = "categories sold in the store"
    ATTACHED_PRODUCTS = "products added in bundles, at most `attach_stats_max_per_store`"
    API_KEYS = "API key ids in the api-keys registry"
    LIST_CAP = "a capped list"
    ONE_VALUE = "one value"


@dataclass(frozen=True)
class RedisKey:
    """One key family: ``<topic_prefix>:<name>:<part>...``."""

    name: str
    parts: tuple[str, ...]
    kind: str  # string | hash | zset | list
    per: Per
    members: Members
    written_by: str
    rebuilt_from: str  # where the value comes back from when Redis lost it
    ttl_s: int | None = None  # every key of the family expires within this many seconds
    max_entries: int | None = None  # LIST_CAP: entries kept

    def key(self, prefix: str, *parts: str) -> str:
        if len(parts) != len(self.parts):
            raise ValueError(
                f"redis key {self.name!r} takes {len(self.parts)} parts {self.parts}, got {len(parts)}"
            )
        return ":".join((prefix, self.name, *parts))

    @property
    def pattern(self) -> str:
        return ":".join(("<prefix>", self.name, *(f"<{p}>" for p in self.parts)))

    def bound_text(self) -> str:
        if self.ttl_s is not None:
            return f"TTL {_duration(self.ttl_s)}"
        return f"{self.per.value}; size: {self.members.value}"


DAY_S = 24 * 3600

# Chat replies for the demo page's polling (the composite-options topic is the contract).
REPLIES_KEPT = 50
REPLIES_TTL_S = 1 * DAY_S
SESSION_TTL_S = 7 * DAY_S
UPLOAD_STATUS_TTL_S = 7 * DAY_S
BUNDLE_TTL_S = 30 * DAY_S
# The rate limiter's state lives one period (60 s) plus 1 s past the last admitted request.
RATE_LIMIT_TTL_S = 61
# A config version claim expires so a publish that failed after claiming cannot wedge a scope.
CONFIG_CLAIM_TTL_S = 30

POPULARITY = RedisKey(
    "pop",
    ("store",),
    "zset",
    Per.STORE,
    Members.PRODUCTS_OF_STORE,
    "orders agent",
    "sold-counts table",
)
UNITS = RedisKey(
    "units",
    ("store",),
    "zset",
    Per.STORE,
    Members.PRODUCTS_OF_STORE,
    "orders agent",
    "sold-counts table",
)
POPULARITY_BY_CATEGORY = RedisKey(
    "popcat",
    ("store", "category"),
    "zset",
    Per.STORE_CATEGORY,
    Members.PRODUCTS_OF_CATEGORY,
    "orders agent",
    "sold-counts + product-labels tables",
)
PRODUCT_CATEGORIES = RedisKey(
    "prodcat",
    ("store",),
    "hash",
    Per.STORE,
    Members.PRODUCTS_OF_STORE,
    "orders agent",
    "product-labels table",
)
TITLES = RedisKey(
    "titles",
    ("store",),
    "hash",
    Per.STORE,
    Members.PRODUCTS_OF_STORE,
    "orders agent",
    "product-labels table",
)
CATEGORY_TRANSACTIONS = RedisKey(
    "cattx",
    ("store",),
    "hash",
    Per.STORE,
    Members.CATEGORIES_OF_STORE,
    "orders agent",
    "category-transactions table",
)
STORE_ORDERS = RedisKey(
    "orders",
    ("store",),
    "string",
    Per.STORE,
    Members.ONE_VALUE,
    "orders agent",
    "store-orders table",
)
ATTACH_STATS = RedisKey(
    "attach",
    ("store",),
    "zset",
    Per.STORE,
    Members.ATTACHED_PRODUCTS,
    "bundle-attach-stats agent",
    "bundle-attach-stats table",
)
LATEST_BUNDLE_SET = RedisKey(
    "bundles",
    ("store",),
    "string",
    Per.STORE,
    Members.ONE_VALUE,
    "uploads agent",
    "retried while the worker runs (bundle-sets topic holds every set)",
)
CATALOG = RedisKey(
    "catalog",
    ("store",),
    "string",
    Per.STORE,
    Members.ONE_VALUE,
    "uploads agent",
    "retried while the worker runs (catalog-refs table holds the reference)",
)
KEYS_LAST_USED = RedisKey(
    "keys-last-used",
    (),
    "hash",
    Per.SINGLE,
    Members.API_KEYS,
    "HTTP middleware",
    "next use of each key",
)
UPLOAD_STATUS = RedisKey(
    "upload",
    ("upload_id",),
    "string",
    Per.EXPIRING,
    Members.ONE_VALUE,
    "uploads view and agent",
    "retried while the worker runs",
    ttl_s=UPLOAD_STATUS_TTL_S,
)
BUNDLE = RedisKey(
    "bundle",
    ("bundle_id",),
    "string",
    Per.EXPIRING,
    Members.ONE_VALUE,
    "bulk add view",
    "none: the truth of a bundle (bundle-adds topic holds every add)",
    ttl_s=BUNDLE_TTL_S,
)
SESSION_STORE = RedisKey(
    "session-store",
    ("session_id",),
    "string",
    Per.EXPIRING,
    Members.ONE_VALUE,
    "chat view and agent",
    "next chat turn",
    ttl_s=SESSION_TTL_S,
)
REPLIES = RedisKey(
    "replies",
    ("session_id",),
    "list",
    Per.EXPIRING,
    Members.LIST_CAP,
    "chat agent",
    "retried while the worker runs (composite-options topic)",
    ttl_s=REPLIES_TTL_S,
    max_entries=REPLIES_KEPT,
)
REPLIES_SEQ = RedisKey(
    "replies-seq",
    ("session_id",),
    "string",
    Per.EXPIRING,
    Members.ONE_VALUE,
    "chat agent",
    "next reply",
    ttl_s=REPLIES_TTL_S,
)
WEBHOOK_SEEN = RedisKey(
    "once",
    ("kind", "store", "event_id"),
    "string",
    Per.EXPIRING,
    Members.ONE_VALUE,
    "webhook view",
    "none: a redelivery past it is deduplicated by order id",
    ttl_s=WEBHOOK_DEDUPE_TTL_S,
)
RATE_LIMIT = RedisKey(
    "ratelimit",
    ("bucket", "key_id"),
    "string",
    Per.EXPIRING,
    Members.ONE_VALUE,
    "HTTP middleware",
    "none: a lost state admits one more burst",
    ttl_s=RATE_LIMIT_TTL_S,
)
CONFIG_VERSION = RedisKey(
    "config-version",
    ("scope",),
    "string",
    Per.EXPIRING,
    Members.ONE_VALUE,
    "config view",
    "the config topic (version floor)",
    ttl_s=CONFIG_CLAIM_TTL_S,
)
BUNDLE_PERFORMANCE = RedisKey(
    "perf",
    ("store",),
    "string",
    Per.STORE,
    Members.ONE_VALUE,
    "orders agent",
    "bundle-performance table (rewritten after a restart, a rebalance or an outage)",
)
EMBEDDINGS = RedisKey(
    "emb",
    ("cache_key",),
    "string",
    Per.EXPIRING,
    Members.ONE_VALUE,
    "upload pool (engine)",
    "recomputed on a miss",
    ttl_s=EMBEDDING_TTL_S,
)

REGISTRY: tuple[RedisKey, ...] = (
    POPULARITY,
    UNITS,
    POPULARITY_BY_CATEGORY,
    PRODUCT_CATEGORIES,
    TITLES,
    CATEGORY_TRANSACTIONS,
    STORE_ORDERS,
    ATTACH_STATS,
    LATEST_BUNDLE_SET,
    CATALOG,
    KEYS_LAST_USED,
    UPLOAD_STATUS,
    BUNDLE,
    SESSION_STORE,
    REPLIES,
    REPLIES_SEQ,
    WEBHOOK_SEEN,
    RATE_LIMIT,
    CONFIG_VERSION,
    EMBEDDINGS,
    BUNDLE_PERFORMANCE,
)
BY_NAME: dict[str, RedisKey] = {spec.name: spec for spec in REGISTRY}


def spec_named(name: str) -> RedisKey:
    """The registered family ``name``; an unregistered one is a programming error, raised at once."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(
            f"redis key family {name!r} is not in agents.redis_keys.REGISTRY"
        ) from None


def family_of(prefix: str, key: str) -> RedisKey | None:
    """Which registered family a key found in Redis belongs to (None: unknown, a bug or a leak)."""
    head = f"{prefix}:"
    if not key.startswith(head):
        return None
    rest = key[len(head) :]
    name = rest.split(":", 1)[0]
    spec = BY_NAME.get(name)
    if spec is None:
        return None
    if not spec.parts:
        return spec if rest == name else None
    # ids never contain ':' (SafeId), but a category name may, so the last part takes the rest
    return spec if rest.count(":") >= len(spec.parts) else None


def key_parts(prefix: str, key: str, spec: RedisKey) -> list[str]:
    rest = key[len(prefix) + 1 + len(spec.name) :].lstrip(":")
    if not spec.parts:
        return []
    return rest.split(":", len(spec.parts) - 1)


def _duration(seconds: int) -> str:
    if seconds % DAY_S == 0:
        days = seconds // DAY_S
        return f"{days} day" + ("s" if days != 1 else "")
    return f"{seconds} s"


def keys_table() -> str:
    """The README's table of key families (generated; see ``bundlestream.docs``)."""
    rows = [
        "| key | type | TTL or bound | written by | after a Redis loss, comes back from |",
        "|---|---|---|---|---|",
    ]
    for spec in REGISTRY:
        bound = spec.bound_text()
        if spec.max_entries:
            bound += f", at most {spec.max_entries} entries"
        rows.append(
            f"| `{spec.pattern}` | {spec.kind} | {bound} | {spec.written_by} | {spec.rebuilt_from} |"
        )
    return "\n".join(rows)
