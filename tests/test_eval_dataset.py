"""Evaluation data sets: question JSONL files and BEIR folders, and their errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from askdocs.evaluation.dataset import load_dataset, source_name, write_corpus
from askdocs.evaluation.errors import DatasetError


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


QUESTIONS = [
    {
        "id": "q1",
        "question": "What does PRAGMA synchronous default to?",
        "pages": ["pragma.html", "compile.html"],
        "answer_patterns": ["(?i)\\bFULL\\b"],
        "kind": "default",
    },
    {"id": "q2", "question": "Capital of Australia?", "pages": [], "kind": "negative"},
    {"id": "q3", "question": "Why indentation?", "pages": ["faq-1.txt"]},
]


def test_jsonl_questions_load_with_kinds_and_defaults(tmp_path: Path) -> None:
    data = load_dataset([write_jsonl(tmp_path / "set.jsonl", QUESTIONS)])
    assert data.name == "set" and len(data.questions) == 3 and not data.corpus
    q1, q2, q3 = data.questions
    assert q1.pages == ("pragma.html", "compile.html") and q1.answerable and not q1.negative
    assert q2.negative and not q2.answerable
    # The Python FAQ set has no kind and no patterns.
    assert q3.kind == "general" and q3.answer_patterns == () and q3.answerable
    assert data.kinds() == ["default", "general", "negative"]
    assert not data.graded


def test_dataset_hash_follows_the_content(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "set.jsonl", QUESTIONS)
    first = load_dataset([path]).sha256
    assert load_dataset([path]).sha256 == first
    write_jsonl(path, QUESTIONS[:2])
    assert load_dataset([path]).sha256 != first


def test_several_files_merge_and_ids_must_stay_unique(tmp_path: Path) -> None:
    a = write_jsonl(tmp_path / "a.jsonl", QUESTIONS[:1])
    b = write_jsonl(tmp_path / "b.jsonl", QUESTIONS[1:])
    merged = load_dataset([a, b])
    assert merged.name == "a+b" and [q.id for q in merged.questions] == ["q1", "q2", "q3"]
    with pytest.raises(DatasetError, match="'q1' appears twice"):
        load_dataset([a, a])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "set.jsonl:2: not JSON"),
        ('["a list"]', "set.jsonl:2: expected a JSON object"),
        ('{"question": "no id?"}', 'set.jsonl:2: missing "id"'),
        ('{"id": "x", "question": "?", "pages": "a.html"}', '"pages" must be a list'),
        ('{"id": "x", "question": "?", "answer_patterns": ["(unclosed"]}', "is not a regex"),
        ('{"id": "x", "question": "?", "pages": ["a"], "kind": "negative"}', "no pages"),
    ],
)
def test_bad_lines_are_reported_with_their_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text(json.dumps(QUESTIONS[0]) + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=message.replace("(", r"\(")):
        load_dataset([path])


def test_missing_and_empty_data_sets_are_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset([tmp_path / "nope.jsonl"])
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="no questions"):
        load_dataset([tmp_path / "empty.jsonl"])


def make_beir(root: Path) -> Path:
    (root / "qrels").mkdir(parents=True)
    write_jsonl(
        root / "corpus.jsonl",
        [
            {"_id": "d1", "title": "Widgets", "text": "Widgets are teal."},
            {"_id": "doc/2", "title": "", "text": "Gadgets weigh 300 grams."},
            {"_id": "d3", "text": "Bananas are yellow."},
        ],
    )
    write_jsonl(
        root / "queries.jsonl",
        [
            {"_id": "q1", "text": "What colour are widgets?"},
            {"_id": "q2", "text": "How heavy is a gadget?"},
            {"_id": "q3", "text": "Not judged"},
        ],
    )
    (root / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td3\t1\nq2\tdoc/2\t1\nq2\td1\t0\n",
        encoding="utf-8",
    )
    return root


def test_beir_folder_with_graded_qrels(tmp_path: Path) -> None:
    data = load_dataset([make_beir(tmp_path / "beir")])
    assert data.name == "beir" and len(data.corpus) == 3 and data.graded
    # A query without judgements is left out, as BEIR's evaluation does.
    assert [q.id for q in data.questions] == ["q1", "q2"]
    q1, q2 = data.questions
    assert q1.kind == "retrieval" and q1.pages == ("d1.txt", "d3.txt")
    assert q1.grades == {"d1.txt": 2, "d3.txt": 1}
    # Ids become safe file names; a grade of 0 is judged but not relevant.
    assert q2.pages == (source_name("doc/2"),) == ("doc%2F2.txt",)
    assert q2.grades == {"doc%2F2.txt": 1, "d1.txt": 0}


def test_beir_corpus_is_written_once(tmp_path: Path) -> None:
    data = load_dataset([make_beir(tmp_path / "beir")])
    folder = write_corpus(data, tmp_path / "files")
    assert sorted(p.name for p in folder.iterdir()) == ["d1.txt", "d3.txt", "doc%2F2.txt"]
    assert (folder / "d1.txt").read_text(encoding="utf-8") == "Widgets\n\nWidgets are teal.\n"
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    write_corpus(data, folder)
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before


def test_beir_errors_name_what_is_wrong(tmp_path: Path) -> None:
    root = make_beir(tmp_path / "beir")
    (root / "qrels" / "test.tsv").write_text("q1\tmissing-doc\t1\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="'missing-doc' is not in the corpus"):
        load_dataset([root])
    (root / "qrels" / "test.tsv").unlink()
    with pytest.raises(DatasetError, match=r"qrels/test\.tsv is missing"):
        load_dataset([root])
    with pytest.raises(DatasetError, match="only the folder"):
        load_dataset([root, write_jsonl(tmp_path / "x.jsonl", QUESTIONS)])
