"""Typed records passed between the pipeline stages."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Section:
    """A structural piece of extracted text: a page, a slide, a heading's body, a sheet's rows.

    ``start``/``end`` are character offsets into ``ParsedDocument.text``.
    """

    start: int
    end: int
    page: int | None = None  # 1-based page (PDF) or slide (PPTX)
    heading: tuple[str, ...] = ()  # heading path, outermost first; sheet/row range for tables


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    """The text of one file and its structure."""

    text: str
    sections: tuple[Section, ...]
    media_type: str


@dataclass(frozen=True, slots=True)
class Chunk:
    """A retrievable passage of a document version, with where it came from."""

    chunk_id: str
    document_id: str
    version: int
    collection: str
    source: str
    ordinal: int
    text: str
    text_sha256: str
    start: int
    end: int
    page: int | None = None
    heading: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrieved chunk with its retrieval score, as handed to the generator."""

    chunk: Chunk
    score: float


@dataclass(frozen=True, slots=True)
class Citation:
    """A passage the answer cites as ``[n]``."""

    n: int
    passage: Passage


@dataclass(frozen=True, slots=True)
class Quote:
    """A sentence from a passage that best supports the answer (extractive evidence)."""

    n: int
    chunk_id: str
    text: str
    score: float


@dataclass(slots=True)
class Answer:
    """The result of answering one question."""

    question: str
    answer: str
    citations: list[Citation]
    passages: list[Passage]
    abstained: bool
    quotes: list[Quote] = field(default_factory=list)
    cache: str = "miss"
    timings_ms: dict[str, float] = field(default_factory=dict)
    # The answerability gate's score (cross-encoder logit), when it was computed.
    answerability: float | None = None
    # "generated": the model's sentences, each supported by a passage it cites; "extractive":
    # none of them held, so the answer is the passages' own best sentence. None when nothing
    # was written (abstained, or retrieval only).
    answer_mode: str | None = None


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    """The current state of one document (one row of the ``documents`` table)."""

    document_id: str
    collection: str
    source: str
    version: int
    sha256: str
    media_type: str
    size: int
    chunk_count: int
    status: str
    pipeline: str
    embed_model: str
    created_at: str
    updated_at: str
    # The principals that may see it (user:alice, group:eng); empty: everyone who may use
    # its collection.
    access: tuple[str, ...] = ()
