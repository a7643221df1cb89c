"""Answer cache in Redis, for replicas that share one cache; same contract as SQLite's.

Layout under the prefix (``askdocs:`` by default, so ``clear`` removes only ours):
``ans:e:<key>`` a hash per entry; ``ans:lru`` and ``ans:created`` sorted sets by last use and
by creation; ``ans:doc:<document id>`` the keys that quoted a document; ``ans:sem:<scope>`` the
question vectors of a scope and ``ans:semver:<scope>`` their version (a number from ``semgen``,
which ``clear`` keeps, so a version never repeats); ``ans:bytes`` the running size;
``stats:answers`` the counters.
Writes that touch several of them run as Lua scripts, so concurrent replicas never see (or
leave) half an entry. Keys are built inside the scripts, which suits one Redis server, not a
Redis Cluster.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import redis

from askdocs.cache.base import (
    ANSWER_LAYERS,
    BackendHealth,
    CachedAnswer,
    CacheStats,
    Layer,
    PassageKey,
    cache_stats,
)
from askdocs.cache.records import (
    decode_entry,
    encode_answer,
    encode_passages,
    encode_versions,
    entry_size,
)
from askdocs.cache.redis_client import RedisStore, as_bytes, as_text, redact
from askdocs.cache.semantic import ScopeVectors
from askdocs.embed.base import Vectors
from askdocs.models import Answer

_DROP = r"""
local P = ARGV[1]
-- Every change to a scope's vectors gives it a new version (from a counter clear() keeps).
local function bump(scope)
  redis.call('SET', P .. 'ans:semver:' .. scope, redis.call('INCR', P .. 'semgen'))
end
local function drop(k)
  local e = P .. 'ans:e:' .. k
  local f = redis.call('HMGET', e, 'd', 's', 'z', 'h')
  redis.call('ZREM', P .. 'ans:lru', k)
  redis.call('ZREM', P .. 'ans:created', k)
  if not f[3] then return 0, 0 end
  if f[1] then
    for doc in string.gmatch(f[1], '[^\n]+') do redis.call('SREM', P .. 'ans:doc:' .. doc, k) end
  end
  local had = 0
  if f[4] == '1' then
    had = redis.call('HDEL', P .. 'ans:sem:' .. f[2], k)
    if had == 1 then bump(f[2]) end
  end
  redis.call('DEL', e)
  redis.call('DECRBY', P .. 'ans:bytes', tonumber(f[3]))
  return 1, had
end
local stats = P .. 'stats:answers'
"""
_PUT = (
    _DROP
    + r"""
local key, now = ARGV[2], tonumber(ARGV[10])
drop(key)
local hasvec = '0'
if ARGV[8] ~= '' then hasvec = '1' end
redis.call('HSET', P .. 'ans:e:' .. key, 'a', ARGV[3], 'p', ARGV[4], 'v', ARGV[5], 's', ARGV[6],
  'd', ARGV[7], 'z', ARGV[9], 'c', ARGV[10], 'h', hasvec)
redis.call('ZADD', P .. 'ans:lru', now, key)
redis.call('ZADD', P .. 'ans:created', now, key)
for doc in string.gmatch(ARGV[7], '[^\n]+') do redis.call('SADD', P .. 'ans:doc:' .. doc, key) end
if hasvec == '1' then
  redis.call('HSET', P .. 'ans:sem:' .. ARGV[6], key, ARGV[8])
  bump(ARGV[6])
end
redis.call('INCRBY', P .. 'ans:bytes', tonumber(ARGV[9]))
local ttl = tonumber(ARGV[13])
if ttl > 0 then
  local expired = 0
  for _, k in ipairs(redis.call('ZRANGEBYSCORE', P .. 'ans:created', '-inf', '(' .. (now - ttl))) do
    expired = expired + drop(k)
  end
  if expired > 0 then redis.call('HINCRBY', stats, 'exact:expired', expired) end
end
local max_entries, max_bytes = tonumber(ARGV[11]), tonumber(ARGV[12])
local evicted, with_vectors = 0, 0
while true do
  local count = redis.call('ZCARD', P .. 'ans:lru')
  local size = tonumber(redis.call('GET', P .. 'ans:bytes') or '0')
  if count == 0 then redis.call('SET', P .. 'ans:bytes', 0) break end
  if count <= max_entries and size <= max_bytes then break end
  local d, h = drop(redis.call('ZRANGE', P .. 'ans:lru', 0, 0)[1])
  evicted, with_vectors = evicted + d, with_vectors + h
end
if evicted > 0 then
  redis.call('HINCRBY', stats, 'exact:evictions', evicted)
  redis.call('HINCRBY', stats, 'semantic:evictions', with_vectors)
end
return evicted
"""
)
_TOUCH = r"""
local P, key = ARGV[1], ARGV[2]
if redis.call('EXISTS', P .. 'ans:e:' .. key) == 1 then
  redis.call('HSET', P .. 'ans:e:' .. key, 'v', ARGV[3])
  redis.call('ZADD', P .. 'ans:lru', 'XX', ARGV[4], key)
end
redis.call('HINCRBY', P .. 'stats:answers', ARGV[5] .. ':hits', 1)
"""
_EXPIRE = (
    _DROP
    + r"""
