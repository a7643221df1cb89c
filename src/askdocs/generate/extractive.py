"""Extractive answers: the passages' own sentences that best answer the question, cited.

Used for the quotes shown beside every answer, and as the answer itself when none of the
model's sentences is supported by the passages (``answer_mode: "extractive"``). A sentence is
first scored by the embedder's cosine with the question (or question + answer), plus the share
of the question's content words it holds: a reader asking for "the default busy timeout" wants
the sentence that says "busy timeout" and "default", which a paraphrase-minded embedder alone
can rank below a sentence about timeouts in general. The answer itself is then chosen by the
cross-encoder among the best ``RERANK_DEPTH`` of those (``rerank``): it reads question and
sentence together and tells "the default is 5 minutes" from "timeouts are measured in
minutes", which neither score above can (benchmarks/answers.py: answer match on the SQLite set
0.43 -> 0.55 with one sentence, 0.61 with two of the same passage).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from askdocs.embed.base import Embedder
from askdocs.generate.support import content_words
from askdocs.models import Passage
from askdocs.retrieve.rerank import Reranker

# A sentence ends at . ! ? followed by white space, or at a blank line.
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\n\s*\n")
_MAX_CHARS = 300
_MIN_CHARS = 20
_MAX_SENTENCES = 60
# Weight of the question's word coverage next to the cosine.
COVERAGE_WEIGHT = 0.3
# A chosen sentence this short (or ending in a colon) is a lead-in, continued by the next one.
_SHORT_WORDS = 4
# A plain lower-case word, not an identifier (sqlite3_open, fs.readFile, git-gc, main()).
_LOWER_START = re.compile(r"[a-z]+\b(?![_.(\-]\w)")
# The cross-encoder rescores this many of the best sentences (about 15 ms a sentence on 2 cores).
RERANK_DEPTH = 12
# An extractive answer quotes at most this many sentences, all of one passage; a sentence after
# the first only when the cross-encoder's logit for it is at least SECOND_MIN_LOGIT (filler
# scores about -11; on the SQLite and FAQ sets no threshold up to -8 loses an answer).
ANSWER_SENTENCES = 2
SECOND_MIN_LOGIT = -8.0


@dataclass(frozen=True, slots=True)
class Candidate:
    """A sentence of passage ``n`` (1-based in the list given), with what follows it."""

    n: int
    chunk_id: str
    text: str
    following: str | None
    order: int = 0  # position among all candidates


def sentences(passages: Sequence[Passage]) -> list[Candidate]:
    """The quotable sentences of ``passages``, in order, long runs (tables) cut to their start."""
    found: list[Candidate] = []
    for n, passage in enumerate(passages, start=1):
        parts = []
        for part in _SENTENCE_BREAK.split(passage.chunk.text):
            sentence = " ".join(part.split())
            if len(sentence) > _MAX_CHARS:
                # Tables and lists have no sentence ends: quote the start of the run.
                sentence = sentence[:_MAX_CHARS].rsplit(" ", 1)[0] + " …"
            if len(sentence) >= _MIN_CHARS:
                parts.append(sentence)
        for i, sentence in enumerate(parts):
            following = parts[i + 1] if i + 1 < len(parts) else None
            found.append(Candidate(n, passage.chunk.chunk_id, sentence, following, len(found)))
    return found[:_MAX_SENTENCES]


def rank(
    question: str, candidates: Sequence[Candidate], embedder: Embedder, probe: str | None = None
) -> list[tuple[Candidate, float]]:
    """Candidates best first with their scores: cosine with ``probe`` (the question unless
    given) plus ``COVERAGE_WEIGHT`` x the share of the question's content words they hold."""
    if not candidates:
        return []
    vectors = embedder.embed([probe or question] + [c.text for c in candidates])
    cosines = vectors[1:] @ vectors[0]
    asked = content_words(question)
    scores = []
    for candidate, cosine in zip(candidates, cosines, strict=True):
        coverage = len(asked & content_words(candidate.text)) / len(asked) if asked else 0.0
        scores.append(float(cosine) + COVERAGE_WEIGHT * coverage)
    order = np.argsort(-np.asarray(scores), kind="stable")
    return [(candidates[i], scores[i]) for i in order]


