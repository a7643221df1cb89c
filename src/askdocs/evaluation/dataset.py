"""Evaluation data sets: question JSONL files, or a BEIR folder with a corpus and graded qrels."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from askdocs.evaluation.errors import DatasetError

NEGATIVE = "negative"
# The kind of a JSONL question that names none, and of every BEIR query.
GENERAL = "general"
RETRIEVAL = "retrieval"


@dataclass(frozen=True, slots=True)
class EvalQuestion:
    """One question and what a right response looks like.

    ``pages`` are expected source file names (any one counts); ``grades`` holds graded relevance
    per source file name when the data set has qrels (BEIR), else it is empty.
    """

    id: str
    question: str
    pages: tuple[str, ...] = ()
    answer_patterns: tuple[str, ...] = ()
    kind: str = GENERAL
    grades: dict[str, int] = field(default_factory=dict)

    @property
    def negative(self) -> bool:
        """The right behaviour is to say the documents do not contain the answer."""
        return self.kind == NEGATIVE

    @property
    def answerable(self) -> bool:
        return bool(self.pages) and not self.negative


@dataclass(frozen=True, slots=True)
class CorpusDocument:
    """A BEIR corpus entry, written to a text file so the normal ingestion reads it."""

    id: str
    title: str
    text: str

    @property
    def file_name(self) -> str:
        return source_name(self.id)


@dataclass(frozen=True, slots=True)
class EvalDataset:
    """Questions plus, for BEIR folders, the corpus they are asked about."""

    name: str
    questions: tuple[EvalQuestion, ...]
    sha256: str
    corpus: tuple[CorpusDocument, ...] = ()

    @property
    def graded(self) -> bool:
        return any(q.grades for q in self.questions)

    def kinds(self) -> list[str]:
        return sorted({q.kind for q in self.questions})


def source_name(doc_id: str) -> str:
    """The file name a BEIR document id is written under (ids may hold '/' or spaces)."""
    return quote(doc_id, safe="") + ".txt"


def load_dataset(paths: Sequence[Path]) -> EvalDataset:
    """One BEIR folder, or one or more question JSONL files merged (ids must stay unique)."""
    if not paths:
        raise DatasetError("give a data set: a questions .jsonl file or a BEIR folder")
    for path in paths:
        if not path.exists():
            raise DatasetError(f"data set {path} does not exist")
    if any(p.is_dir() for p in paths):
        if len(paths) != 1:
            raise DatasetError("a BEIR folder is evaluated on its own: give only the folder")
        return load_beir(paths[0])
    questions: list[EvalQuestion] = []
    digest = hashlib.sha256()
    for path in paths:
        data = path.read_bytes()
        digest.update(hashlib.sha256(data).digest())
        questions += parse_jsonl(data, path.name)
    _check_unique(questions)
    if not questions:
        raise DatasetError(f"{', '.join(str(p) for p in paths)}: no questions")
    name = "+".join(p.stem for p in paths)
    return EvalDataset(name, tuple(questions), digest.hexdigest())


def parse_jsonl(data: bytes, where: str) -> list[EvalQuestion]:
    """Questions of one JSONL file; every problem names its line."""
    return [_question(raw, at) for raw, at in json_lines(data.decode("utf-8"), where)]


def json_lines(text: str, name: str) -> list[tuple[dict[str, Any], str]]:
    """The JSON objects of JSONL text, each with the ``name:line`` it came from."""
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{name}:{n}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{where}: not JSON ({exc.msg})") from exc
        if not isinstance(raw, dict):
            raise DatasetError(f"{where}: expected a JSON object")
        out.append((raw, where))
    return out


def _question(raw: dict[str, Any], where: str) -> EvalQuestion:
    qid, question = raw.get("id"), raw.get("question")
    if not isinstance(qid, str) or not qid:
        raise DatasetError(f'{where}: missing "id"')
    if not isinstance(question, str) or not question.strip():
        raise DatasetError(f'{where}: missing "question"')
    pages = _strings(raw.get("pages", []), "pages", where)
    patterns = _strings(raw.get("answer_patterns", []), "answer_patterns", where)
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise DatasetError(
                f"{where}: answer pattern {pattern!r} is not a regex ({exc})"
            ) from exc
    kind = raw.get("kind") or GENERAL
    if not isinstance(kind, str):
        raise DatasetError(f'{where}: "kind" must be a string')
    if kind == NEGATIVE and pages:
        raise DatasetError(
            f"{where}: a negative question has no pages (its answer_patterns, if any, "
            "describe a right refusal)"
        )
    return EvalQuestion(qid, question.strip(), tuple(pages), tuple(patterns), kind)


def _strings(value: object, key: str, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DatasetError(f'{where}: "{key}" must be a list of strings')
    return list(value)


def _check_unique(questions: Sequence[EvalQuestion]) -> None:
    seen: set[str] = set()
    for q in questions:
        if q.id in seen:
            raise DatasetError(f"question id {q.id!r} appears twice: ids must be unique")
        seen.add(q.id)


def load_beir(folder: Path) -> EvalDataset:
    """corpus.jsonl, queries.jsonl and qrels/test.tsv; queries without relevant documents
    are left out, as BEIR's own evaluation does."""
    files = [folder / "corpus.jsonl", folder / "queries.jsonl", folder / "qrels" / "test.tsv"]
    for path in files:
        if not path.is_file():
            raise DatasetError(
                f"{folder} is not a BEIR folder: {path.relative_to(folder)} is missing "
                "(expected corpus.jsonl, queries.jsonl and qrels/test.tsv)"
            )
    digest = hashlib.sha256()
    for path in files:
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    corpus = [_corpus_document(raw, where) for raw, where in _records(files[0])]
    if not corpus:
        raise DatasetError(f"{files[0]}: the corpus is empty")
    known = {d.id for d in corpus}
    texts = {}
    for raw, where in _records(files[1]):
        qid, text = raw.get("_id"), raw.get("text")
        if not isinstance(qid, str | int) or not isinstance(text, str) or not text.strip():
            raise DatasetError(f'{where}: a query needs "_id" and "text"')
        texts[str(qid)] = text.strip()
    grades = _qrels(files[2], known)
    questions = [
        EvalQuestion(
            qid,
            texts[qid],
            tuple(source_name(d) for d, g in sorted(rel.items()) if g > 0),
            kind=RETRIEVAL,
            grades={source_name(d): g for d, g in rel.items()},
        )
        for qid, rel in grades.items()
        if qid in texts and any(g > 0 for g in rel.values())
    ]
    if not questions:
        raise DatasetError(f"{folder}: no query in queries.jsonl has a relevant document in qrels")
    return EvalDataset(folder.name, tuple(questions), digest.hexdigest(), tuple(corpus))


