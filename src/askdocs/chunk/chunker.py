"""Cuts a parsed document into passages that the embedder reads whole.

Chunks never cross a section (page, slide, heading body), prefer to end at a paragraph, then a
sentence, then a line, then a word, and overlap the previous chunk by a few tokens. Sizes are
counted with the embedder's own tokenizer: MiniLM silently drops everything after 256 word
pieces, so a chunk sized in words or characters would lose its tail.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from askdocs.models import ParsedDocument, Section
from askdocs.settings import ChunkSettings

TokenSpans = Callable[[str], list[tuple[int, int]]]

_SENTENCE_END = re.compile(r"[.!?:;][\"')\]]*$")


@dataclass(frozen=True, slots=True)
class ChunkSpan:
    """Where a chunk lies in the document text, and its place in the structure."""

    start: int
    end: int
    page: int | None
    heading: tuple[str, ...]


def embedding_text(text: str, heading: tuple[str, ...]) -> str:
    """What the embedder and keyword index see: the heading path gives a passage its context."""
    if not heading:
        return text
    return " > ".join(heading) + "\n" + text


def _break_quality(text: str, prev_end: int, next_start: int) -> int:
    """How good a place it is to cut between two tokens (higher is better)."""
    gap = text[prev_end:next_start]
    if "\n\n" in gap or "\n\r\n" in gap:
        return 4
    if gap and _SENTENCE_END.search(text[max(prev_end - 3, 0) : prev_end]):
        return 3
    if "\n" in gap:
        return 2
    if gap:
        return 1
    return 0  # inside a word: only when nothing else fits


def _split_section(
    text: str,
    section: Section,
    token_spans: TokenSpans,
    budget: int,
    hard_max: int,
    settings: ChunkSettings,
) -> list[tuple[int, int]]:
    body = text[section.start : section.end]
    spans = token_spans(body)
    if not spans:
        return []
    n = len(spans)
    if n <= hard_max and n <= budget + settings.min_tokens:
        return [(section.start + spans[0][0], section.start + spans[-1][1])]
    pieces: list[tuple[int, int]] = []
    i = 0
    while i < n:
        limit = min(i + budget, n)
        if limit == n:
            cut = n
        else:
            cut, best = limit, -1
            # Search backwards for the best break, but keep chunks from getting tiny.
            for j in range(limit, i + max(settings.min_tokens, budget // 3), -1):
                quality = _break_quality(body, spans[j - 1][1], spans[j][0])
                if quality > best:
                    cut, best = j, quality
                    if quality == 4:
                        break
        pieces.append((section.start + spans[i][0], section.start + spans[cut - 1][1]))
        if cut >= n:
            break
        nxt = max(cut - settings.overlap_tokens, i + 1)
        # Start the overlap at a word boundary so no chunk begins mid-word.
        while nxt < cut and spans[nxt][0] == spans[nxt - 1][1]:
            nxt += 1
        i = nxt
    return pieces


def chunk_document(
    document: ParsedDocument,
    token_spans: TokenSpans,
    max_tokens: int,
    settings: ChunkSettings,
) -> list[ChunkSpan]:
    """Chunk spans for every section, in document order."""
    chunks: list[ChunkSpan] = []
    for section in document.sections:
        head_tokens = (
            len(token_spans(embedding_text("", section.heading))) if section.heading else 0
        )
        hard_max = max(max_tokens - head_tokens, 16)
        budget = max(min(settings.target_tokens, hard_max) - head_tokens, 16)
        for start, end in _split_section(
            document.text, section, token_spans, budget, hard_max, settings
        ):
            chunk_text = document.text[start:end]
            # A word piece count of the final text can differ at the edges; re-check it.
            while len(token_spans(embedding_text(chunk_text, section.heading))) > max_tokens:
                end = start + int(len(chunk_text) * 0.9)
                chunk_text = document.text[start:end]
            chunks.append(ChunkSpan(start, end, section.page, section.heading))
    return chunks
