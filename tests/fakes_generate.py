"""Deterministic generator fakes and passage builders for fast tests."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

from askdocs.generate.base import Message
from askdocs.models import Chunk, Passage


class FakeGenerator:
    """Streams a scripted answer word by word; one token per whitespace-separated word."""

    def __init__(
        self,
        answer: str = "Paris is the capital of France [1].",
        *,
        context_tokens: int = 2048,
        model_id: str = "fake",
    ) -> None:
        self.answer = answer
        self.context_tokens = context_tokens
        self.model_id = model_id
        self.calls: list[tuple[list[Message], int, float]] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(
        self, messages: Sequence[Message], *, max_tokens: int, temperature: float
    ) -> Iterator[str]:
        self.calls.append((list(messages), max_tokens, temperature))
        words = self.answer.split(" ")[:max_tokens]
        for i, word in enumerate(words):
            yield word if i == 0 else " " + word


def make_passage(
    text: str,
    *,
    source: str = "guide.pdf",
    ordinal: int = 0,
    page: int | None = None,
    heading: tuple[str, ...] = (),
    score: float = 1.0,
) -> Passage:
    """A passage over a chunk whose ids derive from ``source`` and ``ordinal``."""
    digest = hashlib.sha256(text.encode()).hexdigest()
    chunk = Chunk(
        chunk_id=f"{source}#{ordinal}",
        document_id=f"doc-{source}",
        version=1,
        collection="default",
        source=source,
        ordinal=ordinal,
        text=text,
        text_sha256=digest,
        start=0,
        end=len(text),
        page=page,
        heading=heading,
    )
    return Passage(chunk=chunk, score=score)
