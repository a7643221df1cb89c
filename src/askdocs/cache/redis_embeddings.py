"""Embedding cache in Redis; same contract as SQLite's.

``emb:v:<model>`` is a hash of chunk vectors by text sha256; ``emb:q:<model>`` holds question
vectors (models named "query:..."), bounded through the ``emb:qlru:<model>`` sorted set by last
use; ``emb:models`` lists the models; ``stats:embeddings`` the counters.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import redis

from askdocs.cache.base import (
    EMBEDDING_LAYERS,
    QUERY_PREFIX,
    BackendHealth,
    CacheStats,
    cache_stats,
)
from askdocs.cache.redis_client import RedisStore, as_bytes, as_text, redact
from askdocs.embed.base import Vectors

_BATCH = 500


class RedisEmbeddingCache:
    """Vectors by (model id, text sha256), shared by every process on the same Redis."""

    backend = "redis"

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "askdocs:",
        max_query_entries: int = 50_000,
        retry_after: float = 1.0,
    ) -> None:
        self._store = RedisStore(url, prefix, retry_after=retry_after)
        self._p = prefix
        self._max_queries = max_query_entries

    @property
    def health(self) -> BackendHealth:
        return self._store.health

    def get_many(self, model: str, digests: Sequence[str]) -> dict[str, Vectors]:
        if not digests:
            return {}
        query = model.startswith(QUERY_PREFIX)
        layer = "queries" if query else "embeddings"

        def read(client: redis.Redis) -> dict[str, Vectors]:
            found: dict[str, Vectors] = {}
            for start in range(0, len(digests), _BATCH):
                part = list(digests[start : start + _BATCH])
                for digest, blob in zip(
                    part, client.hmget(self._vectors(model), part), strict=True
                ):
                    if blob is not None:
                        found[digest] = np.frombuffer(as_bytes(blob), dtype=np.float32)
            pipe = client.pipeline(transaction=False)
            if query and found:
                now = time.time()
                pipe.zadd(self._p + "emb:qlru:" + model, dict.fromkeys(found, now), xx=True)
            pipe.hincrby(self._p + "stats:embeddings", f"{layer}:hits", len(found))
            pipe.hincrby(self._p + "stats:embeddings", f"{layer}:misses", len(digests) - len(found))
            pipe.execute()
            return found

        return self._store.run(read, {})

    def put_many(self, model: str, items: dict[str, Vectors]) -> None:
        if not items:
            return
        rows = {d: np.asarray(v, dtype=np.float32).tobytes() for d, v in items.items()}

        def write(client: redis.Redis) -> None:
            pipe = client.pipeline(transaction=False)
            pipe.sadd(self._p + "emb:models", model)
            names = list(rows)
            for start in range(0, len(names), _BATCH):
                part = {d: rows[d] for d in names[start : start + _BATCH]}
                pipe.hset(self._vectors(model), mapping=part)  # type: ignore[arg-type]
            if model.startswith(QUERY_PREFIX):
                pipe.zadd(self._p + "emb:qlru:" + model, dict.fromkeys(rows, time.time()))
                pipe.zcard(self._p + "emb:qlru:" + model)
                over = int(pipe.execute()[-1]) - self._max_queries
                if over > 0:
                    self._evict_queries(client, model, over)
                return
            pipe.execute()

        self._store.run(write, None)

    def count(self) -> int:
        return sum(n for n, _ in self._sizes().values())

    def stats(self) -> CacheStats:
        health = self._store.health
        self._store.flush_health(self._p + "stats:embeddings")
        sizes = self._sizes()
        counters = self._store.run(lambda c: c.hgetall(self._p + "stats:embeddings"), None)
        read_back = None
        if counters is not None:
            named = {as_text(k): int(v) for k, v in counters.items()}
            entries = sum(n for n, _ in sizes.values())
            read_back = (entries, sum(n * width for n, width in sizes.values()), named)
        return cache_stats("redis", redact(self._store.url), read_back, EMBEDDING_LAYERS, health)

    def close(self) -> None:
        self._store.client.close()

    def clear(self, *, queries_only: bool = False, reset_stats: bool = False) -> int:
        sizes = self._sizes()
        removed = sum(n for m, (n, _) in sizes.items() if m.startswith(QUERY_PREFIX))
        self._store.delete_prefix(self._p + "emb:q")
        if not queries_only:
            removed = sum(n for n, _ in sizes.values())
            self._store.delete_prefix(self._p + "emb:")
        if reset_stats:
            self._store.run(lambda c: c.delete(self._p + "stats:embeddings"), 0)
        return removed

    def _vectors(self, model: str) -> str:
        kind = "q" if model.startswith(QUERY_PREFIX) else "v"
        return f"{self._p}emb:{kind}:{model}"

    def _evict_queries(self, client: redis.Redis, model: str, over: int) -> None:
        # ZPOPMIN hands each victim to one caller only, so concurrent writers never double-count.
        popped: Any = client.zpopmin(self._p + "emb:qlru:" + model, over)
        victims = [m for m, _ in popped]
        if victims:
            client.hdel(self._vectors(model), *victims)
            client.hincrby(self._p + "stats:embeddings", "queries:evictions", len(victims))

    def _sizes(self) -> dict[str, tuple[int, int]]:
        """Per model: (vectors held, bytes of one vector)."""

        def read(client: redis.Redis) -> dict[str, tuple[int, int]]:
            out: dict[str, tuple[int, int]] = {}
            for raw in client.smembers(self._p + "emb:models"):
                model = as_text(raw)
                name = self._vectors(model)
                n = int(client.hlen(name))
                sample: Any = client.hrandfield(name, 1, withvalues=True) if n else []
                out[model] = (n, len(sample[1]) if len(sample) > 1 else 0)
            return out

        return self._store.run(read, {})
