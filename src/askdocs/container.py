"""Composition root: builds askdocs' services from one Settings object, lazily."""

from __future__ import annotations

import threading
from functools import cached_property

from askdocs.access.keys import KeyStore
from askdocs.access.quotas import StorageQuotas, UploadLedger
from askdocs.cache.base import AnswerCache, EmbeddingCache
from askdocs.cache.factory import build_caches
from askdocs.cache.queries import CachingQueryEmbedder
from askdocs.embed import Embedder, build_embedder
from askdocs.generate.base import Generator
from askdocs.generate.factory import build_generator
from askdocs.generate.gate import GatedGenerator, GenerationGate
from askdocs.index import PassageIndex
from askdocs.jobs.store import JobStore
from askdocs.parse.sandbox import shared_sandbox
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
    def _caches(self) -> tuple[AnswerCache, EmbeddingCache]:
        return build_caches(self.settings)

    @cached_property
    def embed_cache(self) -> EmbeddingCache:
        return self._caches[1]

    @cached_property
    def answer_cache(self) -> AnswerCache:
        return self._caches[0]

    @cached_property
    def query_embedder(self) -> Embedder:
        """The embedder for questions: remembers their vectors (retrieval and the semantic
        cache both need them)."""
        return CachingQueryEmbedder(self.embedder, self.embed_cache)

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
        return HybridRetriever(self.index, self.query_embedder, self.settings.retrieve)

    @cached_property
    def keys(self) -> KeyStore:
        return KeyStore(self.settings.data_dir / "keys.sqlite")

    @cached_property
    def jobs(self) -> JobStore:
        return JobStore(self.settings.data_dir / "jobs.sqlite")

    @cached_property
    def quotas(self) -> StorageQuotas:
        ledger = UploadLedger(self.settings.data_dir / "uploads.sqlite")
        return StorageQuotas(self.settings.server, self.tables, self.jobs, ledger)

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
            parser=shared_sandbox(self.settings.parse),
        )

    def generator(self) -> Generator:
        with self._generator_lock:
            if self._generator is None:
                self._generator = build_generator(self.settings.generate)
            return self._generator

    @cached_property
    def generation_gate(self) -> GenerationGate:
        server = self.settings.server
        return GenerationGate(server.generation_concurrency, server.generation_queue)

    def gated_generator(self) -> Generator:
        """The generator behind the bounded queue every answer goes through."""
        return GatedGenerator(self.generator(), self.generation_gate)

    @cached_property
    def answering(self) -> AnsweringService:
        return AnsweringService(
            self.retriever,
            self.query_embedder,
            self.gated_generator,
            self.settings.retrieve,
            self.settings.generate,
            index=self.index,
            cache=self.answer_cache,
            cache_settings=self.settings.cache,
        )


def build(settings: Settings) -> Container:
    return Container(settings)
