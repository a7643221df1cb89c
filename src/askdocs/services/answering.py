"""Answering: retrieve passages, abstain when nothing relevant is found, else generate with [n]
citations mapped back to sources, plus extractive quotes a reader can check.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass

from askdocs.access.principals import may_see
from askdocs.cache.base import AnswerCache, CachedAnswer, Layer
from askdocs.cache.keys import cache_key, passage_keys, scope_digest
from askdocs.cache.semantic import conflict
from askdocs.embed.base import Embedder, Vectors
from askdocs.errors import GenerationError, TooLongError
from askdocs.generate import PROMPT_VERSION, build_messages, extractive
from askdocs.generate import Generator as TextGenerator
from askdocs.generate.attribution import Grounding
from askdocs.index import PassageIndex
from askdocs.models import Answer, Citation, Passage, Quote
from askdocs.retrieve import HybridRetriever
from askdocs.settings import CacheSettings, GenerateSettings, RetrieveSettings

NO_ANSWER = "The documents do not contain an answer to this question."


def no_answer(unmentioned: Sequence[str] = ()) -> str:
    """The abstention text, naming what the documents never mention when that is the reason."""
    if not unmentioned:
        return NO_ANSWER
    names = ", ".join(f"`{n}`" for n in unmentioned)
    return f"{NO_ANSWER} They never mention {names}."


@dataclass(frozen=True, slots=True)
class AskOptions:
    """Per-request choices."""

    collections: tuple[str, ...] = ()
    k: int | None = None
    generate: bool = True
    use_cache: bool = True
    # Digest of what the caller may see (API key collections and principals): cached
    # answers are shared only between callers with the same access.
    scope: str = ""
    # The principals the caller acts for: it sees documents whose access list is empty or
    # names one of them. None: every document (an admin key naming none, the local CLI).
    principals: tuple[str, ...] | None = None
    # Compute the answerability score even with the gate off (`askdocs eval --calibrate`).
    score_answerability: bool = False


@dataclass(slots=True)
class _Lookup:
    """What the answer cache holds for one request, before retrieval decides if it holds."""

    key: str
    scope: str
    exact: CachedAnswer | None = None
    # Served without retrieval: the entry was checked at the index's current versions.
    served: tuple[str, CachedAnswer, Layer] | None = None
    candidates: list[tuple[str, CachedAnswer]] = dataclasses.field(default_factory=list)
    rejected: int = 0  # semantic neighbours a guard turned away
    vector: Vectors | None = None
    # Index versions before retrieval: what a stored or re-checked entry is stamped with. A
    # concurrent ingest moves the index past them, so the next request checks again.
    versions: tuple[int, int] = (-1, -1)


class AnsweringService:
    """The question -> answer use case."""

    def __init__(
        self,
        retriever: HybridRetriever,
        embedder: Embedder,
        generator: Callable[[], TextGenerator],
        retrieve_settings: RetrieveSettings,
        generate_settings: GenerateSettings,
        *,
        index: PassageIndex | None = None,
        cache: AnswerCache | None = None,
        cache_settings: CacheSettings | None = None,
    ) -> None:
        self._index = index
        self._cache = cache if index is not None else None
        self._cache_settings = cache_settings or CacheSettings()
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
        lookup = self._lookup(question, options)
        if lookup is not None and lookup.served is not None:
            yield from self._serve_cached(question, *lookup.served, started, lookup.versions)
            return
        retrieval = self._retriever.retrieve(
            question,
            collections=options.collections or None,
            k=options.k,
            principals=options.principals,
        )
        timings = dict(retrieval.timings_ms)
        passages = retrieval.passages
        abstained = retrieval.abstains(self._retrieve.abstain_threshold)
        gate = self._retrieve.answerability_threshold
        answerability = None
        if not abstained and (gate is not None or options.score_answerability):
            scored_at = time.perf_counter()
            answerability = self._retriever.answerability(
                question, passages[: self._generate.prompt_passages]
            )
            timings["answerability"] = (time.perf_counter() - scored_at) * 1000
            abstained = gate is not None and answerability < gate
        prompt_keys = passage_keys(passages[: self._generate.prompt_passages])
        reuse = None if lookup is None else self._reuse(lookup, prompt_keys, abstained)
        if reuse is not None:
            assert lookup is not None
            yield from self._serve_cached(question, *reuse, started, lookup.versions)
            return
        text, citations, mode = "", list[Citation](), None
        if abstained:
            text = no_answer(retrieval.unmentioned)
            yield text
        elif options.generate:
            gen_started = time.perf_counter()
            grounded = yield from self._write(question, passages, timings, gen_started)
            text, citations, mode = grounded
            timings["generate"] = (time.perf_counter() - gen_started) * 1000
        # Quotes support a written answer; retrieval alone returns the passages themselves.
        quotes = [] if abstained or not options.generate else self._quotes(question, text, passages)
        timings["total"] = (time.perf_counter() - started) * 1000
        answer = Answer(
            question=question,
            answer=text,
            citations=citations,
            passages=passages,
            abstained=abstained,
            quotes=quotes,
            timings_ms={k: round(v, 2) for k, v in timings.items()},
            answerability=answerability,
            answer_mode=mode,
        )
        if lookup is not None and not abstained:
            self._store(lookup, question, answer, prompt_keys)
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

    # -- answer cache ------------------------------------------------------------------------

    def _lookup(self, question: str, options: AskOptions) -> _Lookup | None:
        """The exact entry for this question in this scope, else the semantic neighbours that
        pass the guards; None when the request does not use the cache. Only generated answers
        are cached: retrieval alone and abstentions are cheap."""
        if self._cache is None or self._index is None or not options.use_cache:
            return None
        if not options.generate:
            return None
        scope = scope_digest(
            options.collections, options.scope, self._answer_settings(options), options.principals
        )
        lookup = _Lookup(cache_key(question, scope), scope)
        lookup.exact = self._cache.get(lookup.key)
        self._index.sync()
        lookup.versions = self._index.versions()
        if lookup.exact is not None and not self._may_see(lookup.exact, options.principals):
            lookup.exact = None
        if lookup.exact is not None:
            # Nothing changed in the index since the entry was checked: served at once.
            if lookup.exact.versions == lookup.versions:
                lookup.served = (lookup.key, lookup.exact, "exact")
            return lookup
        settings = self._cache_settings
        if not settings.semantic:
            return lookup
        lookup.vector = self._embedder.embed([question])[0]
        for key, _ in self._cache.similar(scope, lookup.vector, settings.semantic_threshold):
            entry = self._cache.get(key)
            if entry is None or not self._may_see(entry, options.principals):
                continue
            if conflict(question, entry.answer.question) is not None:
                lookup.rejected += 1
            else:
                lookup.candidates.append((key, entry))
        if lookup.candidates and not settings.semantic_check_passages:
            fresh = [(k, e) for k, e in lookup.candidates if e.versions == lookup.versions]
            if fresh:
                self._cache.record({"exact:misses": 1, "semantic:rejected": lookup.rejected})
                lookup.served = (*fresh[0], "semantic")
        return lookup

    def _may_see(self, entry: CachedAnswer, principals: tuple[str, ...] | None) -> bool:
        """Whether the caller may see every document the entry was built from, now. The scope
        digest already keeps callers with other principals apart; this second check holds
        even if it did not (an entry is text from its documents: it is served to no one who
        may not read all of them)."""
        if principals is None:
            return True
        assert self._index is not None
        used = {d for d, _ in entry.passages}
        used |= {p.chunk.document_id for p in entry.answer.passages}
        used |= {c.passage.chunk.document_id for c in entry.answer.citations}
        access = self._index.document_access(sorted(used))
        return all(d in access and may_see(access[d], principals) for d in used)

    def _reuse(
        self, lookup: _Lookup, prompt_keys: list[tuple[str, str]], abstained: bool
    ) -> tuple[str, CachedAnswer, Layer] | None:
        """A cached answer holds only if the prompt for this request would get the same
        passages, unchanged: a new, better, edited or deleted passage makes it stale. With
        ``semantic_check_passages`` (the default) a semantic neighbour is checked so even when
        the index has not moved: the new wording must land on the passages it was built from."""
        assert self._cache is not None
        counts = {"exact:misses": 1, "semantic:rejected": lookup.rejected}
        if lookup.exact is not None:
            if not abstained and lookup.exact.passages == prompt_keys:
                return lookup.key, lookup.exact, "exact"
            counts["exact:stale"] = 1
        elif self._cache_settings.semantic:
            for key, entry in lookup.candidates:
                if not abstained and entry.passages == prompt_keys:
                    self._cache.record(counts)
                    return key, entry, "semantic"
            counts["semantic:stale"] = 1 if lookup.candidates else 0
            counts["semantic:misses"] = 1
        self._cache.record(counts)
        return None

    def _store(
        self, lookup: _Lookup, question: str, answer: Answer, prompt_keys: list[tuple[str, str]]
    ) -> None:
        assert self._cache is not None and self._index is not None
        vector = lookup.vector
        if vector is None and self._cache_settings.semantic:
            vector = self._embedder.embed([question])[0]  # retrieval embedded it: cached
        self._cache.put(
            lookup.key, answer, prompt_keys, lookup.versions, scope=lookup.scope, vector=vector
        )

    def _serve_cached(
        self,
        question: str,
        key: str,
        entry: CachedAnswer,
        layer: Layer,
        started: float,
        versions: tuple[int, int],
    ) -> Iterator[str | Answer]:
        assert self._cache is not None
        self._cache.touch(key, versions, layer=layer)
        answer = dataclasses.replace(
            entry.answer,
            question=question,
            cache=layer,
            timings_ms={"total": round((time.perf_counter() - started) * 1000, 3)},
        )
        yield answer.answer
        yield answer

    def _write(
        self,
        question: str,
        passages: Sequence[Passage],
        timings: dict[str, float],
        started: float,
    ) -> Generator[str, None, tuple[str, list[Citation], str]]:
        """Generate, showing only the sentences the passages support (``Grounding``); when
        none holds, answer with the passages' best sentence instead. Yields the shown text."""
        generator = self._generator()
        settings = self._generate
        shown = passages[: settings.prompt_passages]
        ranked = extractive.rank(question, extractive.sentences(shown), self._embedder)
        prompt = shown
        if settings.focus_sentences:
            prompt = extractive.focus(shown, ranked, settings.focus_sentences)
        try:
            messages, in_prompt = build_messages(
                question, prompt, generator, max_answer_tokens=settings.max_answer_tokens
            )
        except GenerationError as exc:
            # It fails only when the question alone overflows the model's context: the
            # caller's request to shorten, not a server fault to retry.
            raise TooLongError(
                "the question is too long for the model's context window: shorten it"
            ) from exc
        used = shown[: len(in_prompt)]  # cited as whole passages
        best = None
        checked = used
        if settings.check_sentences:
            best = self._extract_order(question, ranked, len(used))
            # Checked against the sentences that answer the question best, not anything a
            # passage says: a value copied from the wrong line is supported by none of them.
            checked = extractive.focus(used, best, settings.check_sentences, each=False)
        grounding = Grounding(question, checked, max_sentences=settings.max_sentences)
        stream = generator.stream(
            messages, max_tokens=settings.max_answer_tokens, temperature=settings.temperature
        )
        pieces = 0
        written = ""
        gave_up = False
        try:
            for piece in stream:
                pieces += 1
                written += piece
                for sentence in grounding.feed(piece):
                    timings.setdefault("first_text", (time.perf_counter() - started) * 1000)
                    yield sentence
                # A small model that has answered goes on to copy passages: one paragraph is
                # the answer.
                if grounding.done or (grounding.shown and "\n\n" in written.strip()):
                    break
                if not grounding.shown and pieces >= settings.give_up_tokens:
                    gave_up = True  # nothing it wrote holds: the reader gets the quote sooner
                    break
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        cut_off = gave_up or pieces >= settings.max_answer_tokens
        for sentence in grounding.finish(cut_off=cut_off):
            timings.setdefault("first_text", (time.perf_counter() - started) * 1000)
            yield sentence
        if grounding.shown:
            cited = dict.fromkeys(n for s in grounding.shown for n in s.cited)
            return grounding.text, [Citation(n, used[n - 1]) for n in cited], "generated"
        if best is None:
            best = self._extract_order(question, ranked, len(used))
        reranked = settings.extract_rerank_depth > 0
        text, numbers = extractive.answer_from(
            best, min_score=extractive.SECOND_MIN_LOGIT if reranked else None
        )
        timings.setdefault("first_text", (time.perf_counter() - started) * 1000)
        yield text
        return text, [Citation(n, used[n - 1]) for n in numbers], "extractive"

    def _extract_order(
        self, question: str, ranked: list[tuple[extractive.Candidate, float]], passages: int
    ) -> list[tuple[extractive.Candidate, float]]:
        """The sentences of the first ``passages`` passages, the best first, as the extractive
        answer chooses from them (the cross-encoder's order over the embedder's best)."""
        ranked = [r for r in ranked if r[0].n <= passages]
        depth = self._generate.extract_rerank_depth
        if not depth:
            return ranked
        return extractive.rerank(question, ranked, self._retriever.reranker(), depth)

    def _quotes(self, question: str, answer: str, passages: Sequence[Passage]) -> list[Quote]:
        """The sentences of the top passages closest to the question and answer."""
        probe = question if not answer else f"{question} {answer}"
        shown = passages[:3]
        # A passage's text starts with its heading line: a title, not a quote that supports.
        headings = {h.lower() for p in shown for h in p.chunk.heading}
        candidates = [
            c for c in extractive.sentences(shown) if c.text.rstrip(".").lower() not in headings
        ]
        ranked = extractive.rank(question, candidates, self._embedder, probe)
        return [Quote(c.n, c.chunk_id, c.text, round(score, 4)) for c, score in ranked[:3]]


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
        "answerability": answer.answerability,
        "answer_mode": answer.answer_mode,
        "cache": answer.cache,
        "timings_ms": answer.timings_ms,
    }
