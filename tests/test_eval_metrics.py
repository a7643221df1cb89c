"""Evaluation metrics on cases computed by hand."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from askdocs.evaluation.dataset import load_dataset
from askdocs.evaluation.metrics import (
    QuestionResult,
    answer_matches,
    better_or_equal,
    citation_precision,
    distinct_sources,
    first_relevant_rank,
    ndcg_at,
    reciprocal_rank,
    retrieval_metrics,
    summarize,
    summarize_by_kind,
)
from askdocs.evaluation.report import failure_score, worst
from askdocs.services.answering import NO_ANSWER


def result(
    qid: str,
    *,
    kind: str = "k",
    sources: tuple[str, ...] = (),
    expected: tuple[str, ...] = (),
    negative: bool = False,
    abstained: bool = False,
    answer: str = "",
    patterns: tuple[str, ...] = (),
    generated: bool = True,
    cited: tuple[str, ...] = (),
    cache: str = "miss",
    total_ms: float = 10.0,
) -> QuestionResult:
    return QuestionResult(
        id=qid,
        kind=kind,
        question=f"question {qid}?",
        sources=sources,
        expected=expected,
        negative=negative,
        abstained=abstained,
        answer=answer,
        answer_patterns=patterns,
        generated=generated,
        cited=cited,
        cache=cache,
        timings_ms={"total": total_ms},
    )


def test_rank_hit_and_reciprocal_rank() -> None:
    ranking = ["a.html", "b.html", "c.html", "d.html"]
    assert first_relevant_rank(ranking, {"c.html", "z.html"}) == 2
    assert first_relevant_rank(ranking, {"z.html"}) is None
    assert reciprocal_rank(2) == pytest.approx(1 / 3)
    assert reciprocal_rank(None) == 0.0
    # Beyond the cutoff a hit counts nothing towards MRR@10.
    assert reciprocal_rank(10) == 0.0 and reciprocal_rank(9) == pytest.approx(0.1)


def test_sources_are_counted_once_in_order_of_first_appearance() -> None:
    assert distinct_sources(["b", "a", "b", "c", "a"]) == ["b", "a", "c"]


def test_retrieval_metrics_by_hand() -> None:
    # First relevant ranks: 0, 2, none, 7.
    rankings = [["g1", "x"], ["x", "y", "g2"], ["x", "y"], ["x"] * 7 + ["g4"]]
    relevant = [{"g1"}, {"g2"}, {"g3"}, {"g4"}]
    got = retrieval_metrics(rankings, relevant)
    assert got["hit@1"] == pytest.approx(0.25)
    assert got["hit@3"] == pytest.approx(0.5)
    assert got["hit@5"] == pytest.approx(0.5)
    assert got["hit@10"] == pytest.approx(0.75)
    assert got["mrr@10"] == pytest.approx((1 + 1 / 3 + 0 + 1 / 8) / 4)
    assert retrieval_metrics([], []) == {}
    with pytest.raises(ValueError):
        retrieval_metrics([["a"]], [])


def test_ndcg_with_graded_relevance_by_hand() -> None:
    grades = {"b": 2, "c": 1, "z": 3, "n": 0}
    # DCG = 0/log2(2) + 2/log2(3) + 1/log2(4); ideal order z(3), b(2), c(1).
    dcg = 2 / math.log2(3) + 1 / 2
    idcg = 3 + 2 / math.log2(3) + 1 / 2
    assert ndcg_at(["a", "b", "c"], grades) == pytest.approx(dcg / idcg)
    assert ndcg_at(["z", "b", "c"], grades) == pytest.approx(1.0)
    assert ndcg_at(["a", "n"], grades) == 0.0
    # Only the first k positions count.
    assert ndcg_at(["a", "z"], grades, k=1) == 0.0
    assert ndcg_at(["a"], {}) == 0.0


def test_answer_patterns_are_case_insensitive_searches() -> None:
    assert answer_matches("The default page size is 4096 bytes.", [r"\b4096\b"])
    assert answer_matches("It defaults to full.", [r"\bFULL\b"])
    assert not answer_matches("It is 40960.", [r"\b4096\b"])
    assert answer_matches("1 billion", [r"1,?000,?000,?000", r"1 billion"])
    assert not answer_matches("anything", [])


def test_citation_precision() -> None:
    assert citation_precision(["a", "b"], {"a"}) == 0.5
    assert citation_precision(["a"], {"a", "c"}) == 1.0
    assert citation_precision([], {"a"}) is None


def test_summary_by_hand() -> None:
    results = [
        # Found first, answered right, cited the right file, served from the cache.
        result(
            "1",
            sources=("g1", "x"),
            expected=("g1",),
            answer="It is 4096 [1].",
            patterns=(r"4096",),
            cited=("g1",),
            cache="exact",
            total_ms=10,
        ),
        # Found third but abstained: a false abstention and a failed answer.
        result(
            "2",
            sources=("x", "y", "g2"),
            expected=("g2",),
            abstained=True,
            answer=NO_ANSWER,
            patterns=(r"FULL",),
            total_ms=20,
        ),
        result("3", kind="negative", negative=True, abstained=True, total_ms=30),
        result("4", kind="negative", negative=True, sources=("x",), cited=("x",), total_ms=40),
    ]
    got = summarize(results)
    assert got["questions"] == 4 and got["answerable"] == 2 and got["negatives"] == 2
    assert got["hit@1"] == 0.5 and got["hit@3"] == 1.0
    assert got["mrr@10"] == pytest.approx((1 + 1 / 3) / 2)
    assert got["answer_match"] == 0.5
    # Question 1 cites only expected files; question 4 cites one that is not expected.
    assert got["citation_precision"] == pytest.approx((1.0 + 0.0) / 2)
    assert got["abstention_accuracy"] == 0.5
    assert got["false_abstention"] == 0.5
    assert got["cache_hit_rate"] == 0.25
    assert got["ndcg@10"] is None
    assert got["total_ms_p50"] == pytest.approx(25.0)
    # numpy's linear interpolation: 10 + 0.95 * 3 * 10.
    assert got["total_ms_p95"] == pytest.approx(38.5)
    by_kind = summarize_by_kind(results)
    assert set(by_kind) == {"k", "negative"}
    assert by_kind["negative"]["hit@5"] is None
    assert by_kind["negative"]["abstention_accuracy"] == 0.5
    assert by_kind["k"]["false_abstention"] == 0.5


def test_answer_match_is_not_measured_without_generation() -> None:
    res = result("1", sources=("g",), expected=("g",), patterns=("x",), generated=False)
    assert res.answer_match is None
    assert summarize([res])["answer_match"] is None


def test_promotion_comparison_respects_direction() -> None:
    assert better_or_equal("hit@5", 0.9, 0.9)
    assert not better_or_equal("hit@5", 0.89, 0.9)
    assert better_or_equal("false_abstention", 0.01, 0.02)
    assert not better_or_equal("total_ms_p50", 120.0, 100.0)


def test_worst_questions_put_misses_and_answered_negatives_first() -> None:
    results = [
        result("ok", sources=("g",), expected=("g",)),
        result("late", sources=("x", "y", "g"), expected=("g",)),
        result("miss", sources=("x",), expected=("g",)),
        result("neg-answered", negative=True, kind="negative"),
        result("neg-ok", negative=True, kind="negative", abstained=True),
        result("wrong", sources=("g",), expected=("g",), answer="no", patterns=("yes",)),
    ]
    assert failure_score(results[0]) == 0.0
    order = [r.id for r in worst(results, 10)]
    assert order == ["miss", "neg-answered", "wrong", "late"]
    assert [r.id for r in worst(results, 2)] == ["miss", "neg-answered"]


def test_a_negative_is_right_when_it_abstains_or_its_refusal_pattern_matches() -> None:
    refusal = (r"(?i)do(es)? not (say|mention)",)
    results = [
        result("n1", negative=True, abstained=True),
        result("n2", negative=True, answer="The documents do not say.", patterns=refusal),
        result("n3", negative=True, answer="It is 42 [1].", patterns=refusal),
        result("n4", negative=True, answer="The documents do not say."),  # no patterns
    ]
    assert [r.refused for r in results] == [True, True, False, False]
    summary = summarize(results)
    assert summary["abstention_accuracy"] == 0.25
    assert summary["negative_accuracy"] == 0.5


def test_load_accepts_a_negative_with_refusal_patterns(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    line = {"id": "n", "question": "Who won?", "kind": "negative", "answer_patterns": ["(?i)not"]}
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")
    (question,) = load_dataset([path]).questions
    assert question.negative and question.answer_patterns == ("(?i)not",)


def test_cited_and_extractive_shares_count_written_answers_only() -> None:
    written = [
        dataclasses.replace(
            result("a", answer="x [1]", cited=("a.html",)), answer_mode="generated"
        ),
        dataclasses.replace(
            result("b", answer="y [1]", cited=("b.html",)), answer_mode="extractive"
        ),
        dataclasses.replace(result("c", answer="z"), answer_mode="generated"),
        result("d", abstained=True),
    ]
    summary = summarize(written)
    assert summary["cited"] == pytest.approx(2 / 3)
    assert summary["extractive_share"] == pytest.approx(1 / 3)
