"""Calibrating the answerability gate on a question set with negatives.

An eval run with ``calibrate`` scores every question that retrieval did not already abstain on.
Abstention at a gate threshold t is then known for every t without asking again: a question
abstains if retrieval abstained, or if its score is below t. The threshold recommended is the
one that abstains on the most negatives while false abstention on answerable questions stays
within a budget; ties go to the lowest threshold, which turns away the fewest questions.

Chosen on the questions alone, the threshold would sit just under the lowest-scoring answerable
question the budget spares, and a new question a little lower would be turned away: on held-out
halves of the SQLite set that overshot the budget. So a threshold's false abstention counts as
the larger of what it does to these questions and what a normal distribution fitted to their
scores predicts for new ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from statistics import NormalDist, StatisticsError

from askdocs.evaluation.metrics import QuestionResult


@dataclass(frozen=True, slots=True)
class Point:
    """Abstention at one gate threshold; None is the gate off."""

    threshold: float | None
    abstention_accuracy: float | None
    false_abstention: float | None
    # What the budget is checked against: false abstention as measured, or as the fitted
    # distribution predicts, whichever is larger.
    expected_false_abstention: float | None = None


@dataclass(frozen=True, slots=True)
class Calibration:
    """The recommended threshold (None: leave the gate off), how it does, and the curve."""

    threshold: float | None
    budget: float
    chosen: Point
    off: Point
    curve: tuple[Point, ...]
    reason: str


def retrieval_abstained(result: QuestionResult) -> bool:
    """Whether the question abstained before the gate: the gate scores only those that did
    not, so a scored question that abstained was turned away by the gate itself."""
    return result.abstained and result.answerability is None


def gated(results: Sequence[QuestionResult], threshold: float | None) -> list[QuestionResult]:
    """The results as a gate at ``threshold`` would have left their abstention. Answers are
    not regenerated: a question the gate lets through that it had turned away has no answer."""
    out = []
    for r in results:
        score = r.answerability
        blocked = threshold is not None and score is not None and score < threshold
        out.append(dataclasses.replace(r, abstained=retrieval_abstained(r) or blocked))
    return out


def point(
    results: Sequence[QuestionResult], threshold: float | None, fitted: NormalDist | None = None
) -> Point:
    after = gated(results, threshold)
    negatives = [r.abstained for r in after if r.negative]
    answerable = [r.abstained for r in after if r.answerable]
    false = _share(answerable)
    expected = false
    if fitted is not None and threshold is not None and answerable:
        before = [r for r in results if r.answerable]
        retrieval = sum(retrieval_abstained(r) for r in before)
        scored = sum(r.answerability is not None for r in before)
        predicted = (retrieval + scored * fitted.cdf(threshold)) / len(before)
        expected = max(false or 0.0, predicted)
    return Point(threshold, _share(negatives), false, expected)


def fit(results: Sequence[QuestionResult]) -> NormalDist | None:
    """A normal distribution fitted to the answerable questions' scores; None under two."""
    scores = [r.answerability for r in results if r.answerable and r.answerability is not None]
    try:
        fitted = NormalDist.from_samples(scores)
    except StatisticsError:
        return None
    return fitted if fitted.stdev > 0 else None


def calibrate(results: Sequence[QuestionResult], budget: float) -> Calibration:
    """The threshold that abstains on the most negatives with false abstention <= ``budget``.

    Candidate thresholds sit halfway between neighbouring scores, so each abstains on a
    different set of questions with the widest margin either side.
    """
    off = point(results, None)
    scores = sorted({r.answerability for r in results if r.answerability is not None})
    if not any(r.negative for r in results) or not any(r.answerable for r in results):
        return Calibration(
            None, budget, off, off, (off,), "needs negative and answerable questions"
        )
    if not scores:
        return Calibration(
            None, budget, off, off, (off,), "no question was scored: run --calibrate"
        )
    cuts = [(a + b) / 2 for a, b in pairwise(scores)] + [scores[-1] + 1.0]
    fitted = fit(results)
    curve = (off, *(point(results, t, fitted) for t in cuts))
    if (off.false_abstention or 0.0) > budget:
        return Calibration(
            None,
            budget,
            off,
            off,
            curve,
            f"false abstention is {off.false_abstention:.3f} with the gate off, over the budget",
        )
    best = off
    for p in curve[1:]:
        if (p.expected_false_abstention or 0.0) <= budget and (p.abstention_accuracy or 0.0) > (
            best.abstention_accuracy or 0.0
        ):
            best = p
    if best is off:
        return Calibration(None, budget, off, off, curve, "no threshold abstains on more negatives")
    return Calibration(best.threshold, budget, best, off, curve, "most negatives within the budget")


def _share(values: Sequence[bool]) -> float | None:
    return sum(values) / len(values) if values else None
