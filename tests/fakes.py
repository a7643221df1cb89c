"""Deterministic fakes for fast unit tests; the real backends have their own integration tests."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from askdocs.embed.base import Vectors, normalise

_TOKEN = re.compile(r"\w+|[^\w\s]")


class FakeEmbedder:
    """Hashed bag of words: texts sharing words are close, so retrieval behaves sensibly."""

    dimension = 1024

    def __init__(self, model_id: str = "fake-embedder", max_tokens: int = 64) -> None:
        self.model_id = model_id
        self.max_tokens = max_tokens
        self.calls: list[int] = []  # batch sizes, so tests can see what was (re-)embedded

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in _TOKEN.finditer(text)]

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.calls.append(len(texts))
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                digest = hashlib.blake2b(word.encode(), digest_size=4).digest()
                out[row, int.from_bytes(digest, "little") % self.dimension] += 1.0
        return normalise(out)

    @property
    def embedded(self) -> int:
        return sum(self.calls)
