"""The evaluation runner: corpus preparation, a run over fakes, an end-to-end run with the real
models, and `askdocs eval` on the command line."""

from __future__ import annotations

import json
import re
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from askdocs.cli.app import app
from askdocs.container import Container
from askdocs.errors import AskdocsError
from askdocs.evaluation.dataset import load_dataset
from askdocs.evaluation.report import EvalReport, write_reports
from askdocs.evaluation.runner import (
    EvalOptions,
    corpus_collection,
    prepare_corpus,
    prepare_dataset_corpus,
    run_eval,
)
from test_eval_dataset import make_beir, write_jsonl

from conftest import fake_container
from fakes import FakeEmbedder

TINY_FILES = {
    "backups.md": "# Operations\n\n## Backups\n\nNightly backups run at 02:00 and are kept for "
    "35 days. They are stored in the Frankfurt data centre.\n",
    "coffee.txt": "The office coffee machine is descaled every Friday by the facilities team.\n",
    "api.rst": "API\n===\n\nRate limits\n-----------\n\nEach API key may send 600 requests per "
    "minute.\n",
}
TINY_QUESTIONS: list[dict[str, object]] = [
    {
        "id": "t1",
        "question": "How many days are backups kept?",
        "pages": ["backups.md"],
        "answer_patterns": [r"\b35\b"],
        "kind": "default",
    },
    {
        "id": "t2",
        "question": "How many requests per minute may an API key send?",
        "pages": ["api.rst"],
        "answer_patterns": [r"\b600\b"],
        "kind": "default",
    },
    {
        "id": "t3",
        "question": "When is the office coffee machine descaled?",
        "pages": ["coffee.txt"],
        "answer_patterns": ["friday"],
        "kind": "howto",
    },
    {
        "id": "t4",
        "question": "Who won the FIFA World Cup in 2014?",
        "pages": [],
        "kind": "negative",
    },
]


def tiny_corpus(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in TINY_FILES.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


def embedder_of(container: Container) -> FakeEmbedder:
    embedder = container.embedder
    assert isinstance(embedder, FakeEmbedder)
    return embedder


def test_corpus_is_ingested_once_and_mirrored(tmp_path: Path) -> None:
    container = fake_container(tmp_path / "data")
    corpus = tiny_corpus(tmp_path / "corpus")
    collection = corpus_collection(corpus)
    assert collection == corpus_collection(corpus) and collection.startswith("eval-corpus-")
    first = prepare_corpus(container, corpus, collection)
    assert sorted(o.status for o in first.outcomes) == ["added"] * 3
    embedded = embedder_of(container).embedded
    (corpus / "coffee.txt").unlink()
    again = prepare_corpus(container, corpus, collection)
    # Nothing is embedded again; the file that left the folder leaves the collection.
    assert [o.status for o in again.outcomes] == ["unchanged"] * 2 and again.removed == 1
    assert embedder_of(container).embedded == embedded
    live = {Path(d.source).name for d in container.tables.read_documents()}
    assert live == {"backups.md", "api.rst"}


def test_a_named_collection_is_never_pruned(tmp_path: Path) -> None:
    container = fake_container(tmp_path / "data")
    other = tiny_corpus(tmp_path / "other")
    container.ingestion.ingest_paths([other / "coffee.txt"], collection="mine")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "new.txt").write_text("Lunch is served at noon.", encoding="utf-8")
    prepared = prepare_corpus(container, corpus, "mine", mirror=False)
    assert prepared.removed == 0
    assert len([d for d in container.tables.read_documents() if d.collection == "mine"]) == 2


def test_run_over_fakes_scores_retrieval_answers_and_abstention(tmp_path: Path) -> None:
    container = fake_container(tmp_path / "data", answer="Backups are kept for 35 days [1].")
    corpus = tiny_corpus(tmp_path / "corpus")
    prepare_corpus(container, corpus, "tiny")
    data = load_dataset([write_jsonl(tmp_path / "q.jsonl", TINY_QUESTIONS)])
    seen: list[str] = []
    results = run_eval(
        container, data, EvalOptions(("tiny",)), progress=lambda r: seen.append(r.id)
    )
    assert seen == ["t1", "t2", "t3", "t4"]
    by_id = {r.id: r for r in results}
    assert by_id["t1"].sources[0] == "backups.md" and by_id["t1"].rank == 0
    # The fake generator says "35 days" to everything: right once. The other two claims are not
    # in the passages they cite, so the reader gets the cited passage's own sentences instead.
    modes = [by_id[q].answer_mode for q in ("t1", "t2", "t3")]
    assert modes == ["generated", "extractive", "extractive"]
    assert [by_id[q].answer_match for q in ("t1", "t2", "t3")] == [True, True, True]
    assert by_id["t4"].abstained and by_id["t4"].answer_match is None
    assert by_id["t1"].cited == (by_id["t1"].sources[0],)
    assert {"embed", "retrieve", "generate", "total"} <= set(by_id["t1"].timings_ms)
    report = EvalReport("run", data.name, data.sha256, {}, {}, results, 1.0)
    assert report.overall["answer_match"] == 1.0
    assert report.overall["extractive_share"] == pytest.approx(2 / 3)
    assert report.overall["abstention_accuracy"] == 1.0
    assert report.by_kind["howto"]["answer_match"] == 1.0
    # Asked again, generated answers come from the answer cache.
    again = run_eval(container, data, EvalOptions(("tiny",)))
    assert [r.cache for r in again] == ["exact", "exact", "exact", "miss"]
    fresh = run_eval(container, data, EvalOptions(("tiny",), use_cache=False))
    assert all(r.cache == "miss" for r in fresh)


