"""Caches: embeddings (model + text hash -> vector); answers come with the caching issue."""

from askdocs.cache.embeddings import SqliteEmbeddingCache

__all__ = ["SqliteEmbeddingCache"]
