"""Extractive answers: the passages' own sentences that best answer the question, cited.

Used for the quotes shown beside every answer, and as the answer itself when none of the
model's sentences is supported by the passages (``answer_mode: "extractive"``). A sentence is
scored by the embedder's cosine with the question (or question + answer), plus the share of the
question's content words it holds: a reader asking for "the default busy timeout" wants the
sentence that says "busy timeout" and "default", which a paraphrase-minded embedder alone can
rank below a sentence about timeouts in general.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from askdocs.embed.base import Embedder
from askdocs.generate.support import content_words
from askdocs.models import Passage

# A sentence ends at . ! ? followed by white space, or at a blank line.
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\n\s*\n")
_MAX_CHARS = 300
_MIN_CHARS = 20
_MAX_SENTENCES = 60
# Weight of the question's word coverage next to the cosine.
COVERAGE_WEIGHT = 0.3
# A chosen sentence this short (or ending in a colon) is continued by the next one.
_SHORT_WORDS = 8


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


def focus(
    passages: Sequence[Passage], ranked: Sequence[tuple[Candidate, float]], keep: int
) -> list[Passage]:
    """``passages`` cut to their sentences among the ``keep`` best of ``ranked`` (and each to
    at least its own best one), in their order, joined by " … ": a short prompt that puts the
    answer-bearing sentences in front of the model. Numbering is unchanged."""
    chosen: dict[int, set[str]] = {n: set() for n in range(1, len(passages) + 1)}
    for i, (candidate, _) in enumerate(ranked):
        if i < keep or not chosen[candidate.n]:
            chosen[candidate.n].add(candidate.text)
    out = []
    for n, passage in enumerate(passages, start=1):
        parts = [c.text for c, _ in sorted(ranked, key=lambda r: r[0].order) if c.n == n]
        kept = [s for s in parts if s in chosen[n]]
        text = " … ".join(kept) if kept else passage.chunk.text
        out.append(replace(passage, chunk=replace(passage.chunk, text=text)))
    return out


def extractive_answer(
    question: str, passages: Sequence[Passage], embedder: Embedder
) -> tuple[str, list[int]]:
    """The best sentence of ``passages`` as a cited answer (continued by the next sentence when
    it is only a lead-in), and the passage numbers it cites; ("", []) when there is none."""
    return answer_from(rank(question, sentences(passages), embedder))


def answer_from(ranked: Sequence[tuple[Candidate, float]]) -> tuple[str, list[int]]:
    """``extractive_answer`` from sentences already ranked."""
    if not ranked:
        return "", []
    best = ranked[0][0]
    text = best.text
    if best.following and (len(text.split()) < _SHORT_WORDS or text.endswith(":")):
        text = f"{text} {best.following}"
    text = text.rstrip()
    marker = f" [{best.n}]"
    if text[-1:] in ".!?":
        return text[:-1] + marker + text[-1], [best.n]
    return text + marker, [best.n]
