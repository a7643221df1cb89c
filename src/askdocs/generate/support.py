"""Is a sentence supported by a passage? The check every sentence of a shown answer passes.

A sentence is a *claim* made of its numbers, its names (code names and proper names, found the
way abstention finds them) and its content words (lower-cased, stemmed, without stop words and
without talk about the answer itself: "answer", "passage", "according"...).

- **supported** by a passage (the rule answers are held to): one window of at most two
  consecutive sentences of the passage holds every number of the claim (digits compared
  without thousands separators: 1,000 = 1000) and every name (as a whole word, case aside), and
  at least ``SUPPORTED_SHARE`` of the content words occur in that window, the passage's heading
  path or its file name, counting the question's own words as given (restating the question
  claims nothing new), though at least ``ANCHOR_SHARE`` of the question's words that the
  claim repeats and the passage uses must be in the window itself. The window matters: "the
  largest page size is 4096" is not supported by a passage that says 65536 is the largest and
  mentions 4096 as a default three sentences later.
- **strictly supported** (the second, stricter check the benchmarks also report): one window of
  at most two consecutive sentences of the passage holds every number, every name and at
  least ``STRICT_SHARE`` of the content words, the question's words not given.

Sentences are cut as the extractive answers cut them (at . ! ? and blank lines), so a quoted
sentence is one sentence of its passage. A sentence with no number, name or content word ("The
answer is:") is no claim at all.
Lexical support cannot see a changed relation between the same words ("X is not Y"), which is
why answers quote the passage's own sentences where the model's do not hold.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import snowballstemmer

from askdocs.retrieve.hybrid import named_terms

# A claim is supported when this share of its content words is in the passage (question words
# count as given); the strict check wants this share within two consecutive sentences.
SUPPORTED_SHARE = 0.7
# ... and at least this share of the claim's words that come from the question and occur in the
# passage must be in the window itself: the question's words are given, but the value has to
# stand next to what the question asks about.
ANCHOR_SHARE = 0.6
# ... and at least this share of the claim's words that are not the question's must be in the
# window: "The footbridge is closed on the day it was opened" asked "On which day is the
# footbridge closed?" is four fifths the question's words, and its one new word is invented.
NEW_SHARE = 0.5
STRICT_SHARE = 0.9

_STOP = frozenset(
    """a about above after again all also an and any are as at be because been before being
    below between both but by can could did do does doing down during each either else etc even
    ever every few for from further had has have having here how however i if in into is it its
    itself just least less let like likely made make many may me might more most much must my
    need needs neither no nor not now of off often on once one only or other otherwise our out
    over own per rather same shall she should since so some such than that the their them then
    there therefore these they this those through thus to too under until up upon us use used
    uses using very via was we well were what whatever when where whether which while who whom
    whose why will with within without would yes yet you your""".split()
)
# Words about the answer rather than the documents: a model says them, no passage need.
_META = frozenset(
    """according answer answers based context document documents excerpt given information
    mention mentioned mentions note passage passages provided question refer referred refers
    said say says section source sources state stated states text""".split()
)
_TOKEN = re.compile(r"[a-z0-9_]+")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*")
_MARKER = re.compile(r"\[[\d,\s\-–]+\]")
# As the extractive answers cut them: a quoted sentence is one sentence of its passage.
_PASSAGE_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n\s*\n")


@lru_cache(maxsize=1)
def _stemmer() -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer("english")


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return str(_stemmer().stemWord(word))


def content_words(text: str) -> frozenset[str]:
    """Stemmed content words of ``text``: no stop words, no digits-only tokens, no answer talk."""
    words = _TOKEN.findall(text.lower())
    return frozenset(
        _stem(w)
        for w in words
        if w not in _STOP and w not in _META and len(w) > 1 and not w.isdigit()
    )


def numbers(text: str) -> frozenset[str]:
    """The numbers ``text`` states, thousands separators removed, trailing periods dropped."""
    found = set()
    for match in _NUMBER.finditer(_MARKER.sub(" ", text)):
        value = match.group().rstrip(".,")
        if re.fullmatch(r"\d{1,3}(?:,\d{3})+", value):
            value = value.replace(",", "")
        found.add(value)
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class Claim:
    """What a sentence asserts, in the terms support is checked with."""

    words: frozenset[str]
    numbers: frozenset[str]
    names: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not (self.words or self.numbers or self.names)


def claim(sentence: str) -> Claim:
    bare = _MARKER.sub(" ", sentence)
    return Claim(content_words(bare), numbers(bare), tuple(named_terms(bare)))


@dataclass(frozen=True, slots=True)
class Evidence:
    """A passage, prepared once for checking many sentences against it."""

    text: str
    words: frozenset[str]  # the text's words plus its heading path and file name
    numbers: frozenset[str]
    sentences: tuple[tuple[str, frozenset[str], frozenset[str]], ...]  # text, words, numbers
    context: frozenset[str] = frozenset()  # the heading path's and file name's words


def evidence(text: str, context: Iterable[str] = ()) -> Evidence:
    """``text`` is the passage; ``context`` its heading path and file name."""
    parts = [" ".join(p.split()) for p in _PASSAGE_SENTENCE.split(text) if p.strip()]
    sentences = tuple((p, content_words(p), numbers(p)) for p in parts)
    extra = content_words(" ".join(context))
    return Evidence(text, content_words(text) | extra, numbers(text), sentences, extra)


def _mentions(text: str, name: str) -> bool:
    words = [re.escape(w) for w in name.split()]
    return re.search(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", text, re.IGNORECASE) is not None


def support(claim: Claim, passage: Evidence, given: frozenset[str] = frozenset()) -> float:
    """The best share, over windows of two consecutive sentences, of the claim's content words
    found in the window, the passage's context or ``given``; windows that miss a number or a
    name of the claim count 0."""
    if not claim.numbers <= passage.numbers:
        return 0.0
    if not all(_mentions(passage.text, name) for name in claim.names):
        return 0.0
    best = 0.0
    # The question's words the claim repeats and the passage uses: they place the claim.
    anchors = claim.words & given & passage.words
    for text, words, nums in _windows(passage):
        if not claim.numbers <= nums or not all(_mentions(text, n) for n in claim.names):
            continue
        if not claim.words:
            return 1.0 if (claim.numbers or claim.names) else 0.0
        if anchors and len(anchors & words) < ANCHOR_SHARE * len(anchors):
            continue  # the value stands away from what the question asks about
        found = words | passage.context
        new = claim.words - given
        if new and len(new & found) < NEW_SHARE * len(new):
            continue  # what the sentence adds to the question is not in the window
        share = len(claim.words & (found | given)) / len(claim.words)
        best = max(best, share)
    return best


def _windows(passage: Evidence) -> Iterable[tuple[str, frozenset[str], frozenset[str]]]:
    """Each run of at most two consecutive sentences: its text, words and numbers."""
    rows = passage.sentences
    for i in range(len(rows)):
        window = rows[i : i + 2]
        yield (
            " ".join(r[0] for r in window),
            frozenset().union(*(r[1] for r in window)),
            frozenset().union(*(r[2] for r in window)),
        )


def supported(claim: Claim, passage: Evidence, given: frozenset[str] = frozenset()) -> bool:
    """Whether the passage supports the claim (the rule in the module docstring)."""
    return not claim.empty and support(claim, passage, given) >= SUPPORTED_SHARE


def strictly_supported(claim: Claim, passage: Evidence) -> bool:
    """Whether at most two consecutive sentences of the passage hold the whole claim."""
    if claim.empty:
        return False
    for text, words, nums in _windows(passage):
        if not claim.numbers <= nums:
            continue
        if not all(_mentions(text, name) for name in claim.names):
            continue
        share = len(claim.words & words) / len(claim.words) if claim.words else 1.0
        if share >= STRICT_SHARE:
            return True
    return False
