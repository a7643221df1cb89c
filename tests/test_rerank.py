"""Cross-encoder reranking: the real bundled model, the blend, and the retriever's toggle."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from pydantic import ValidationError

from askdocs.container import Container
from askdocs.errors import ConfigurationError, ModelNotAvailableError
from askdocs.retrieve import HybridRetriever
from askdocs.retrieve.rerank import OnnxCrossEncoder, blend, default_model_dir, relevance
from askdocs.settings import RetrieveSettings, Settings

from conftest import fake_container

QUESTION = "How do I delete an element from a Python list?"
RELEVANT = (
    "Use del with the index, as in del items[2], or items.remove(value) to delete the first "
    "element equal to value; items.pop() removes the last element and returns it."
)
IRRELEVANT = (
    "The garbage collector frees memory when an object's reference count drops to zero; "
    "reference cycles are found by a separate collector that runs now and then."
)
OFF_TOPIC = "Bananas are yellow and grow in bunches on large tropical plants."


@pytest.fixture(scope="module")
def cross_encoder() -> OnnxCrossEncoder:
    return OnnxCrossEncoder(max_tokens=128)


@pytest.mark.integration
def test_real_model_ranks_the_relevant_passage_first(cross_encoder: OnnxCrossEncoder) -> None:
    relevant, irrelevant, off_topic = cross_encoder.score(
        QUESTION, [RELEVANT, IRRELEVANT, OFF_TOPIC]
    )
    assert relevant > irrelevant + 3.0
    assert relevant > off_topic + 3.0
    assert relevant > 0 > off_topic


@pytest.mark.integration
def test_scores_do_not_depend_on_batching_or_order(cross_encoder: OnnxCrossEncoder) -> None:
    passages = [RELEVANT, IRRELEVANT, OFF_TOPIC, RELEVANT[:60]]
    together = cross_encoder.score(QUESTION, passages)
    reversed_ = cross_encoder.score(QUESTION, passages[::-1])[::-1]
    alone = [cross_encoder.score(QUESTION, [p])[0] for p in passages]
    assert together == pytest.approx(reversed_, abs=1e-3)
    assert together == pytest.approx(alone, abs=1e-3)
    assert cross_encoder.score(QUESTION, []) == []


@pytest.mark.integration
def test_long_passages_are_cut_not_rejected(cross_encoder: OnnxCrossEncoder) -> None:
    long_relevant = RELEVANT + " " + "Filler words about nothing in particular. " * 200
    (score,) = cross_encoder.score(QUESTION, [long_relevant])
    assert score > cross_encoder.score(QUESTION, [IRRELEVANT])[0]


def test_the_bundled_model_is_where_the_package_puts_it() -> None:
    folder = default_model_dir()
    assert (folder / "model.onnx").is_file()
    assert (folder / "tokenizer.json").is_file()


def test_missing_model_and_bad_length_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelNotAvailableError, match="RERANK_MODEL_DIR"):
        OnnxCrossEncoder(tmp_path)
    with pytest.raises(ConfigurationError, match="rerank_max_tokens"):
        OnnxCrossEncoder(max_tokens=8)
    with pytest.raises(ConfigurationError, match="at most 512"):
        OnnxCrossEncoder(max_tokens=1024)
    for bad in ({"rerank_weight": -0.1}, {"rerank_temperature": 0.0}, {"rerank_candidates": 0}):
        with pytest.raises(ValidationError):
            RetrieveSettings(**bad)  # type: ignore[arg-type]


def test_blend_never_drops_a_passage_below_its_fused_score() -> None:
    fused = [0.70, 0.65, 0.60]
    blended = blend(fused, [-12.0, 0.0, 9.0], weight=0.3, temperature=4.0)
    assert all(b >= f for b, f in zip(blended, fused, strict=True))
    # A confident cross-encoder lifts the third passage above the first two.
    assert blended[2] > blended[0]
    assert blended[2] > blended[1]
    assert blend(fused, [5.0, 0.0, -5.0], weight=0.0, temperature=4.0) == fused
    # Extreme logits or a tiny temperature saturate instead of overflowing.
    assert relevance(-1e4, 0.01) == 0.0
    assert relevance(1e4, 0.01) == 1.0
    assert relevance(0.0, 4.0) == 0.5


class RecordingReranker:
    """Scores passages that mention 'teal' high, and remembers what it was asked."""

    model_id = "recording"

    def __init__(self) -> None:
        self.calls: list[int] = []

    def score(self, question: str, passages: Sequence[str]) -> list[float]:
        self.calls.append(len(passages))
        return [10.0 if "teal" in p else -10.0 for p in passages]


def ingest_widgets(container: Container, folder: Path) -> None:
    folder.mkdir()
    # The 'widget' words pull the first two files up for the fake embedder; only the third
    # holds the answer, and only the reranker knows it.
    (folder / "a.md").write_text("Widget widget widget colour news.", encoding="utf-8")
    (folder / "b.md").write_text("Widget widget colour notes, widget.", encoding="utf-8")
    (folder / "c.md").write_text("Its colour is teal.", encoding="utf-8")
    container.ingestion.ingest_paths([folder], collection="c")


def test_retriever_reranks_only_when_the_setting_says_so(tmp_path: Path) -> None:
    container = fake_container(tmp_path / "data")
    ingest_widgets(container, tmp_path / "docs")
    reranker = RecordingReranker()
    question = "What colour is the widget?"

    def retriever(**overrides: object) -> HybridRetriever:
        # A fixed, simple fusion, so the test is about the toggle and not the shipped weights:
        # light keyword weight and no document evidence (with one-line files each passage is
        # its own document, which would double every score).
        fusion = RetrieveSettings(keyword_weight=0.1, document_weight=0.0)
        settings = fusion.model_copy(update=overrides)
        return HybridRetriever(container.index, container.embedder, settings, reranker)

    plain = retriever(rerank=False).retrieve(question, k=3)
    assert reranker.calls == []
    assert Path(plain.passages[0].chunk.source).name != "c.md"
    assert "rerank" not in plain.timings_ms

    reranked = retriever(rerank=True, rerank_candidates=3).retrieve(question, k=3)
    assert reranker.calls == [3]
    assert Path(reranked.passages[0].chunk.source).name == "c.md"
    assert "rerank" in reranked.timings_ms
    scores = [p.score for p in reranked.passages]
    assert scores == sorted(scores, reverse=True)
    # Abstention reads the dense cosine, which reranking leaves alone.
    assert reranked.best_dense == plain.best_dense

    # The per-call switch wins over the setting, both ways.
    retriever(rerank=True).retrieve(question, k=3, rerank=False)
    assert reranker.calls == [3]
    retriever(rerank=False).retrieve(question, k=3, rerank=True)
    assert len(reranker.calls) == 2


def test_reranking_a_head_shorter_than_k_keeps_the_tail(tmp_path: Path) -> None:
    container = fake_container(tmp_path / "data")
    ingest_widgets(container, tmp_path / "docs")
    reranker = RecordingReranker()
    settings = RetrieveSettings(rerank=True, rerank_candidates=1)
    retriever = HybridRetriever(container.index, container.embedder, settings, reranker)
    plain = HybridRetriever(container.index, container.embedder, RetrieveSettings(rerank=False))
    question = "What colour is the widget?"
    got = retriever.retrieve(question, k=3)
    want = plain.retrieve(question, k=3)
    assert reranker.calls == [1]
    assert [p.chunk.chunk_id for p in got.passages] == [p.chunk.chunk_id for p in want.passages]


def test_settings_toggle_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASKDOCS_RETRIEVE__RERANK", "false")
    assert Settings().retrieve.rerank is False
    monkeypatch.setenv("ASKDOCS_RETRIEVE__RERANK", "true")
    monkeypatch.setenv("ASKDOCS_RETRIEVE__RERANK_CANDIDATES", "7")
    settings = Settings().retrieve
    assert settings.rerank is True
    assert settings.rerank_candidates == 7
