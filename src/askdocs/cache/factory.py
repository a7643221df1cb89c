"""Builds the answer and embedding caches the settings name: Redis when a cache URL is set
(replicas share it), else SQLite files in the data dir."""

from __future__ import annotations

from askdocs.cache.base import AnswerCache, EmbeddingCache
from askdocs.errors import ConfigurationError
from askdocs.settings import Settings


def build_caches(settings: Settings) -> tuple[AnswerCache, EmbeddingCache]:
    cache = settings.cache
    url = settings.cache_url
    if url:
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigurationError(
                f"ASKDOCS_CACHE_URL={url!r} is not a Redis URL: use redis://host:port/db,"
                " rediss:// for TLS or unix:///path/to/socket (or unset it for SQLite)"
            )
        from askdocs.cache.redis_answers import RedisAnswerCache
        from askdocs.cache.redis_embeddings import RedisEmbeddingCache

        return (
            RedisAnswerCache(
                url,
                prefix=cache.prefix,
                max_entries=cache.max_entries,
                max_bytes=cache.max_bytes,
                ttl_seconds=cache.ttl_seconds,
                retry_after=cache.retry_after_seconds,
            ),
            RedisEmbeddingCache(
                url,
                prefix=cache.prefix,
                max_query_entries=cache.max_query_entries,
                retry_after=cache.retry_after_seconds,
            ),
        )
    from askdocs.cache.answers import SqliteAnswerCache
    from askdocs.cache.embeddings import SqliteEmbeddingCache

    folder = settings.data_dir / "cache"
    return (
        SqliteAnswerCache(
            folder / "answers.sqlite",
            max_entries=cache.max_entries,
            max_bytes=cache.max_bytes,
            ttl_seconds=cache.ttl_seconds,
        ),
        SqliteEmbeddingCache(
            folder / "embeddings.sqlite", max_query_entries=cache.max_query_entries
        ),
    )
