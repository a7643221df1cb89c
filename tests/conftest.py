"""Shared fixtures: a container wired with fakes over a temp data dir, and one with real models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from askdocs.container import Container
from askdocs.settings import ChunkSettings, RetrieveSettings, Settings
from redis_server import own_redis_server, redis_prefix, redis_server  # noqa: F401

from fakes import FakeEmbedder
from fakes_generate import FakeGenerator


def fake_container(
    data_dir: Path, *, answer: str = "It is 42 [1].", retrieve: RetrieveSettings | None = None
) -> Container:
    settings = Settings(
        data_dir=data_dir,
        chunk=ChunkSettings(target_tokens=40, overlap_tokens=8, min_tokens=8),
        # The real cross-encoder has its own tests (test_rerank.py); fakes stay fast and exact.
        retrieve=retrieve or RetrieveSettings(rerank=False),
    )
    container = Container(settings)
    container.__dict__["embedder"] = FakeEmbedder()
    container._generator = FakeGenerator(answer)
    return container


@pytest.fixture
def container(tmp_path: Path) -> Iterator[Container]:
    yield fake_container(tmp_path / "data")


@pytest.fixture(scope="session")
def real_container(tmp_path_factory: pytest.TempPathFactory) -> Container:
    """Real embedder and generator; one per session because loading them takes seconds."""
    return Container(Settings(data_dir=tmp_path_factory.mktemp("real-data")))
