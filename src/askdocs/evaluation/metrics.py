"""Evaluation metrics: source-level ranking (hit@k, MRR, nDCG), answers, citations, abstention,
latency and cache, computed per question and summarised overall and per kind.

Retrieval is judged at the level of source files: a question is a hit at k when any expected
file is among the first k distinct files of the ranked passages, so a document split into many
passages counts once.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

HIT_KS = (1, 3, 5, 10)
MRR_CUTOFF = 10
NDCG_CUTOFF = 10
# Metrics where a smaller value is better; every other metric is better when larger.
LOWER_IS_BETTER = frozenset({"false_abstention"})

Summary = dict[str, float | None]


@dataclass(frozen=True, slots=True)
class QuestionResult:
    """What happened to one question, with everything its metrics are computed from."""

    id: str
    kind: str
    question: str
    # Distinct source file names, best first, as deep as retrieval went.
    sources: tuple[str, ...]
    expected: tuple[str, ...]
    negative: bool
    abstained: bool
    answer: str = ""
    answer_patterns: tuple[str, ...] = ()
    generated: bool = False
    cited: tuple[str, ...] = ()
    grades: Mapping[str, int] = field(default_factory=dict)
    cache: str = "miss"
    timings_ms: Mapping[str, float] = field(default_factory=dict)
    best_score: float | None = None
    # The answerability gate's score; None when the question was not scored (abstained before
    # the gate, served from the cache, or asked without --calibrate and with the gate off).
    answerability: float | None = None
    # "generated" or "extractive" for a written answer, None otherwise.
    answer_mode: str | None = None

    @property
    def answerable(self) -> bool:
        return bool(self.expected) and not self.negative

    @property
    def rank(self) -> int | None:
        """0-based rank of the first expected source, None when none was retrieved."""
        return first_relevant_rank(self.sources, self.expected)

    @property
    def answer_match(self) -> bool | None:
        """None when there is nothing to match: no patterns, or no generated answer."""
        if not self.answer_patterns or not self.generated:
            return None
        return answer_matches(self.answer, self.answer_patterns)

    @property
    def refused(self) -> bool:
        """A negative's answer is right when it abstains, or when the written answer matches
        one of its patterns (which, for a negative, describe a refusal)."""
        return self.abstained or (
            self.generated and bool(self.answer_patterns) and bool(self.answer_match)
        )

    @property
    def citation_precision(self) -> float | None:
        return citation_precision(self.cited, self.expected)

    @property
    def ndcg(self) -> float | None:
        return ndcg_at(self.sources, self.grades, NDCG_CUTOFF) if self.grades else None


def distinct_sources(names: Iterable[str]) -> list[str]:
    """Source names in order of first appearance."""
    return list(dict.fromkeys(names))


def first_relevant_rank(ranking: Sequence[str], relevant: Collection[str]) -> int | None:
    return next((i for i, name in enumerate(ranking) if name in relevant), None)


def reciprocal_rank(rank: int | None, cutoff: int = MRR_CUTOFF) -> float:
    return 1.0 / (rank + 1) if rank is not None and rank < cutoff else 0.0


def ndcg_at(ranking: Sequence[str], grades: Mapping[str, int], k: int = NDCG_CUTOFF) -> float:
    """nDCG@k with linear gains, as trec_eval and BEIR compute it."""
    dcg = sum(grades.get(name, 0) / math.log2(i + 2) for i, name in enumerate(ranking[:k]))
    ideal = sorted((g for g in grades.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def answer_matches(answer: str, patterns: Sequence[str]) -> bool:
    """Any pattern found anywhere in the answer, ignoring case."""
    return any(re.search(p, answer, re.IGNORECASE) for p in patterns)


def citation_precision(cited: Sequence[str], expected: Collection[str]) -> float | None:
    """Share of cited sources that are expected sources; None when nothing was cited."""
    if not cited:
        return None
    return sum(name in expected for name in cited) / len(cited)


def retrieval_metrics(
    rankings: Sequence[Sequence[str]],
    relevant: Sequence[Collection[str]],
    ks: Sequence[int] = HIT_KS,
) -> dict[str, float]:
    """hit@k for each k and MRR@10 over ranked source lists (one per question)."""
    if len(rankings) != len(relevant):
        raise ValueError("one set of relevant sources per ranking")
    ranks = [first_relevant_rank(r, g) for r, g in zip(rankings, relevant, strict=True)]
    if not ranks:
        return {}
    n = len(ranks)
    out = {f"hit@{k}": sum(r is not None and r < k for r in ranks) / n for k in ks}
    out[f"mrr@{MRR_CUTOFF}"] = sum(reciprocal_rank(r) for r in ranks) / n
    return out


def percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if values else None


def _mean(values: Sequence[float | bool]) -> float | None:
    return sum(float(v) for v in values) / len(values) if values else None


def summarize(results: Sequence[QuestionResult]) -> Summary:
    """Every metric over ``results``; a metric with no question it applies to is None."""
    answerable = [r for r in results if r.answerable]
    negatives = [r for r in results if r.negative]
    graded = [r.ndcg for r in results if r.ndcg is not None]
    matches = [m for m in (r.answer_match for r in answerable) if m is not None]
    precisions = [p for p in (r.citation_precision for r in results) if p is not None]
    out: Summary = {
        "questions": float(len(results)),
        "answerable": float(len(answerable)),
        "negatives": float(len(negatives)),
    }
    hits = retrieval_metrics([r.sources for r in answerable], [r.expected for r in answerable])
    for key in [f"hit@{k}" for k in HIT_KS] + [f"mrr@{MRR_CUTOFF}"]:
        out[key] = hits.get(key)
    out[f"ndcg@{NDCG_CUTOFF}"] = _mean(graded)
    out["answer_match"] = _mean(matches)
    out["citation_precision"] = _mean(precisions)
    out["abstention_accuracy"] = _mean([r.abstained for r in negatives])
    out["negative_accuracy"] = _mean([r.refused for r in negatives])
    written = [r for r in results if r.generated and not r.abstained and r.answer_mode]
    out["cited"] = _mean([bool(r.cited) for r in written])
    out["extractive_share"] = _mean([r.answer_mode == "extractive" for r in written])
    out["false_abstention"] = _mean([r.abstained for r in answerable])
    out["cache_hit_rate"] = _mean([r.cache != "miss" for r in results])
    out |= latency(results)
    return out


def latency(results: Sequence[QuestionResult]) -> Summary:
    """p50 and p95 in ms of each timed stage (embed, retrieve, generate, total, ...)."""
    stages = sorted({stage for r in results for stage in r.timings_ms})
    out: Summary = {}
    for stage in stages:
        values = [r.timings_ms[stage] for r in results if stage in r.timings_ms]
        out[f"{stage}_ms_p50"] = percentile(values, 50)
        out[f"{stage}_ms_p95"] = percentile(values, 95)
    return out


def summarize_by_kind(results: Sequence[QuestionResult]) -> dict[str, Summary]:
    kinds = sorted({r.kind for r in results})
    return {kind: summarize([r for r in results if r.kind == kind]) for kind in kinds}


def better_or_equal(metric: str, candidate: float, champion: float) -> bool:
    """Whether ``candidate`` is at least as good as ``champion`` on ``metric``."""
    if metric in LOWER_IS_BETTER or metric.endswith(("_p50", "_p95")):
        return candidate <= champion
    return candidate >= champion