def _records(path: Path) -> list[tuple[dict[str, Any], str]]:
    return json_lines(path.read_text(encoding="utf-8"), path.name)


def _corpus_document(raw: dict[str, Any], where: str) -> CorpusDocument:
    doc_id, text = raw.get("_id"), raw.get("text")
    if not isinstance(doc_id, str | int) or not isinstance(text, str):
        raise DatasetError(f'{where}: a corpus entry needs "_id" and "text"')
    title = raw.get("title") or ""
    return CorpusDocument(str(doc_id), str(title), text)


def _qrels(path: Path, known: set[str]) -> dict[str, dict[str, int]]:
    grades: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as f:
        for n, row in enumerate(csv.reader(f, delimiter="\t"), start=1):
            if not row or (n == 1 and row[0] == "query-id"):
                continue
            if len(row) != 3:
                raise DatasetError(f"{path.name}:{n}: expected query-id, corpus-id, score")
            qid, doc_id, score = row
            try:
                grade = int(score)
            except ValueError as exc:
                raise DatasetError(f"{path.name}:{n}: score {score!r} is not an integer") from exc
            if doc_id not in known:
                raise DatasetError(f"{path.name}:{n}: document {doc_id!r} is not in the corpus")
            grades.setdefault(qid, {})[doc_id] = grade
    return grades


def write_corpus(dataset: EvalDataset, folder: Path) -> Path:
    """Write a BEIR corpus as one text file per document (title, blank line, text).

    Files already holding the same text are left alone, so re-running re-embeds nothing.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for doc in dataset.corpus:
        body = f"{doc.title}\n\n{doc.text}\n" if doc.title else f"{doc.text}\n"
        path = folder / doc.file_name
        data = body.encode("utf-8")
        if not path.is_file() or path.read_bytes() != data:
            path.write_bytes(data)
    return folder