def rerank(
    question: str,
    ranked: Sequence[tuple[Candidate, float]],
    reranker: Reranker,
    depth: int = RERANK_DEPTH,
) -> list[tuple[Candidate, float]]:
    """The best ``depth`` of ``ranked`` in the cross-encoder's order, with its scores (logits)."""
    top = list(ranked[:depth])
    if not top:
        return []
    scores = reranker.score(question, [c.text for c, _ in top])
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    return [(top[i][0], float(scores[i])) for i in order]


def focus(
    passages: Sequence[Passage],
    ranked: Sequence[tuple[Candidate, float]],
    keep: int,
    *,
    each: bool = True,
) -> list[Passage]:
    """``passages`` cut to their sentences among the ``keep`` best of ``ranked`` (and, with
    ``each``, each to at least its own best one; without, a passage with none of them is left
    empty), in their order, joined by " … ": a short prompt that puts the answer-bearing
    sentences in front of the model. Numbering is unchanged."""
    chosen: dict[int, set[str]] = {n: set() for n in range(1, len(passages) + 1)}
    for i, (candidate, _) in enumerate(ranked):
        if candidate.n not in chosen:
            continue
        if i < keep or (each and not chosen[candidate.n]):
            chosen[candidate.n].add(candidate.text)
    out = []
    for n, passage in enumerate(passages, start=1):
        parts = [c.text for c, _ in sorted(ranked, key=lambda r: r[0].order) if c.n == n]
        kept = [s for s in parts if s in chosen[n]]
        text = " … ".join(kept) if kept else (passage.chunk.text if each else "")
        out.append(replace(passage, chunk=replace(passage.chunk, text=text)))
    return out


def extractive_answer(
    question: str,
    passages: Sequence[Passage],
    embedder: Embedder,
    reranker: Reranker | None = None,
) -> tuple[str, list[int]]:
    """The best sentences of ``passages`` as a cited answer (``answer_from``), and the passage
    numbers it cites; ("", []) when there is none."""
    ranked = rank(question, sentences(passages), embedder)
    if reranker is None:
        return answer_from(ranked)
    return answer_from(rerank(question, ranked, reranker), min_score=SECOND_MIN_LOGIT)


def answer_from(
    ranked: Sequence[tuple[Candidate, float]],
    limit: int = ANSWER_SENTENCES,
    min_score: float | None = None,
) -> tuple[str, list[int]]:
    """The best sentence and the next best ones of the same passage (up to ``limit`` in all,
    those after the first only when they score at least ``min_score``), in the passage's
    order, each cited; a sentence that is only a lead-in ("as follows:") is continued by the
    one after it. One passage, so the answer cites what it quotes."""
    if not ranked:
        return "", []
    best = ranked[0][0]
    chosen: list[Candidate] = []
    for candidate, score in ranked:
        if len(chosen) == limit:
            break
        if candidate.n != best.n or any(c.text == candidate.text for c in chosen):
            continue
        if chosen and min_score is not None and score < min_score:
            continue  # beside the point: the filler around a one-fact passage
        chosen.append(candidate)
    parts: list[str] = []
    quoted: set[str] = set()
    for candidate in sorted(chosen, key=lambda c: c.order):
        if candidate.text in quoted:
            continue  # already quoted as the continuation of a lead-in
        text = candidate.text
        short = len(text.split()) < _SHORT_WORDS or text.endswith(":")
        if candidate.following and short:
            text = f"{text} {candidate.following}"
            quoted.add(candidate.following)
        parts.append(_cite(text.rstrip(), candidate.n))
    return " ".join(parts), [best.n]


def sentence_case(text: str) -> str:
    """``text`` with a capital when it starts with a plain lower-case word: a sentence copied
    or cut from its middle ("though for different files, ...", "the default is 5")."""
    if _LOWER_START.match(text):
        return text[0].upper() + text[1:]
    return text


def _cite(text: str, n: int) -> str:
    text = sentence_case(text)
    if text[-1:] in ".!?":
        return f"{text[:-1]} [{n}]{text[-1]}"
    return f"{text} [{n}]."
