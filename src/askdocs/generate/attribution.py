"""Citation checking: a [n] stays only where passage n supports the sentence it ends.

Small models cite loosely (SmolLM2-135M often numbers passages wrongly or copies a passage's
header), so every sentence of an answer is checked against the passages by word overlap: an
unsupported citation is dropped, and a sentence without one gets the passage that clearly
supports it. A reader can then trust that [n] points at text containing the claim's words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from askdocs.generate.prompt import clean_answer, extract_citations, location_parts
from askdocs.models import Passage

_WORD = re.compile(r"[a-z0-9_]+")
_STOP = frozenset(
    """a an and are as at be by can do does for from has have how i if in into is it its of on
    or that the their them then there these they this to was we were what when where which who
    will with you your not no yes""".split()
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_MARKERS = re.compile(r"\s*\[[\d,\s]+\]")
# Below this share of a sentence's words found in a passage, the passage does not support it.
KEEP_SUPPORT = 0.5
# A sentence without a citation gets one only when a passage holds this share of its words.
ADD_SUPPORT = 0.7


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1}


def _support(sentence: set[str], passage: set[str]) -> float:
    return len(sentence & passage) / len(sentence) if sentence else 0.0


def strip_echoed_headers(answer: str, used: Sequence[Passage]) -> str:
    """Remove "(source, page 2)"-style passage headers the model copied into its answer."""
    for passage in used:
        where = location_parts(passage)
        for size in range(len(where), 0, -1):
            answer = answer.replace("(" + ", ".join(where[:size]) + ")", "")
    return re.sub(r"[ \t]{2,}", " ", answer).strip()


def attribute(answer: str, used: Sequence[Passage]) -> str:
    """The answer with each sentence's citations checked against the passages it names."""
    answer = clean_answer(strip_echoed_headers(answer, used), len(used))
    passages = [_words(p.chunk.text + " " + " ".join(p.chunk.heading)) for p in used]
    out = []
    for sentence in _SENTENCE.split(answer):
        if not sentence.strip():
            continue
        bare = _MARKERS.sub("", sentence).strip()
        words = _words(bare)
        cited = extract_citations(sentence, len(used))
        keep = [n for n in cited if _support(words, passages[n - 1]) >= KEEP_SUPPORT]
        if not keep and words:
            scores = [_support(words, p) for p in passages]
            best = max(range(len(scores)), key=scores.__getitem__, default=None)
            if best is not None and scores[best] >= ADD_SUPPORT:
                keep = [best + 1]
        if not bare:
            continue
        marker = " [" + ", ".join(str(n) for n in keep) + "]" if keep else ""
        if marker and bare[-1] in ".!?":
            out.append(bare[:-1] + marker + bare[-1])
        else:
            out.append(bare + marker)
    return " ".join(out)
