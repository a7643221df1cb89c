"""The answerability gate: calibration on cases computed by hand, the gate in the answering
service (fake and real cross-encoder), and `askdocs eval --calibrate`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from askdocs.cli.app import app
from askdocs.evaluation.calibration import calibrate, gated, point
from askdocs.evaluation.metrics import QuestionResult
from askdocs.retrieve import HybridRetriever
from askdocs.services.answering import NO_ANSWER, AskOptions
from askdocs.settings import RetrieveSettings
from test_eval_dataset import write_jsonl
from test_eval_run import TINY_QUESTIONS, tiny_corpus

from conftest import fake_container


def result(
    qid: str, score: float | None, *, negative: bool, abstained: bool = False
) -> QuestionResult:
    return QuestionResult(
        id=qid,
        kind="negative" if negative else "k",
        question=f"{qid}?",
        sources=(),
        expected=() if negative else ("a.md",),
        negative=negative,
        abstained=abstained,
        answerability=score,
    )


# Answerable: scores 2, 4, 6 and one retrieval abstained on (so 1 of 4 is lost with the gate
# off). Negatives: scores 1 and 3, and one retrieval abstained on.
CASE = [
    result("a1", 2.0, negative=False),
    result("a2", 4.0, negative=False),
    result("a3", 6.0, negative=False),
    result("a4", None, negative=False, abstained=True),
    result("n1", 1.0, negative=True),
    result("n2", 3.0, negative=True),
    result("n3", None, negative=True, abstained=True),
]


def test_gated_keeps_retrieval_abstention_and_blocks_scores_below_the_threshold() -> None:
    assert [r.abstained for r in gated(CASE, None)] == [False] * 3 + [True] + [False] * 2 + [True]
    at_3 = {r.id: r.abstained for r in gated(CASE, 3.5)}
    assert at_3 == {
        "a1": True,
        "a2": False,
        "a3": False,
        "a4": True,
        "n1": True,
        "n2": True,
        "n3": True,
    }
    # A question the gate itself turned away (scored, abstained) is let through by a lower one.
    blocked = result("a5", 2.0, negative=False, abstained=True)
    assert not gated([blocked], 1.0)[0].abstained and gated([blocked], 3.0)[0].abstained


def test_points_by_hand() -> None:
    off = point(CASE, None)
    assert off.abstention_accuracy == pytest.approx(1 / 3) and off.false_abstention == 0.25
    at = point(CASE, 3.5)
    assert at.abstention_accuracy == 1.0 and at.false_abstention == 0.5


def test_calibration_by_hand_with_the_fitted_tail() -> None:
    # Cuts: 1.5, 2.5, 3.5, 5, 7. Scores 2, 4, 6 fit N(4, 2). At 3.5 the questions give false
    # abstention 2/4 = 0.5, within a 0.5 budget, but the fit predicts (1 + 3 x P(Z < -0.25))
    # / 4 = 0.551 for new questions: refused. At 2.5: max(0.5, (1 + 3 x 0.2266) / 4 = 0.42);
    # at 1.5: max(0.25, 0.329). Both abstain on 2 of 3 negatives; the lower threshold wins.
    c = calibrate(CASE, budget=0.5)
    assert c.threshold == 1.5
    assert c.chosen.abstention_accuracy == pytest.approx(2 / 3)
    assert c.chosen.expected_false_abstention == pytest.approx(0.3292, abs=1e-3)
    by_threshold = {p.threshold: p for p in c.curve}
    assert by_threshold[3.5].false_abstention == 0.5
    assert by_threshold[3.5].expected_false_abstention == pytest.approx(0.5509, abs=1e-3)
    assert by_threshold[2.5].expected_false_abstention == 0.5
    # A looser budget admits 3.5, which abstains on every negative.
    assert calibrate(CASE, budget=0.6).threshold == 3.5
    # A budget the gate-off configuration already spends leaves the gate off, saying why.
    over = calibrate(CASE, budget=0.2)
    assert over.threshold is None and "over the budget" in over.reason


def test_calibration_needs_negatives_and_scores() -> None:
    answerable = [r for r in CASE if not r.negative]
    assert calibrate(answerable, 0.05).threshold is None
    assert "negative" in calibrate(answerable, 0.05).reason
    unscored = [result("a", None, negative=False), result("n", None, negative=True)]
    assert "--calibrate" in calibrate(unscored, 0.05).reason
    # Negatives already all abstained on: nothing to gain, the gate stays off.
    easy = [result("a", 5.0, negative=False), result("n", None, negative=True, abstained=True)]
    assert calibrate(easy, 0.5).threshold is None


class TopicCrossEncoder:
    """Scores a pair 5 when the passage says teal and the question asks about colour."""

    model_id = "topic"

    def __init__(self) -> None:
        self.calls = 0

    def score(self, question: str, passages: list[str]) -> list[float]:
        self.calls += 1
        return [5.0 if "colour" in question and "teal" in p else -5.0 for p in passages]


GUIDE = """# Widget guide