local created = redis.call('ZSCORE', P .. 'ans:created', ARGV[2])
if created and tonumber(created) < tonumber(ARGV[3]) then
  local d = drop(ARGV[2])
  redis.call('HINCRBY', stats, 'exact:expired', d)
  return d
end
return 0
"""
)
_PURGE = (
    _DROP
    + r"""
local purged = 0
for i = 2, #ARGV do
  for _, k in ipairs(redis.call('SMEMBERS', P .. 'ans:doc:' .. ARGV[i])) do
    purged = purged + drop(k)
  end
  redis.call('DEL', P .. 'ans:doc:' .. ARGV[i])
end
return purged
"""
)


class RedisAnswerCache:
    """Answers shared by every process that points at the same Redis and prefix."""

    backend = "redis"

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "askdocs:",
        max_entries: int = 10_000,
        max_bytes: int = 256 * 1024 * 1024,
        ttl_seconds: float | None = None,
        retry_after: float = 1.0,
    ) -> None:
        self._store = RedisStore(url, prefix, retry_after=retry_after)
        self._p = prefix
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._ttl = ttl_seconds
        self._vectors = ScopeVectors()
        client = self._store.client
        self._put = client.register_script(_PUT)
        self._touch = client.register_script(_TOUCH)
        self._expire = client.register_script(_EXPIRE)
        self._purge = client.register_script(_PURGE)

    @property
    def health(self) -> BackendHealth:
        return self._store.health

    def get(self, key: str) -> CachedAnswer | None:
        fields = self._store.run(
            lambda c: c.hmget(self._p + "ans:e:" + key, ["a", "p", "v", "c"]), None
        )
        if not fields or fields[0] is None or fields[1] is None or fields[2] is None:
            return None
        if self._ttl is not None and float(fields[3] or 0) < time.time() - self._ttl:
            cutoff = time.time() - self._ttl
            self._store.run(lambda c: self._expire(args=[self._p, key, cutoff], client=c), 0)
            return None
        return decode_entry(fields[0], fields[1], fields[2])

    def put(
        self,
        key: str,
        answer: Answer,
        passages: list[PassageKey],
        versions: tuple[int, int],
        *,
        scope: str = "",
        vector: Vectors | None = None,
    ) -> None:
        answer_json, passages_json = encode_answer(answer), encode_passages(passages)
        blob = b"" if vector is None else np.asarray(vector, dtype=np.float32).tobytes()
        size = entry_size(key, answer_json, passages_json, len(blob))
        args: list[str | bytes | float | int] = [
            self._p,
            key,
            answer_json,
            passages_json,
            encode_versions(versions),
            scope,
            "\n".join(sorted({d for d, _ in passages})),
            blob,
            size,
            time.time(),
            self._max_entries,
            self._max_bytes,
            self._ttl or 0,
        ]
        self._store.run(lambda c: self._put(args=args, client=c), 0)

    def touch(self, key: str, versions: tuple[int, int], *, layer: Layer = "exact") -> None:
        args: list[str | float] = [self._p, key, encode_versions(versions), time.time(), layer]
        self._store.run(lambda c: self._touch(args=args, client=c), None)

    def similar(
        self, scope: str, vector: Vectors, threshold: float, limit: int = 3
    ) -> list[tuple[str, float]]:
        def search(client: redis.Redis) -> list[tuple[str, float]]:
            version = client.get(self._p + "ans:semver:" + scope)

            def load() -> list[tuple[str, bytes]]:
                found = client.hgetall(self._p + "ans:sem:" + scope)
                return [(as_text(k), as_bytes(v)) for k, v in found.items()]

            return self._vectors.search(scope, version, load, vector, threshold, limit)

        return self._store.run(search, [])

    def record(self, counts: Mapping[str, int]) -> None:
        counts = {name: n for name, n in counts.items() if n}
        if not counts:
            return

        def write(client: redis.Redis) -> None:
            pipe = client.pipeline(transaction=False)
            for name, n in counts.items():
                pipe.hincrby(self._p + "stats:answers", name, n)
            pipe.execute()

        self._store.run(write, None)

    def purge_documents(self, document_ids: Sequence[str]) -> int:
        if not document_ids:
            return 0
        args = [self._p, *document_ids]
        return int(self._store.run(lambda c: self._purge(args=args, client=c), 0))

    def count(self) -> int:
        return int(self._store.run(lambda c: c.zcard(self._p + "ans:lru"), 0))

    def stats(self) -> CacheStats:
        health = self._store.health
        self._store.flush_health(self._p + "stats:answers")

        def read(client: redis.Redis) -> list[Any]:
            pipe = client.pipeline(transaction=False)
            pipe.zcard(self._p + "ans:lru")
            pipe.get(self._p + "ans:bytes")
            pipe.hgetall(self._p + "stats:answers")
            return list(pipe.execute())

        found = self._store.run(read, None)
        read_back = None
        if found is not None:
            counters = {as_text(k): int(v) for k, v in found[2].items()}
            read_back = (int(found[0]), int(found[1] or 0), counters)
        return cache_stats("redis", redact(self._store.url), read_back, ANSWER_LAYERS, health)

    def close(self) -> None:
        self._store.client.close()

    def clear(self, *, reset_stats: bool = False) -> int:
        entries = self.count()
        self._store.delete_prefix(self._p + "ans:")
        if reset_stats:
            self._store.run(lambda c: c.delete(self._p + "stats:answers"), 0)
        return entries
