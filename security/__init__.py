"""API keys, scopes and route policies: pure, broker-free decisions the HTTP layer applies.

Nothing here touches Kafka, Redis or aiohttp, so every rule is unit-tested in milliseconds and
the middleware stays thin wiring.
"""

from .keys import (
    KEY_PREFIX,
    GeneratedKey,
    ParsedKey,
    bearer_token,
    generate_key,
    hash_key,
    hash_matches,
    parse_key,
)
from .policy import (
    NO_KEY,
    UNKNOWN_KEY,
    Access,
    Decision,
    Principal,
    RoutePolicy,
    admin_only,
    chat_route,
    decide,
    guarded,
    open_route,
    policy_of,
    store_route,
)
from .ratelimit import RATE_LIMIT_LUA, retry_after_seconds
from .scopes import ADMIN, GATEWAY, Scope, ScopeError, parse_scope, valid_store_id

__all__ = [n for n in dir() if not n.startswith("_")]
