"""Grounding a model's answer as it streams: each finished sentence is cleaned, checked against
the prompt's passages and cited, or left out.

Small models cite loosely, copy passage headers and list numbers, and loop (SmolLM2-135M does
all of it), so nothing the model writes is shown as it comes. A sentence is shown only when a
passage supports it (``askdocs.generate.support``); its ``[n]`` marks are kept where passage n
supports it, and a sentence without a supporting mark gets the best passage that does. A
sentence that shares no content word with the question is left out too: small models copy a
passage's opening lines, true and citable, that answer nothing.
Sentences that repeat an earlier one end the answer, and so do the sentence budget and two
sentences left out before any was shown (the caller then answers extractively). Fragments (a
copied heading, a bare value) are left out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePath

from askdocs.generate.extractive import sentence_case
from askdocs.generate.prompt import clean_answer, extract_citations, location_parts
from askdocs.generate.support import (
    Claim,
    Evidence,
    claim,
    content_words,
    evidence,
    support,
    supported,
)
from askdocs.models import Passage

# A finished sentence: an end mark (closing quotes or brackets after it), any citation marks
# that follow, then white space before more text; or a line break.
_BRACKETS = r"[\[【［〔][^\]】］〕\n]{1,24}[\]】］〕]"
_SENTENCE_END = re.compile(
    rf"[.!?][\"')\]]*(?:\s*{_BRACKETS})*[ \t]+(?=[^\s\[【［〔])|[.!?]?(?:\s*{_BRACKETS})*\s*\n\s*"
)
_ABBREVIATION = re.compile(r"(?:\b(?:e\.g|i\.e|etc|vs|cf|approx|no|fig)|\b[A-Z])\.$", re.I)
_MARKS = re.compile(rf"\s*{_BRACKETS}")
_LIST_START = re.compile(r"^\s*(?:(?:\d{1,2}|[a-z])[.)]|[-*•#>]+)\s+", re.I)
_LEAD_IN = re.compile(
    r"^\s*(?:answer|the answer is|a|response|final answer)\s*[:\-–]\s*", re.IGNORECASE
)
_MARKUP = re.compile(r"\*\*|__|`{3,}|^#+\s*")
# Beyond this many characters without a sentence end, the model is copying a table or
# looping without punctuation: what it has is taken as one sentence and the answer ends.
MAX_SENTENCE_CHARS = 500
# A shown sentence has at least this many words ("417." or "Citations in askdocs." do not).
_MIN_WORDS = 4
# Two sentences with this Jaccard overlap of their claims are the same sentence again.
_REPEAT_OVERLAP = 0.8


def strip_echoed_headers(answer: str, used: Sequence[Passage]) -> str:
    """Remove "(source, page 2)"-style passage headers the model copied into its answer."""
    for passage in used:
        where = location_parts(passage)
        for size in range(len(where), 0, -1):
            answer = answer.replace("(" + ", ".join(where[:size]) + ")", "")
    return re.sub(r"[ \t]{2,}", " ", answer).strip()


@dataclass(frozen=True, slots=True)
class Sentence:
    """A shown sentence: its text without marks and the passages (1-based) that support it."""

    text: str
    cited: tuple[int, ...]

    def render(self) -> str:
        marker = " [" + ", ".join(str(n) for n in self.cited) + "]"
        if self.text[-1:] in ".!?":
            return self.text[:-1] + marker + self.text[-1]
        return self.text + marker + "."


@dataclass(slots=True)
class Grounding:
    """Checks a streamed answer sentence by sentence against the passages it was written from.

    ``feed`` takes the model's text pieces and returns the sentences ready to show (rendered,
    cited); ``finish`` flushes the last one. ``done`` turns true when the answer should stop:
    the sentence budget is spent, or the model repeats itself.
    """

    question: str
    used: Sequence[Passage]
    max_sentences: int = 3
    # Sentences left out before anything was shown that end the answer.
    max_dropped: int = 2
    shown: list[Sentence] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # claims no passage supports
    repeated: bool = False
    done: bool = False
    _buffer: str = ""
    _claims: list[Claim] = field(default_factory=list)
    _evidence: list[Evidence] = field(default_factory=list)
    _given: frozenset[str] = frozenset()
    _headings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self._evidence = [
            evidence(
                p.chunk.text, [*p.chunk.heading, PurePath(p.chunk.source).stem.replace("_", " ")]
            )
            for p in self.used
        ]
        self._given = content_words(self.question)
        self._headings = tuple(
            sorted({h for p in self.used for h in p.chunk.heading if h.strip()}, key=len)[::-1]
        )

    def feed(self, piece: str) -> list[str]:
        if self.done:
            return []
        self._buffer += piece
        out: list[str] = []
        while not self.done:
            end = self._next_end()
            if end is None:
                if len(self._buffer) > MAX_SENTENCE_CHARS:
                    out += self._take(self._buffer)
                    self._buffer = ""
                    self.done = True
                break
            sentence, self._buffer = self._buffer[:end], self._buffer[end:]
            out += self._take(sentence)
        return out

    def finish(self, *, cut_off: bool = False) -> list[str]:
        """The last sentence, unless the model was cut off in the middle of it."""
        rest, self._buffer = self._buffer, ""
        if self.done or cut_off or not rest.strip():
            return []
        return self._take(rest)

    @property
    def text(self) -> str:
        return " ".join(s.render() for s in self.shown)

    def _next_end(self) -> int | None:
        for match in _SENTENCE_END.finditer(self._buffer):
            head = self._buffer[: match.start() + 1].rstrip()
            if match.group()[0] == "." and _ABBREVIATION.search(head):
                continue
            return match.end()
        return None

    def _take(self, raw: str) -> list[str]:
        cited = extract_citations(clean_answer(raw, len(self.used)), len(self.used))
        text = self._clean(raw)
        if not text:
            return []
        said = claim(text)
        if said.empty:
            return []
        if self._fragment(text):
            self._drop(text)
            return []
        if any(_same(said, earlier) for earlier in self._claims):
            self.repeated = self.done = True
            return []
        self._claims.append(said)
        if self._given and not said.words & self._given:
            # True to its passage but not about the question: copied filler, not an answer.
            self._drop(text)
            return []
        asked = self.question.lower()
        if (
            said.words <= self._given
            and not said.numbers
            and all(name.lower() in asked for name in said.names)
        ):
            # The question said back ("... how to keep answers from going stale is to cache
            # them"): nothing the reader did not know.
            self._drop(text)
            return []
        keep = [n for n in cited if supported(said, self._evidence[n - 1], self._given)]
        if not keep:
            best = self._best_support(said)
            keep = [] if best is None else [best]
        if not keep:
            self._drop(text)
            return []
        sentence = Sentence(text, tuple(keep[:2]))
        self.shown.append(sentence)
        if len(self.shown) >= self.max_sentences:
            self.done = True
        prefix = " " if len(self.shown) > 1 else ""
        return [prefix + sentence.render()]

    def _drop(self, text: str) -> None:
        self.dropped.append(text)
        if not self.shown and len(self.dropped) >= self.max_dropped:
            self.done = True  # not answering from the passages: the extractive answer will

    def _fragment(self, text: str) -> bool:
        """A heading, a file name or a bare value copied on its own, a lead-in ("as
        follows:"), or a piece cut out of a sentence (an unmatched bracket): not a sentence."""
        if text.rstrip().endswith(":") or text.count("(") != text.count(")"):
            return True
        words = [w for w in text.split() if len(w) > 3 and w[0].isalpha()]
        if len(words) >= 3 and all(w[0].isupper() for w in words):
            return True  # Title Case: a heading ("Maximum Number Of Tables In A Join")
        bare = text.rstrip(".!?:").strip().lower()
        if len(bare.split()) < _MIN_WORDS:
            return True
        return any(bare == h.lower() for h in self._headings) or any(
            bare == PurePath(p.chunk.source).stem.replace("_", " ").lower() for p in self.used
        )

    def _best_support(self, said: Claim) -> int | None:
        """The passage (1-based) that supports the claim best; the earlier one on a tie."""
        scores = [support(said, e, self._given) for e in self._evidence]
        ranked = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
        if ranked and supported(said, self._evidence[ranked[0]], self._given):
            return ranked[0] + 1
        return None

    def _clean(self, raw: str) -> str:
        """The sentence without citation marks, echoed headers, list numbers and lead-ins."""
        text = strip_echoed_headers(_MARKS.sub("", raw), self.used)
        text = " ".join(_MARKUP.sub("", text).split())
        for _ in range(3):
            before = text
            text = _LEAD_IN.sub("", _LIST_START.sub("", text))
            for heading in self._headings:
                # "Embeddings Embeddings are cached": a heading copied before its text.
                rest = text[len(heading) + 1 :]
                if text.startswith(heading + " ") and rest[:1].isupper():
                    text = rest
                    break
            if text == before:
                break
        text = text.strip(" \t\"'").lstrip(":;,) ")
        return sentence_case(text)


def _same(a: Claim, b: Claim) -> bool:
    left = a.words | a.numbers
    right = b.words | b.numbers
    if not left or not right:
        return False
    return len(left & right) / len(left | right) >= _REPEAT_OVERLAP


def attribute(answer: str, used: Sequence[Passage], question: str = "") -> str:
    """A whole answer grounded at once: the sentences ``Grounding`` would show, joined."""
    grounding = Grounding(
        question, used, max_sentences=len(answer) or 1, max_dropped=len(answer) or 1
    )
    grounding.feed(answer)
    grounding.finish()
    return grounding.text