def test_beir_corpus_runs_retrieval_only_with_ndcg(tmp_path: Path) -> None:
    container = fake_container(tmp_path / "data")
    data = load_dataset([make_beir(tmp_path / "beir")])
    prepared = prepare_dataset_corpus(container, data)
    assert prepared is not None and prepared.collection.startswith("beir-beir-")
    results = run_eval(container, data, EvalOptions((prepared.collection,), generate=False))
    report = EvalReport("beir", data.name, data.sha256, {}, {}, results, 1.0)
    assert report.overall["hit@1"] == 1.0
    ndcg = report.overall["ndcg@10"]
    assert ndcg is not None and 0.5 < ndcg <= 1.0
    assert report.overall["answer_match"] is None
    json_path, md_path = write_reports(report, tmp_path / "out", worst_n=5)
    payload = json.loads(json_path.read_text(encoding="utf-8"))
    assert payload["metrics"]["ndcg@10"] == pytest.approx(ndcg)
    assert [q["id"] for q in payload["questions"]] == ["q1", "q2"]
    assert "| ndcg@10 |" in md_path.read_text(encoding="utf-8")


@pytest.mark.integration
@pytest.mark.slow
def test_end_to_end_with_the_real_models(real_container: Container, tmp_path: Path) -> None:
    corpus = tiny_corpus(tmp_path / "corpus")
    prepare_corpus(real_container, corpus, "eval-e2e")
    data = load_dataset([write_jsonl(tmp_path / "q.jsonl", TINY_QUESTIONS)])
    results = run_eval(real_container, data, EvalOptions(("eval-e2e",), use_cache=False))
    report = EvalReport("e2e", data.name, data.sha256, {}, {}, results, 1.0)
    assert report.overall["hit@1"] == 1.0 and report.overall["mrr@10"] == 1.0
    assert report.overall["abstention_accuracy"] == 1.0
    assert report.overall["false_abstention"] == 0.0
    by_id = {r.id: r for r in results}
    for qid in ("t1", "t2", "t3"):
        r = by_id[qid]
        assert r.answer and r.answer_match == any(
            re.search(p, r.answer, re.IGNORECASE) for p in r.answer_patterns
        )
    # SmolLM2-135M copies its passages; at least the descaling day comes through.
    match = report.overall["answer_match"]
    assert match is not None and match >= 1 / 3
    assert (report.overall["generate_ms_p50"] or 0) > 0


@pytest.mark.integration
@pytest.mark.slow
def test_cli_eval_ingests_reports_and_tracks(tmp_path: Path) -> None:
    corpus = tiny_corpus(tmp_path / "corpus")
    questions = write_jsonl(tmp_path / "q.jsonl", TINY_QUESTIONS)
    data_dir = tmp_path / "data"
    runner = CliRunner(env={"COLUMNS": "200", "ASKDOCS_DATA_DIR": str(data_dir)})
    args = ["eval", str(questions), "--corpus", str(corpus), "--no-generate", "--name", "r1"]
    first = runner.invoke(app, [*args, "--out", str(tmp_path / "out1")])
    assert first.exit_code == 0, first.output
    assert "3 added" in first.output and "hit@5" in first.output and "MLflow run" in first.output
    payload = json.loads((tmp_path / "out1" / "report.json").read_text(encoding="utf-8"))
    assert payload["metrics"]["hit@1"] == 1.0 and payload["metrics"]["answer_match"] is None
    assert payload["options"]["generate"] is False
    assert payload["config"]["retrieve.fusion"] == "weighted"
    assert (tmp_path / "out1" / "report.md").read_text(encoding="utf-8").startswith("# Evaluation")
    # Re-running embeds nothing: every file is unchanged.
    second = runner.invoke(app, [*args, "--name", "r2", "--no-track"])
    assert second.exit_code == 0, second.output
    assert "3 unchanged" in second.output and "MLflow run" not in second.output
    assert (data_dir / "eval" / "runs" / "r2" / "report.json").is_file()
    # The default tracking store is SQLite under the data dir, holding the first run only.
    with closing(sqlite3.connect(data_dir / "mlruns" / "mlflow.db")) as db:
        names = [row[0] for row in db.execute("select name from runs")]
    assert names == ["r1"]
    refused = runner.invoke(app, [*args, "--promote"])
    assert isinstance(refused.exception, AskdocsError)
    assert "--promote needs --register" in str(refused.exception)
