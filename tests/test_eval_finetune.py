"""Embedder fine-tuning: pair building and batching, then a real (small) training run on the CPU
exported to ONNX, loaded by the default runtime, tracked and registered in MLflow."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from askdocs.container import Container
from askdocs.embed import Embedder, build_embedder
from askdocs.evaluation.configuration import file_sha256
from askdocs.evaluation.dataset import EvalQuestion
from askdocs.evaluation.errors import DatasetError
from askdocs.evaluation.finetune import (
    FinetuneOptions,
    PairSources,
    batches,
    finetune_collection,
    schedule,
)
from askdocs.evaluation.pairs import (
    TrainingPair,
    _first_question,
    collection_chunks,
    given_pairs,
    heading_pairs,
    split_pairs,
)
from askdocs.evaluation.runner import prepare_corpus
from askdocs.evaluation.tracking import load_registered_settings, log_finetune, register
from askdocs.settings import EvalSettings, Settings

from conftest import fake_container


def pair(query: str, source: str, passage: str | None = None) -> TrainingPair:
    return TrainingPair(query, passage or f"text of {source}", source, "given")


def test_heading_pairs_drop_the_title_lines(tmp_path: Path) -> None:
    container = fake_container(tmp_path / "data")
    doc = tmp_path / "guide.rst"
    doc.write_text(
        "Backup schedules\n================\n\nNightly backups run at two in the morning and "
        "are kept for thirty five days in the Frankfurt data centre.\n",
        encoding="utf-8",
    )
    container.ingestion.ingest_paths([doc], collection="c")
    chunks = collection_chunks(container, "c")
    pairs = heading_pairs(chunks)
    assert [p.query for p in pairs] == ["Backup schedules"]
    assert pairs[0].passage.startswith("Nightly backups") and pairs[0].source == "guide.rst"
    with pytest.raises(DatasetError, match="no documents"):
        collection_chunks(container, "empty")


def test_split_is_stable_and_keeps_each_query_on_one_side() -> None:
    pairs = [pair(f"question {i}?", f"f{i}") for i in range(200)]
    pairs += [pair("question 7?", "other")]
    train, test = split_pairs(pairs, 0.25, seed=1)
    train_queries, test_queries = {p.query for p in train}, {p.query for p in test}
    assert not train_queries & test_queries
    assert 25 <= len(test) <= 75 and len(train) + len(test) == 201
    # The side of a query depends on the query, not on the order of the pairs.
    again_test = split_pairs(list(reversed(pairs)), 0.25, seed=1)[1]
    assert {p.query for p in again_test} == test_queries
    assert {p.query for p in split_pairs(pairs, 0.25, seed=2)[1]} != test_queries
    with pytest.raises(DatasetError, match="too few"):
        split_pairs(pairs[:1], 0.5, seed=1)


def test_batches_never_hold_two_passages_of_one_source() -> None:
    pairs = [pair(f"q{i}", f"f{i % 5}", f"passage {i}") for i in range(40)]
    out = batches(pairs, 4, random.Random(3))
    assert sum(len(b) for b in out) == 40
    for batch in out:
        assert len({p.source for p in batch}) == len(batch) <= 4


def test_schedule_warms_up_then_decays() -> None:
    factors = [schedule(s, 2, 10) for s in range(10)]
    assert factors[0] == 0.5 and factors[1] == 1.0
    assert factors[2] > factors[5] > factors[9] > 0


def test_first_question_skips_chatter() -> None:
    text = 'Sure! Here is a question:\n"How long are nightly backups kept?"\nHope it helps.'
    assert _first_question(text) == "How long are nightly backups kept?"
    assert _first_question("No question here.") is None


DOCS = {
    "backups.md": "# Backups\n\n## Retention of nightly backups\n\nNightly backups run at "
    "02:00 and are kept for 35 days in the Frankfurt data centre.\n\n## Restoring a backup "
    "copy\n\nAsk the operations team on call; a restore takes about forty minutes.\n",
    "coffee.md": "# Office\n\n## Descaling the coffee machine\n\nThe facilities team descales "
    "the coffee machine every Friday afternoon.\n\n## Booking meeting rooms\n\nMeeting rooms "
    "are booked in the calendar; the large room seats twenty people.\n",
    "api.md": "# API\n\n## Rate limits for API keys\n\nEach API key may send 600 requests per "
    "minute; more are refused with status 429.\n\n## Rotating API keys safely\n\nCreate the "
    "new key first, deploy it, then revoke the old one.\n",
    "travel.md": "# Travel\n\n## Booking train tickets\n\nTrain tickets are booked through the "
    "travel desk at least a week ahead.\n\n## Expense claims after trips\n\nClaims are filed "
    "within thirty days with the receipts attached.\n",
}
QUESTIONS = [
    ("How long do we keep backups?", "backups.md"),
    ("How can I get a backup restored?", "backups.md"),
    ("When is the coffee machine cleaned?", "coffee.md"),
    ("How many people fit in the big meeting room?", "coffee.md"),
    ("How many requests can one key make each minute?", "api.md"),
    ("What is the safe way to replace an API key?", "api.md"),
    ("How early should I book a train?", "travel.md"),
    ("What is the deadline for expense claims?", "travel.md"),
]


@pytest.mark.integration
@pytest.mark.slow
def test_finetune_trains_exports_loads_and_registers(
    real_container: Container, tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in DOCS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    prepare_corpus(real_container, corpus, "eval-finetune")
    questions = [
        EvalQuestion(f"q{i}", q, (page,), kind="howto") for i, (q, page) in enumerate(QUESTIONS)
    ]
    held = [p for p in questions if p.id in ("q1", "q3", "q5", "q7")]
    chunks = collection_chunks(real_container, "eval-finetune")
    held_pairs = given_pairs(held, chunks, real_container.embedder)
    out = tmp_path / "model"
    result = finetune_collection(
        real_container,
        "eval-finetune",
        PairSources(questions, headings=True),
        FinetuneOptions(epochs=3, batch_size=4, learning_rate=1e-4),
        out,
        held_out_pairs=held_pairs,
        distractors=50,
    )
    assert result.origins == {"given": 8, "heading": 8}
    assert result.held_out_pairs == 4 and result.train_pairs == 12
    assert set(result.before) == set(result.after) >= {"hit@1", "hit@5", "mrr@10"}
    assert all(0.0 <= v <= 1.0 for v in [*result.before.values(), *result.after.values()])
    assert (out / "finetune.json").is_file() and (out / "model-fp32.onnx").is_file()
    # The exported int8 graph runs in the default runtime and agrees with the trained model.
    exported = result.exported
    embedder = build_embedder(exported.settings(real_container.settings.embed))
    assert embedder.dimension == 384 and embedder.model_id.startswith(exported.model_id)
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(out / "sentence-transformers"), device="cpu")
    texts = [q for q, _ in QUESTIONS[:3]]
    ours = embedder.embed(texts)
    theirs = reference.encode(texts, normalize_embeddings=True)
    assert float(np.min(np.sum(ours * theirs, axis=1))) > 0.97
    # Training moved the model: the trained questions sit closer to their own passages.
    base = real_container.embedder
    held_queries = {h.query for h in held_pairs}
    train = [p for p in given_pairs(questions, chunks, base) if p.query not in held_queries]

    def margin(model: Embedder) -> float:
        q = model.embed([p.query for p in train])
        v = model.embed([p.passage for p in train])
        return float(np.mean(np.sum(q * v, axis=1)))

    assert margin(embedder) > margin(base)
    # Tracked and registered: the registered configuration carries the new graph.
    store = tmp_path / "mlflow"
    settings = Settings(
        data_dir=real_container.settings.data_dir,
        eval=EvalSettings(
            tracking_uri=f"sqlite:///{store / 'mlflow.db'}",
            artifact_location=(store / "artifacts").as_uri(),
        ),
    )
    store.mkdir()
    logged = log_finetune(settings, result, {"finetune.collection": "eval-finetune"})
    version = register(settings, logged, "tuned")
    loaded = load_registered_settings(f"models:/tuned/{version}", settings)
    assert loaded.embed.model_id == exported.model_id
    assert loaded.embed.onnx_path is not None
    assert file_sha256(loaded.embed.onnx_path) == file_sha256(exported.onnx_path)


@pytest.mark.slow
def test_cli_finetune_refuses_bad_requests(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from askdocs.cli.app import app
    from askdocs.errors import AskdocsError

    runner = CliRunner(env={"ASKDOCS_DATA_DIR": str(tmp_path / "data")})
    both = runner.invoke(
        app, ["finetune-embedder", "--collection", "c", "--register", "x", "--no-track"]
    )
    assert isinstance(both.exception, AskdocsError) and "drop --no-track" in str(both.exception)
    empty = runner.invoke(app, ["finetune-embedder", "--collection", "nothing", "--no-track"])
    assert isinstance(empty.exception, DatasetError)
    assert "collection 'nothing' has no documents" in str(empty.exception)
