"""``bundling.embeddings.EmbeddingCache`` over Redis: float32 bytes by content-hash key.

Synchronous on purpose: the engine runs in an upload-pool child and calls it from there, each
child with its own client. One MGET per lookup, one pipelined batch of SETs per store, entries
expire after 30 days unused. A cache outage costs time, never the upload.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import redis as sync_redis

log = logging.getLogger(__name__)

__all__ = ["EMBEDDING_TTL_S", "RedisEmbeddingCache"]

# Embeddings depend only on the product text, so a month-old vector is still right; the TTL
# only drops the vectors of products that left every catalog.
EMBEDDING_TTL_S = 30 * 24 * 3600


class RedisEmbeddingCache:
    def __init__(self, client: sync_redis.Redis, prefix: str, ttl_s: int = EMBEDDING_TTL_S) -> None:
        self.client, self.prefix, self.ttl_s = client, prefix, ttl_s

    def _k(self, key: str) -> str:
        return f"{self.prefix}:{key}"

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        if not keys:
            return {}
        try:
            values = self.client.mget([self._k(k) for k in keys])
        except sync_redis.RedisError as exc:
            log.warning("embedding cache read failed: %s", exc)
            return {}
        return {
            k: np.frombuffer(v, dtype=np.float32).copy()
            for k, v in zip(keys, values)
            if isinstance(v, bytes) and v  # the client returns bytes (no decode_responses)
        }

    def put_many(self, items: Mapping[str, np.ndarray]) -> None:
        if not items:
            return
        try:
            pipe = self.client.pipeline(transaction=False)
            for k, vec in items.items():
                pipe.set(self._k(k), np.asarray(vec, dtype=np.float32).tobytes(), ex=self.ttl_s)
            pipe.execute()
        except sync_redis.RedisError as exc:
            log.warning("embedding cache write failed: %s", exc)