## Colours

The default colour of the widget is teal.

## Size

The widget is 12 centimetres wide and weighs 300 grams.
"""


def gated_container(tmp_path: Path, threshold: float | None) -> tuple[object, TopicCrossEncoder]:
    settings = RetrieveSettings(rerank=False, answerability_threshold=threshold)
    container = fake_container(tmp_path / "data", retrieve=settings)
    encoder = TopicCrossEncoder()
    container.__dict__["retriever"] = HybridRetriever(
        container.index, container.query_embedder, settings, reranker=encoder
    )
    (tmp_path / "guide.md").write_text(GUIDE, encoding="utf-8")
    container.ingestion.ingest_paths([tmp_path / "guide.md"], collection="c")
    return container, encoder


def test_the_gate_abstains_below_its_threshold(tmp_path: Path) -> None:
    container, _ = gated_container(tmp_path, 0.0)
    answering = container.answering  # type: ignore[attr-defined]
    kept = answering.answer("What is the default colour of the widget?")
    assert not kept.abstained and kept.answerability == 5.0
    assert "answerability" in kept.timings_ms
    turned = answering.answer("How many centimetres wide is the widget?")
    assert turned.abstained and turned.answer == NO_ANSWER and turned.answerability == -5.0
    assert turned.citations == []


def test_the_gate_off_scores_only_when_asked(tmp_path: Path) -> None:
    container, encoder = gated_container(tmp_path, None)
    answering = container.answering  # type: ignore[attr-defined]
    question = "How many centimetres wide is the widget?"
    plain = answering.answer(question, AskOptions(use_cache=False))
    assert not plain.abstained and plain.answerability is None
    # Every written answer ranks the passages' sentences with the cross-encoder once (to check
    # the model's sentences and to choose quotes); answerability is one more call.
    per_answer = encoder.calls
    assert per_answer == 1
    scored = answering.answer(question, AskOptions(use_cache=False, score_answerability=True))
    assert not scored.abstained and scored.answerability == -5.0
    assert encoder.calls == per_answer + per_answer + 1


@pytest.mark.integration
@pytest.mark.slow
def test_cli_eval_calibrates_the_gate_with_the_real_models(tmp_path: Path) -> None:
    corpus = tiny_corpus(tmp_path / "corpus")
    # A near miss: the documents speak of API keys and rate limits, never of a port.
    near_miss = {
        "id": "t5",
        "question": "Which port does the API server listen on?",
        "pages": [],
        "kind": "negative",
    }
    questions = write_jsonl(tmp_path / "q.jsonl", [*TINY_QUESTIONS, near_miss])
    runner = CliRunner(env={"COLUMNS": "200", "ASKDOCS_DATA_DIR": str(tmp_path / "data")})
    args = ["eval", str(questions), "--corpus", str(corpus), "--no-generate", "--no-track"]
    run = runner.invoke(app, [*args, "--calibrate", "--out", str(tmp_path / "out")])
    assert run.exit_code == 0, run.output
    payload = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    scores = {q["id"]: q["answerability"] for q in payload["questions"]}
    # Every answerable question was scored, and each scores above the near miss.
    answerable = [scores[q] for q in ("t1", "t2", "t3")]
    assert all(isinstance(s, float) for s in answerable)
    calibration = payload["calibration"]
    assert calibration["off"]["false_abstention"] == 0.0
    if scores["t5"] is None:  # retrieval turned it away already: nothing to calibrate
        assert calibration["threshold"] is None
    else:
        assert scores["t5"] < min(answerable)
        assert scores["t5"] < calibration["threshold"] < min(answerable)
        assert calibration["chosen"]["abstention_accuracy"] == 1.0
        assert "ASKDOCS_RETRIEVE__ANSWERABILITY_THRESHOLD=" in run.output
    assert "## Answerability gate" in (tmp_path / "out" / "report.md").read_text("utf-8")


def test_reports_and_mlflow_metrics_carry_the_calibration(tmp_path: Path) -> None:
    from askdocs.evaluation.report import EvalReport, write_reports
    from askdocs.evaluation.tracking import run_metrics

    report = EvalReport("r", "d", "0" * 64, {}, {}, CASE, 1.0, calibration=calibrate(CASE, 0.5))
    metrics = run_metrics(report)
    assert metrics["calibrated/answerability_threshold"] == 1.5
    assert metrics["calibrated/abstention_accuracy"] == pytest.approx(2 / 3)
    json_path, md_path = write_reports(report, tmp_path, worst_n=3)
    payload = json.loads(json_path.read_text(encoding="utf-8"))
    assert payload["calibration"]["setting"] == "ASKDOCS_RETRIEVE__ANSWERABILITY_THRESHOLD=1.500"
    assert [p["threshold"] for p in payload["calibration"]["curve"]] == [
        None,
        1.5,
        2.5,
        3.5,
        5.0,
        7.0,
    ]
    assert "ANSWERABILITY_THRESHOLD=1.500" in md_path.read_text(encoding="utf-8")
