"""Answering: retrieve passages, abstain when nothing relevant is found, else generate with [n]
citations mapped back to sources, plus extractive quotes a reader can check.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from askdocs.cache.answers import (
    CachedAnswer,
    SqliteAnswerCache,
    cache_key,
    passage_keys,
)
from askdocs.embed.base import Embedder
from askdocs.generate import PROMPT_VERSION, Generator, build_messages, extract_citations
from askdocs.generate.attribution import attribute
from askdocs.index import PassageIndex
from askdocs.models import Answer, Citation, Passage, Quote
from askdocs.retrieve import HybridRetriever
from askdocs.settings import GenerateSettings, RetrieveSettings

NO_ANSWER = "The documents do not contain an answer to this question."
# A sentence ends at . ! ? followed by white space, or at a blank line.
_QUOTE_CHARS = 300
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\n\s*\n")


@dataclass(frozen=True, slots=True)
class AskOptions:
    """Per-request choices."""

    collections: tuple[str, ...] = ()
    k: int | None = None
    generate: bool = True
    use_cache: bool = True


class AnsweringService:
    """The question -> answer use case."""

    def __init__(
        self,
        retriever: HybridRetriever,
        embedder: Embedder,
        generator: Callable[[], Generator],
        retrieve_settings: RetrieveSettings,
        generate_settings: GenerateSettings,
        *,
        index: PassageIndex | None = None,
        cache: SqliteAnswerCache | None = None,
    ) -> None:
        self._index = index
        self._cache = cache if index is not None else None
        self._retriever = retriever
        self._embedder = embedder
        self._generator = generator
        self._retrieve = retrieve_settings
        self._generate = generate_settings

    def answer(self, question: str, options: AskOptions = AskOptions()) -> Answer:
        result: Answer | None = None
        for event in self.stream(question, options):
            if isinstance(event, Answer):
                result = event
        assert result is not None
        return result

    def stream(self, question: str, options: AskOptions = AskOptions()) -> Iterator[str | Answer]:
        """Yields answer text pieces as they are generated, then the final Answer."""
        started = time.perf_counter()
        question = question.strip()
        key, entry = None, None
        # Only generated answers are cached: retrieval alone and abstentions are cheap.
        cached = self._cache is not None and options.use_cache and options.generate
        if cached and self._cache is not None and self._index is not None:
            key = cache_key(question, options.collections, self._answer_settings(options))
            entry = self._cache.get(key)
            if entry is not None:
                self._index.sync()
                if entry.versions == self._index.versions():
                    yield from self._serve_cached(question, key, entry, started)
                    return
        retrieval = self._retriever.retrieve(
            question, collections=options.collections or None, k=options.k
        )
        timings = dict(retrieval.timings_ms)
        passages = retrieval.passages
        abstained = not passages or retrieval.best_dense < self._retrieve.abstain_threshold
        prompt_keys = passage_keys(passages[: self._generate.prompt_passages])
        # The index moved since this answer was cached: it still holds only if the prompt would
        # get the same passages, unchanged.
        if (
            key is not None
            and entry is not None
            and not abstained
            and entry.passages == prompt_keys
        ):
            yield from self._serve_cached(question, key, entry, started)
            return
        text, citations = "", []
        if abstained:
            text = NO_ANSWER
            yield text
        elif options.generate:
            gen_started = time.perf_counter()
            generator = self._generator()
            messages, used = build_messages(
                question,
                passages[: self._generate.prompt_passages],
                generator,
                max_answer_tokens=self._generate.max_answer_tokens,
            )
            pieces: list[str] = []
            stream = generator.stream(
                messages,
                max_tokens=self._generate.max_answer_tokens,
                temperature=self._generate.temperature,
            )
            try:
                for piece in stream:
                    pieces.append(piece)
                    yield piece
                    # A small model that has answered goes on to copy passages: one
                    # paragraph is the answer.
                    if "\n\n" in "".join(pieces).strip():
                        break
            finally:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()
            text = attribute("".join(pieces).strip().split("\n\n")[0], used)
            citations = [Citation(n, used[n - 1]) for n in extract_citations(text, len(used))]
            timings["generate"] = (time.perf_counter() - gen_started) * 1000
        quotes = [] if abstained else self._quotes(question, text, passages)
        timings["total"] = (time.perf_counter() - started) * 1000
        answer = Answer(
            question=question,
            answer=text,
            citations=citations,
            passages=passages,
            abstained=abstained,
            quotes=quotes,
            timings_ms={k: round(v, 2) for k, v in timings.items()},
        )
        if (
            key is not None
            and self._cache is not None
            and self._index is not None
            and not abstained
        ):
            self._cache.put(key, answer, prompt_keys, self._index.versions())
        yield answer

    def _answer_settings(self, options: AskOptions) -> dict[str, object]:
        """Everything besides the question and scope that shapes a generated answer."""
        return {
            "embedder": self._embedder.model_id,
            "prompt": PROMPT_VERSION,
            "k": options.k or self._retrieve.k,
            "retrieve": self._retrieve.model_dump(mode="json"),
            "generate": self._generate.model_dump(mode="json"),
        }

    def _serve_cached(
        self, question: str, key: str, entry: CachedAnswer, started: float
    ) -> Iterator[str | Answer]:
        assert self._cache is not None and self._index is not None
        self._cache.touch(key, self._index.versions())
        answer = dataclasses.replace(
            entry.answer,
            question=question,
            cache="exact",
            timings_ms={"total": round((time.perf_counter() - started) * 1000, 3)},
        )
        yield answer.answer
        yield answer

    def _quotes(self, question: str, answer: str, passages: Sequence[Passage]) -> list[Quote]:
        """The sentences of the top passages closest to the question and answer."""
        sentences: list[tuple[int, str, str]] = []
        for n, passage in enumerate(passages[:3], start=1):
            for part in _SENTENCE_BREAK.split(passage.chunk.text):
                sentence = " ".join(part.split())
                if len(sentence) > _QUOTE_CHARS:
                    # Tables and lists have no sentence ends: quote the start of the run.
                    sentence = sentence[:_QUOTE_CHARS].rsplit(" ", 1)[0] + " …"
                if len(sentence) >= 20:
                    sentences.append((n, passage.chunk.chunk_id, sentence))
        sentences = sentences[:40]
        if not sentences:
            return []
        probe = question if not answer else f"{question} {answer}"
        vectors = self._embedder.embed([probe] + [s for _, _, s in sentences])
        scores = vectors[1:] @ vectors[0]
        best = np.argsort(-scores)[:3]
        return [
            Quote(sentences[i][0], sentences[i][1], sentences[i][2], round(float(scores[i]), 4))
            for i in best
        ]


def passage_payload(passage: Passage, n: int) -> dict[str, object]:
    """A passage as the JSON of `askdocs ask --json` and the API show it."""
    chunk = passage.chunk
    return {
        "n": n,
        "document_id": chunk.document_id,
        "version": chunk.version,
        "source": chunk.source,
        "page": chunk.page,
        "heading": " > ".join(chunk.heading) or None,
        "chunk_id": chunk.chunk_id,
        "start": chunk.start,
        "end": chunk.end,
        "score": round(passage.score, 4),
        "text": chunk.text,
    }


def answer_payload(answer: Answer) -> dict[str, object]:
    """The one JSON shape of an answer."""
    return {
        "question": answer.question,
        "answer": answer.answer,
        "citations": [passage_payload(c.passage, c.n) for c in answer.citations],
        "passages": [passage_payload(p, n) for n, p in enumerate(answer.passages, start=1)],
        "quotes": [
            {"n": q.n, "chunk_id": q.chunk_id, "text": q.text, "score": q.score}
            for q in answer.quotes
        ],
        "abstained": answer.abstained,
        "cache": answer.cache,
        "timings_ms": answer.timings_ms,
    }
