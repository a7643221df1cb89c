"""Caches: embeddings (model + text hash -> vector), question vectors, and answers (exact and
semantic layers), on SQLite in the data dir or on Redis when replicas share them."""

from askdocs.cache.answers import SqliteAnswerCache
from askdocs.cache.base import AnswerCache, CachedAnswer, CacheStats, EmbeddingCache, LayerStats
from askdocs.cache.embeddings import SqliteEmbeddingCache
from askdocs.cache.factory import build_caches

__all__ = [
    "AnswerCache",
    "CacheStats",
    "CachedAnswer",
    "EmbeddingCache",
    "LayerStats",
    "SqliteAnswerCache",
    "SqliteEmbeddingCache",
    "build_caches",
]
