"""Composition root: builds askdocs' services from one Settings object, lazily."""

from __future__ import annotations

import threading
from functools import cached_property

from askdocs.cache.answers import SqliteAnswerCache
from askdocs.cache.embeddings import SqliteEmbeddingCache
from askdocs.embed import Embedder, build_embedder
from askdocs.generate.base import Generator
from askdocs.generate.factory import build_generator
from askdocs.index import PassageIndex
from askdocs.retrieve import HybridRetriever
from askdocs.services.answering import AnsweringService
from askdocs.services.ingestion import IngestionService
from askdocs.settings import Settings
from askdocs.storage.blobs import LocalBlobStore
from askdocs.storage.tables import DeltaTables


class Container:
    """The wired services; each is built on first use, so `askdocs documents` loads no model."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._generator_lock = threading.Lock()
        self._generator: Generator | None = None

    @cached_property
    def blobs(self) -> LocalBlobStore:
        return LocalBlobStore(self.settings.data_dir / "blobs")

    @cached_property
    def tables(self) -> DeltaTables:
        return DeltaTables(self.settings.data_dir / "tables")

    @cached_property
    def embedder(self) -> Embedder:
        return build_embedder(self.settings.embed)

    @cached_property
    def embed_cache(self) -> SqliteEmbeddingCache:
        return SqliteEmbeddingCache(self.settings.data_dir / "cache" / "embeddings.sqlite")

    @cached_property
    def answer_cache(self) -> SqliteAnswerCache:
        return SqliteAnswerCache(self.settings.data_dir / "cache" / "answers.sqlite")

    @cached_property
    def index(self) -> PassageIndex:
        return PassageIndex(
            self.settings.data_dir / "index" / "passages.sqlite",
            self.tables,
            dimension=self.embedder.dimension,
            ann_threshold=self.settings.retrieve.ann_threshold,
        )

    @cached_property
    def retriever(self) -> HybridRetriever:
        return HybridRetriever(self.index, self.embedder, self.settings.retrieve)

    @cached_property
    def ingestion(self) -> IngestionService:
        return IngestionService(
            self.blobs,
            self.tables,
            self.embedder,
            self.embed_cache,
            self.settings.chunk,
            self.settings.data_dir,
            self.answer_cache,
        )

    def generator(self) -> Generator:
        with self._generator_lock:
            if self._generator is None:
                self._generator = build_generator(self.settings.generate)
            return self._generator

    @cached_property
    def answering(self) -> AnsweringService:
        return AnsweringService(
            self.retriever,
            self.embedder,
            self.generator,
            self.settings.retrieve,
            self.settings.generate,
            index=self.index,
            cache=self.answer_cache,
        )


def build(settings: Settings) -> Container:
    return Container(settings)
