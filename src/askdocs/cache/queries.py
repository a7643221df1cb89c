"""Question vectors, cached: the semantic cache and retrieval both embed the question, and a
repeated question (a stale exact hit being re-checked, another replica) need not be embedded
again."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from askdocs.cache.base import QUERY_PREFIX, EmbeddingCache
from askdocs.embed.base import Embedder, Vectors


class CachingQueryEmbedder:
    """An Embedder that remembers single-text calls (questions) in process and in the shared
    embedding cache under the model "query:<model id>"; batches (chunks, quote candidates)
    go straight to the model."""

    def __init__(self, inner: Embedder, cache: EmbeddingCache, *, keep: int = 1024) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dimension = inner.dimension
        self.max_tokens = inner.max_tokens
        self._cache = cache
        self._model = QUERY_PREFIX + inner.model_id
        self._keep = keep
        self._recent: OrderedDict[str, Vectors] = OrderedDict()
        self._lock = threading.Lock()

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return self.inner.token_spans(text)

    def embed(self, texts: Sequence[str]) -> Vectors:
        if len(texts) != 1:
            return self.inner.embed(texts)
        digest = hashlib.sha256(texts[0].encode()).hexdigest()
        with self._lock:
            vector = self._recent.get(digest)
            if vector is not None:
                self._recent.move_to_end(digest)
                return vector.reshape(1, -1)
        vector = self._cache.get_many(self._model, [digest]).get(digest)
        if vector is None or vector.shape != (self.dimension,):
            vector = np.asarray(self.inner.embed(texts)[0], dtype=np.float32)
            self._cache.put_many(self._model, {digest: vector})
        with self._lock:
            self._recent[digest] = vector
            while len(self._recent) > self._keep:
                self._recent.popitem(last=False)
        return vector.reshape(1, -1)
