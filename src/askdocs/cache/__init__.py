"""Caches: embeddings (model + text hash -> vector) and answers (exact layer)."""

from askdocs.cache.answers import SqliteAnswerCache
from askdocs.cache.embeddings import SqliteEmbeddingCache

__all__ = ["SqliteAnswerCache", "SqliteEmbeddingCache"]
