"""Helpers of the cache tests: answers to store, and containers wired with fakes over either
cache backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from askdocs.cache.answers import SqliteAnswerCache
from askdocs.cache.base import AnswerCache, EmbeddingCache
from askdocs.cache.embeddings import SqliteEmbeddingCache
from askdocs.cache.redis_answers import RedisAnswerCache
from askdocs.cache.redis_embeddings import RedisEmbeddingCache
from askdocs.container import Container
from askdocs.models import Answer, Citation
from askdocs.settings import CacheSettings, ChunkSettings, RetrieveSettings, Settings

from fakes import FakeEmbedder
from fakes_generate import FakeGenerator, make_passage

BACKENDS = ["sqlite", "redis"]
# Caches opened by this test: closed at its end, so no Redis socket outlives its server.
_opened: list[AnswerCache | EmbeddingCache] = []


@pytest.fixture(autouse=True)
def close_caches() -> Iterator[None]:
    """Import into a test module to close the caches its tests open."""
    yield
    while _opened:
        _opened.pop().close()


def make_answer(question: str, text: str = "It is teal [1].", source: str = "guide.md") -> Answer:
    passage = make_passage(f"The widget is teal. ({question})", source=source)
    return Answer(
        question=question,
        answer=text,
        citations=[Citation(1, passage)],
        passages=[passage],
        abstained=False,
    )


def answer_cache(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, **bounds: object
) -> AnswerCache:
    """A fresh answer cache on ``backend``; Redis ones use this test's own key prefix."""
    cache: AnswerCache
    if backend == "sqlite":
        cache = SqliteAnswerCache(tmp_path / "answers.sqlite", **bounds)  # type: ignore[arg-type]
    else:
        server = request.getfixturevalue("redis_server")
        prefix = request.getfixturevalue("redis_prefix")
        cache = RedisAnswerCache(server.url, prefix=prefix, **bounds)  # type: ignore[arg-type]
    _opened.append(cache)
    return cache


def embedding_cache(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, **bounds: int
) -> EmbeddingCache:
    cache: EmbeddingCache
    if backend == "sqlite":
        cache = SqliteEmbeddingCache(tmp_path / "embeddings.sqlite", **bounds)
    else:
        server = request.getfixturevalue("redis_server")
        prefix = request.getfixturevalue("redis_prefix")
        cache = RedisEmbeddingCache(server.url, prefix=prefix, **bounds)
    _opened.append(cache)
    return cache


def cache_container(
    data_dir: Path,
    *,
    cache_url: str | None = None,
    prefix: str = "askdocs:",
    answer: str = "The widget is teal [1].",
    **cache: object,
) -> Container:
    """Fake embedder and generator; the cache on SQLite, or on Redis with ``cache_url``.
    The fake embedder is a bag of words, so its semantic threshold is lower than MiniLM's."""
    options: dict[str, object] = {"semantic_threshold": 0.8, "prefix": prefix, **cache}
    settings = Settings(
        data_dir=data_dir,
        chunk=ChunkSettings(target_tokens=40, overlap_tokens=8, min_tokens=8),
        cache_url=cache_url,
        cache=CacheSettings(**options),  # type: ignore[arg-type]
        # Passage sets here are set up through the fake embedder; the reranker would move them.
        retrieve=RetrieveSettings(rerank=False),
    )
    container = Container(settings)
    container.__dict__["embedder"] = FakeEmbedder()
    container._generator = FakeGenerator(answer)
    _opened.extend(container._caches)
    return container


def generator_calls(container: Container) -> int:
    generator = container.generator()
    assert isinstance(generator, FakeGenerator)
    return len(generator.calls)
