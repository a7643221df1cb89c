"""Chunker: token bounds, offsets, structure, overlap."""

from __future__ import annotations

import itertools

from askdocs.chunk import chunk_document, embedding_text
from askdocs.models import ParsedDocument, Section
from askdocs.settings import ChunkSettings

from fakes import FakeEmbedder

SETTINGS = ChunkSettings(target_tokens=40, overlap_tokens=8, min_tokens=8)


def doc(*sections: tuple[str, int | None, tuple[str, ...]]) -> ParsedDocument:
    text, out = "", []
    for body, page, heading in sections:
        start = len(text)
        text += body
        out.append(Section(start, len(text), page, heading))
        text += "\n\n"
    return ParsedDocument(text, tuple(out), "text/plain")


def test_chunks_respect_the_token_limit_and_offsets() -> None:
    embedder = FakeEmbedder(max_tokens=50)
    body = " ".join(f"Sentence number {i} talks about topic {i % 7}." for i in range(200))
    parsed = doc((body, None, ("Guide", "Details")))
    chunks = chunk_document(parsed, embedder.token_spans, embedder.max_tokens, SETTINGS)
    assert len(chunks) > 10
    for c in chunks:
        text = parsed.text[c.start : c.end]
        assert len(embedder.token_spans(embedding_text(text, c.heading))) <= embedder.max_tokens
        assert c.heading == ("Guide", "Details")
        assert text == text.strip()
    # Everything is covered, and consecutive chunks overlap a little.
    assert chunks[0].start == 0 and chunks[-1].end == len(body)
    for a, b in itertools.pairwise(chunks):
        assert b.start < a.end, "expected overlap"
        assert b.start > a.start


def test_chunks_prefer_sentence_ends() -> None:
    embedder = FakeEmbedder(max_tokens=60)
    body = " ".join(f"This is sentence {i} of the text." for i in range(60))
    parsed = doc((body, None, ()))
    chunks = chunk_document(parsed, embedder.token_spans, embedder.max_tokens, SETTINGS)
    assert all(parsed.text[c.start : c.end].endswith(".") for c in chunks)


def test_chunks_never_cross_sections_and_keep_pages() -> None:
    embedder = FakeEmbedder()
    parsed = doc(("Page one text.", 1, ()), ("Page two text.", 2, ()), ("Three.", 3, ("H",)))
    chunks = chunk_document(parsed, embedder.token_spans, embedder.max_tokens, SETTINGS)
    assert [(c.page, parsed.text[c.start : c.end]) for c in chunks] == [
        (1, "Page one text."),
        (2, "Page two text."),
        (3, "Three."),
    ]
    assert chunks[2].heading == ("H",)


def test_a_word_longer_than_the_limit_is_still_cut() -> None:
    embedder = FakeEmbedder(max_tokens=30)
    body = "-" * 500  # every dash is a token in the fake tokenizer, with no spaces between
    parsed = doc((body, None, ()))
    chunks = chunk_document(parsed, embedder.token_spans, embedder.max_tokens, SETTINGS)
    assert chunks
    assert all(len(embedder.token_spans(parsed.text[c.start : c.end])) <= 30 for c in chunks)
    assert chunks[-1].end == 500
