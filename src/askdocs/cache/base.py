"""The cache contracts: one AnswerCache and one EmbeddingCache protocol, two backends each
(SQLite in the data dir, Redis when replicas share), and the records they exchange."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from askdocs.embed.base import Vectors
from askdocs.models import Answer

log = logging.getLogger("askdocs.cache")

PassageKey = tuple[str, str]  # (document id, text sha256)
Layer = Literal["exact", "semantic"]
# Counter names are "<layer>:<event>", e.g. "exact:hits", "semantic:rejected".
EVENTS = ("hits", "misses", "stale", "evictions", "expired", "rejected")
ANSWER_LAYERS = ("exact", "semantic")
EMBEDDING_LAYERS = ("embeddings", "queries")
# Embedding cache models under this prefix hold question vectors: bounded, LRU.
QUERY_PREFIX = "query:"


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """An answer as stored: what the prompt was built from and when it was last checked."""

    answer: Answer
    passages: list[PassageKey]
    versions: tuple[int, int]


@dataclass(frozen=True, slots=True)
class LayerStats:
    """Counters of one layer, summed over every process that shares the backend."""

    hits: int = 0
    misses: int = 0
    stale: int = 0  # found, but the passages it was built from changed: regenerated
    evictions: int = 0  # dropped to stay within max_entries / max_bytes
    expired: int = 0  # dropped because older than the TTL
    rejected: int = 0  # semantic only: close enough, but a guard saw a different question


@dataclass(frozen=True, slots=True)
class CacheStats:
    """What `askdocs cache stats` and /metrics show for one cache."""

    backend: str  # "sqlite" | "redis"
    location: str  # file path, or the Redis URL without its password
    entries: int
    bytes: int
    layers: dict[str, LayerStats] = field(default_factory=dict)
    errors: int = 0  # backend operations that failed (answered as a miss)
    bypassed: int = 0  # operations skipped while the backend was known to be down
    available: bool = True

    def as_dict(self) -> dict[str, Any]:
        """Plain nested dicts, for JSON and metrics exporters."""
        return dataclasses.asdict(self)


class AnswerCache(Protocol):
    """Answers by key; each remembers its passages, scope and (optionally) question vector."""

    backend: str

    def get(self, key: str) -> CachedAnswer | None:
        """The entry, or None if absent, expired (then removed) or the backend is down."""
        ...

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
        """Store (or replace) an entry, then evict least recently used ones over the bounds.
        With ``vector`` the entry is also found by ``similar`` in ``scope``."""
        ...

    def touch(self, key: str, versions: tuple[int, int], *, layer: Layer = "exact") -> None:
        """Record a hit on ``layer``: the entry is fresh at ``versions`` and recently used."""
        ...

    def similar(
        self, scope: str, vector: Vectors, threshold: float, limit: int = 3
    ) -> list[tuple[str, float]]:
        """Keys of entries in ``scope`` whose question vector has cosine >= ``threshold``,
        best first."""
        ...

    def record(self, counts: Mapping[str, int]) -> None:
        """Add to counters named "<layer>:<event>" (misses, stale, rejected...)."""
        ...

    def purge_documents(self, document_ids: Sequence[str]) -> int:
        """Remove every answer that quoted one of these documents; returns how many."""
        ...

    def count(self) -> int: ...

    def stats(self) -> CacheStats: ...

    def clear(self, *, reset_stats: bool = False) -> int:
        """Remove every entry (and the counters too with ``reset_stats``); returns how many."""
        ...

    def close(self) -> None:
        """Release connections (the cache reconnects if used again)."""
        ...


class EmbeddingCache(Protocol):
    """Vectors by (model id, text sha256). Models named "query:<model>" hold question vectors
    and are bounded (LRU); chunk vectors are kept, since losing them costs re-embedding."""

    backend: str

    def get_many(self, model: str, digests: Sequence[str]) -> dict[str, Vectors]: ...

    def put_many(self, model: str, items: dict[str, Vectors]) -> None: ...

    def count(self) -> int: ...

    def stats(self) -> CacheStats: ...

    def clear(self, *, queries_only: bool = False, reset_stats: bool = False) -> int:
        """Remove cached vectors (only question vectors with ``queries_only``)."""
        ...

    def close(self) -> None: ...


class BackendHealth:
    """Failures of a cache backend: logged at most once per ``log_every`` seconds, counted,
    and, after one, the backend is skipped for ``retry_after`` seconds so that a dead server
    costs no timeout per request. Recovery needs nothing: the next try after that works."""

    def __init__(self, name: str, *, retry_after: float = 1.0, log_every: float = 30.0) -> None:
        self._name = name
        self.retry_after = retry_after
        self._log_every = log_every
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._logged_at = -1e9
        self._down = False
        self.errors = 0
        self.bypassed = 0
        # Not yet added to the backend's persisted counters (it was down when they happened).
        self.pending: dict[str, int] = {}

    def usable(self) -> bool:
        """False while the backend is taken to be down; counts the skipped operation."""
        if time.monotonic() >= self._down_until:
            return True
        with self._lock:
            self.bypassed += 1
            self.pending["bypassed"] = self.pending.get("bypassed", 0) + 1
        return False

    def failed(self, error: BaseException) -> None:
        now = time.monotonic()
        with self._lock:
            self.errors += 1
            self.pending["errors"] = self.pending.get("errors", 0) + 1
            self._down_until = now + self.retry_after
            self._down = True
            if now - self._logged_at >= self._log_every:
                self._logged_at = now
                log.warning(
                    "%s cache unavailable, answering without it (%s: %s)",
                    self._name,
                    type(error).__name__,
                    error,
                )

    def succeeded(self) -> None:
        if self._down:
            with self._lock:
                if self._down:
                    self._down = False
                    log.warning("%s cache is back", self._name)

    def take_pending(self) -> dict[str, int]:
        with self._lock:
            pending, self.pending = self.pending, {}
        return pending

    def restore_pending(self, pending: Mapping[str, int]) -> None:
        with self._lock:
            for name, value in pending.items():
                self.pending[name] = self.pending.get(name, 0) + value


def layer_stats(counters: Mapping[str, int], layers: Sequence[str]) -> dict[str, LayerStats]:
    """Counters named "<layer>:<event>" as one LayerStats per layer."""
    return {
        layer: LayerStats(**{e: int(counters.get(f"{layer}:{e}", 0)) for e in EVENTS})
        for layer in layers
    }


def cache_stats(
    backend: str,
    location: str,
    found: tuple[int, int, Mapping[str, int]] | None,
    layers: Sequence[str],
    health: BackendHealth,
) -> CacheStats:
    """CacheStats from (entries, bytes, counters) read from a backend, or, when it could not
    be read (None), an unavailable one with this process's own health counts."""
    if found is None:
        return CacheStats(
            backend, location, 0, 0, layer_stats({}, layers), health.errors, health.bypassed,
            available=False,
        )  # fmt: skip
    entries, size, counters = found
    return CacheStats(
        backend, location, entries, size, layer_stats(counters, layers),
        counters.get("health:errors", 0), counters.get("health:bypassed", 0),
    )  # fmt: skip
