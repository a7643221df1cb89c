"""Runs a data set through the answering service, as a user's question would go, and records
what each question got back.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from askdocs.container import Container
from askdocs.evaluation.dataset import EvalDataset, EvalQuestion, write_corpus
from askdocs.evaluation.errors import DatasetError
from askdocs.evaluation.metrics import QuestionResult, distinct_sources
from askdocs.models import Answer
from askdocs.services.answering import AskOptions
from askdocs.services.ingestion import IngestOutcome

Progress = Callable[[QuestionResult], None]


@dataclass(frozen=True, slots=True)
class EvalOptions:
    """How the questions are asked."""

    collections: tuple[str, ...] = ()
    generate: bool = True
    use_cache: bool = True
    # Passages retrieved per question; None: the retriever's candidate count, so that ten
    # distinct sources are usually there for hit@10 and MRR@10.
    depth: int | None = None
    # Score every question's answerability, for calibrating the gate (~0.3 s a question).
    calibrate: bool = False


@dataclass(frozen=True, slots=True)
class PreparedCorpus:
    """A folder ingested into its own collection, and what ingestion did."""

    collection: str
    outcomes: list[IngestOutcome]
    removed: int


def corpus_collection(corpus: Path) -> str:
    """A collection name of its own for a corpus folder, stable across runs."""
    resolved = str(corpus.resolve())
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", corpus.resolve().name).strip("-")[:32] or "corpus"
    return f"eval-{slug}-{hashlib.sha256(resolved.encode()).hexdigest()[:8]}"


def prepare_corpus(
    container: Container,
    corpus: Path,
    collection: str,
    progress: Callable[[IngestOutcome, int], None] | None = None,
    *,
    mirror: bool = True,
) -> PreparedCorpus:
    """Ingest ``corpus`` into ``collection``; with ``mirror``, make it hold exactly those files.

    Unchanged files are skipped by ingestion, so a re-run embeds nothing. Mirroring deletes the
    collection's documents whose file left the folder; it is for collections of our own naming,
    never for a collection the user named, which may hold other documents.
    """
    if not corpus.is_dir():
        raise DatasetError(f"corpus folder {corpus} does not exist or is not a folder")
    files, _ = container.ingestion.find_files([corpus])
    return _ingest(container, files, collection, progress, mirror=mirror, where=str(corpus))


def _ingest(
    container: Container,
    files: list[Path],
    collection: str,
    progress: Callable[[IngestOutcome, int], None] | None,
    *,
    mirror: bool,
    where: str,
) -> PreparedCorpus:
    outcomes = container.ingestion.ingest_files(files, collection=collection, progress=progress)
    if not any(o.status != "failed" for o in outcomes):
        raise DatasetError(f"no file of {where} could be ingested")
    present = {o.source for o in outcomes if o.status != "failed"}
    removed = 0
    for record in container.tables.read_documents() if mirror else []:
        if record.collection == collection and record.source not in present:
            container.ingestion.delete(record.document_id)
            removed += 1
    return PreparedCorpus(collection, outcomes, removed)


def prepare_dataset_corpus(
    container: Container,
    dataset: EvalDataset,
    progress: Callable[[IngestOutcome, int], None] | None = None,
) -> PreparedCorpus | None:
    """A BEIR data set's corpus, written as files under the data dir and ingested."""
    if not dataset.corpus:
        return None
    # Under the data dir, which folder walks skip, so the files are listed here.
    folder = container.settings.data_dir / "eval" / "corpora" / dataset.sha256[:16]
    write_corpus(dataset, folder)
    files = [(folder / doc.file_name).resolve() for doc in dataset.corpus]
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", dataset.name).strip("-")[:32] or "beir"
    collection = f"beir-{slug}-{dataset.sha256[:8]}"
    return _ingest(container, files, collection, progress, mirror=True, where=dataset.name)


def run_eval(
    container: Container,
    dataset: EvalDataset,
    options: EvalOptions,
    progress: Progress | None = None,
) -> list[QuestionResult]:
    """Ask every question through the answering service and record the outcome."""
    depth = options.depth or max(
        container.settings.retrieve.candidates, container.settings.retrieve.k
    )
    ask = AskOptions(
        collections=options.collections,
        k=depth,
        generate=options.generate,
        use_cache=options.use_cache,
        score_answerability=options.calibrate,
    )
    results = []
    for question in dataset.questions:
        started = time.perf_counter()
        answer = container.answering.answer(question.question, ask)
        wall_ms = (time.perf_counter() - started) * 1000
        result = question_result(question, answer, generated=options.generate, wall_ms=wall_ms)
        results.append(result)
        if progress is not None:
            progress(result)
    return results


def question_result(
    question: EvalQuestion, answer: Answer, *, generated: bool, wall_ms: float
) -> QuestionResult:
    """What the metrics need from one answer; sources are compared by file name."""
    sources = distinct_sources(Path(p.chunk.source).name for p in answer.passages)
    cited = distinct_sources(Path(c.passage.chunk.source).name for c in answer.citations)
    timings = dict(answer.timings_ms)
    timings.setdefault("total", wall_ms)
    return QuestionResult(
        id=question.id,
        kind=question.kind,
        question=question.question,
        sources=tuple(sources),
        expected=question.pages,
        negative=question.negative,
        abstained=answer.abstained,
        answer=answer.answer,
        answer_patterns=question.answer_patterns,
        generated=generated,
        cited=tuple(cited),
        grades=question.grades,
        cache=answer.cache,
        timings_ms=timings,
        best_score=answer.passages[0].score if answer.passages else None,
        answerability=answer.answerability,
        answer_mode=answer.answer_mode,
    )
