"""Training pairs (question, passage) for fine-tuning the embedder on the user's own documents:
from given questions with their expected files, from heading paths, or from questions the
generator writes for passages; and the held-out split that judges the result.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.compute as pc

from askdocs.chunk import embedding_text
from askdocs.container import Container
from askdocs.embed.base import Embedder
from askdocs.evaluation.dataset import EvalQuestion
from askdocs.evaluation.errors import DatasetError
from askdocs.generate.base import Generator, Message
from askdocs.models import Chunk

# A heading shorter than this says too little to stand for a question ("1.", "Notes").
_MIN_HEADING_CHARS = 12
_QUESTION_PROMPT = (
    "Write one short question that the passage below answers. Reply with the question only.\n\n"
    "Passage:\n{passage}"
)


@dataclass(frozen=True, slots=True)
class TrainingPair:
    """A query and the passage that answers it; ``source`` is the passage's file name."""

    query: str
    passage: str
    source: str
    origin: str  # given | heading | generated


def collection_chunks(container: Container, collection: str) -> list[Chunk]:
    """The live passages of a collection, read from the Delta tables (the source of truth)."""
    live = {
        (d.document_id, d.version)
        for d in container.tables.read_documents()
        if d.collection == collection
    }
    if not live:
        raise DatasetError(f"collection {collection!r} has no documents: ingest some first")
    table = container.tables.read_chunks()
    table = table.filter(pc.equal(table["collection"], collection)).drop_columns(["vector"])
    chunks = []
    for row in table.to_pylist():
        if (row["document_id"], row["version"]) not in live:
            continue
        heading = tuple(row.pop("heading") or ())
        row.pop("embed_model", None)
        chunks.append(Chunk(**row, heading=heading))
    return sorted(chunks, key=lambda c: (c.source, c.ordinal))


def passage_text(chunk: Chunk) -> str:
    """What the index embeds for a passage: its heading path, then its text."""
    return embedding_text(chunk.text, chunk.heading)


def heading_pairs(chunks: Sequence[Chunk]) -> list[TrainingPair]:
    """The last heading of a passage as its query: headings name what a section answers.

    The passage goes without its heading (the index embeds it with), or the pair would be
    a string match. Each heading is used once (its first passage), so long sections do not
    dominate.
    """
    pairs, seen = [], set()
    for chunk in chunks:
        if not chunk.heading:
            continue
        query = chunk.heading[-1].strip()
        key = (chunk.document_id, query.lower())
        if len(query) < _MIN_HEADING_CHARS or key in seen:
            continue
        seen.add(key)
        body = _without_title(chunk.text, query)
        if len(body.split()) >= 8:
            pairs.append(TrainingPair(query, body, Path(chunk.source).name, "heading"))
    return pairs


def _without_title(text: str, title: str) -> str:
    """The text without leading lines that repeat the title or underline it (reST, Markdown)."""
    lines = text.splitlines()
    while lines and (
        not lines[0].strip()
        or (title.lower() in lines[0].lower() and len(lines[0]) <= len(title) + 20)
        or set(lines[0].strip()) <= set("=-~^*#+`'\"")
    ):
        lines.pop(0)
    return "\n".join(lines).strip()


def given_pairs(
    questions: Sequence[EvalQuestion], chunks: Sequence[Chunk], embedder: Embedder
) -> list[TrainingPair]:
    """One pair per question with expected files: the passage of those files that the current
    embedder finds closest to the question (a file is long, the answer is one passage)."""
    by_file: dict[str, list[Chunk]] = {}
    for chunk in chunks:
        by_file.setdefault(Path(chunk.source).name, []).append(chunk)
    pairs = []
    for question in questions:
        candidates = [c for page in question.pages for c in by_file.get(page, [])]
        if not candidates or question.negative:
            continue
        vectors = embedder.embed([question.question] + [passage_text(c) for c in candidates])
        best = candidates[int(np.argmax(vectors[1:] @ vectors[0]))]
        pairs.append(
            TrainingPair(question.question, passage_text(best), Path(best.source).name, "given")
        )
    return pairs


def generated_pairs(
    chunks: Sequence[Chunk],
    generator: Generator,
    count: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
) -> list[TrainingPair]:
    """Questions the generator writes for ``count`` passages drawn at random."""
    rng = random.Random(seed)
    sample = rng.sample(list(chunks), min(count, len(chunks)))
    pairs = []
    for n, chunk in enumerate(sample, start=1):
        prompt = _QUESTION_PROMPT.format(passage=chunk.text[:1500])
        text = "".join(generator.stream([Message("user", prompt)], max_tokens=48, temperature=0))
        question = _first_question(text)
        if question:
            source = Path(chunk.source).name
            pairs.append(TrainingPair(question, passage_text(chunk), source, "generated"))
        if progress is not None:
            progress(n)
    return pairs


def _first_question(text: str) -> str | None:
    """The first line that reads as a question; small models add chatter around it."""
    for line in text.splitlines():
        line = line.strip().strip('"').strip()
        if line.endswith("?") and 3 <= len(line.split()) <= 40:
            return line
    return None


def split_pairs(
    pairs: Sequence[TrainingPair], held_out: float, seed: int
) -> tuple[list[TrainingPair], list[TrainingPair]]:
    """Train and held-out pairs; a query is on one side only, decided by a hash of it, so the
    split is stable across runs and data set order."""
    if not 0 < held_out < 1:
        raise DatasetError("the held-out share must be between 0 and 1")
    train: list[TrainingPair] = []
    test: list[TrainingPair] = []
    for pair in pairs:
        digest = hashlib.sha256(f"{seed}\0{pair.query.lower()}".encode()).digest()
        share = int.from_bytes(digest[:8], "big") / 2**64
        (test if share < held_out else train).append(pair)
    if not train or not test:
        raise DatasetError(
            f"{len(pairs)} training pairs are too few to hold {held_out:.0%} out: add pairs"
        )
    return train, test
