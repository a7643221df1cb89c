"""Evaluation reports: the metrics overall and per kind, and the worst questions with what was
retrieved for them, as report.json, report.md and a rich table.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.table import Table

from askdocs.evaluation.calibration import Calibration, Point
from askdocs.evaluation.metrics import (
    MRR_CUTOFF,
    QuestionResult,
    Summary,
    summarize,
    summarize_by_kind,
)

# The rows of the printed table, in order, with how each value is shown.
TABLE_METRICS = (
    "questions",
    "hit@1",
    "hit@3",
    "hit@5",
    "hit@10",
    "mrr@10",
    "ndcg@10",
    "answer_match",
    "citation_precision",
    "cited",
    "extractive_share",
    "abstention_accuracy",
    "negative_accuracy",
    "false_abstention",
    "cache_hit_rate",
    "total_ms_p50",
    "total_ms_p95",
)
SHOWN_SOURCES = 5


@dataclass(slots=True)
class EvalReport:
    """One evaluation run: what was asked, how, and how it went."""

    name: str
    dataset: str
    dataset_sha256: str
    options: dict[str, Any]
    config: dict[str, str]
    results: list[QuestionResult]
    seconds: float
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    # The answerability gate's calibration, when the run scored the questions for it.
    calibration: Calibration | None = None
    overall: Summary = field(init=False)
    by_kind: dict[str, Summary] = field(init=False)

    def __post_init__(self) -> None:
        self.overall = summarize(self.results)
        self.by_kind = summarize_by_kind(self.results)


def failure_score(result: QuestionResult) -> float:
    """How badly a question went; 0 for a question that went right.

    A negative that was answered, or an answerable question whose sources were not found in
    the top 10, weighs most; then a late first hit, a wrong answer and a false abstention.
    """
    if result.negative:
        return 0.0 if result.abstained else 2.0
    score = 0.0
    if result.answerable:
        rank = result.rank
        score += 2.0 if rank is None or rank >= MRR_CUTOFF else 1 - 1 / (rank + 1)
        score += 1.0 if result.abstained else 0.0
    if result.answer_match is False:
        score += 1.0
    return score


def worst(results: Sequence[QuestionResult], n: int) -> list[QuestionResult]:
    ranked = sorted(results, key=lambda r: (-failure_score(r), r.id))
    return [r for r in ranked if failure_score(r) > 0][:n]


def result_payload(result: QuestionResult) -> dict[str, Any]:
    return {
        "id": result.id,
        "kind": result.kind,
        "question": result.question,
        "expected": list(result.expected),
        "sources": list(result.sources[:10]),
        "rank": result.rank,
        "ndcg@10": result.ndcg,
        "abstained": result.abstained,
        "answer": result.answer,
        "answer_match": result.answer_match,
        "cited": list(result.cited),
        "citation_precision": result.citation_precision,
        "cache": result.cache,
        "best_score": result.best_score,
        "answerability": result.answerability,
        "timings_ms": dict(result.timings_ms),
    }


def _point_payload(p: Point) -> dict[str, Any]:
    return {
        "threshold": p.threshold,
        "abstention_accuracy": p.abstention_accuracy,
        "false_abstention": p.false_abstention,
        "expected_false_abstention": p.expected_false_abstention,
    }


def calibration_payload(c: Calibration) -> dict[str, Any]:
    return {
        "threshold": c.threshold,
        "setting": calibration_setting(c),
        "budget": c.budget,
        "reason": c.reason,
        "chosen": _point_payload(c.chosen),
        "off": _point_payload(c.off),
        "curve": [_point_payload(p) for p in c.curve],
    }


def calibration_setting(c: Calibration) -> str:
    """The environment line that applies the recommendation."""
    if c.threshold is None:
        return "ASKDOCS_RETRIEVE__ANSWERABILITY_THRESHOLD= (unset: gate off)"
    return f"ASKDOCS_RETRIEVE__ANSWERABILITY_THRESHOLD={c.threshold:.3f}"


def render_calibration(c: Calibration) -> str:
    """Two lines for people: what the gate would change, and the setting."""

    def shares(p: Point) -> str:
        return (
            f"negatives abstained {format_value('abstention_accuracy', p.abstention_accuracy)}, "
            f"false abstention {format_value('false_abstention', p.false_abstention)}"
        )

    return (
        f"answerability gate: {shares(c.off)} with it off; {shares(c.chosen)} at the "
        f"recommended threshold ({c.reason}, budget {c.budget:.2f})\n"
        f"  {calibration_setting(c)}"
    )


def report_payload(report: EvalReport, worst_n: int) -> dict[str, Any]:
    return {
        "name": report.name,
        "dataset": report.dataset,
        "dataset_sha256": report.dataset_sha256,
        "created_at": report.created_at,
        "seconds": round(report.seconds, 2),
        "options": report.options,
        "config": report.config,
        "metrics": report.overall,
        "by_kind": report.by_kind,
        "calibration": None
        if report.calibration is None
        else calibration_payload(report.calibration),
        "worst": [result_payload(r) for r in worst(report.results, worst_n)],
        "questions": [result_payload(r) for r in report.results],
    }


def write_reports(report: EvalReport, out_dir: Path, worst_n: int) -> tuple[Path, Path]:
    """report.json (everything, per question) and report.md (for people) in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "report.json", out_dir / "report.md"
    payload = report_payload(report, worst_n)
    json_path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", "utf-8")
    md_path.write_text(render_markdown(report, worst_n), encoding="utf-8")
    return json_path, md_path


def format_value(metric: str, value: float | None) -> str:
    if value is None:
        return "–"
    if metric in ("questions", "answerable", "negatives"):
        return str(int(value))
    if metric.endswith(("_p50", "_p95")):
        return f"{value:.0f}"
    return f"{value:.3f}"


def _columns(report: EvalReport) -> list[tuple[str, Summary]]:
    columns = [("all", report.overall)]
    if len(report.by_kind) > 1:
        columns += list(report.by_kind.items())
    return columns


def _rows(report: EvalReport) -> list[tuple[str, list[str]]]:
    """Each shown metric with its value per column; rows that apply nowhere are left out."""
    columns = _columns(report)
    rows = []
    for metric in TABLE_METRICS:
        values = [summary.get(metric) for _, summary in columns]
        if any(v is not None for v in values):
            rows.append((metric, [format_value(metric, v) for v in values]))
    return rows


def render_table(report: EvalReport) -> Table:
    table = Table(title=f"{report.name}: {report.dataset} ({len(report.results)} questions)")
    table.add_column("metric")
    for name, _ in _columns(report):
        table.add_column(name, justify="right")
    for metric, values in _rows(report):
        table.add_row(metric, *values)
    return table


def render_worst(report: EvalReport, n: int) -> Table:
    table = Table(title="Worst questions", show_lines=True)
    for name in ("id", "question", "expected", "retrieved (best first)", "answer"):
        table.add_column(name, overflow="fold")
    for r in worst(report.results, n):
        table.add_row(
            f"{r.id}\n{r.kind}",
            r.question,
            ", ".join(r.expected) or "(abstain)",
            _retrieved(r),
            _answer(r),
        )
    return table


def _retrieved(result: QuestionResult) -> str:
    shown = [
        f"{i}. {name}" + (" ✓" if name in result.expected else "")
        for i, name in enumerate(result.sources[:SHOWN_SOURCES], start=1)
    ]
    return "\n".join(shown) or "(nothing)"


def _answer(result: QuestionResult) -> str:
    if result.abstained:
        text = "ABSTAINED"
    elif not result.generated:
        text = "(answered; not generated)"
    else:
        text = " ".join(result.answer.split())[:300]
    if result.answer_match is not None:
        text += "\n(pattern matched)" if result.answer_match else "\n(no pattern matched)"
    return text


def render_markdown(report: EvalReport, worst_n: int) -> str:
    columns = _columns(report)
    lines = [
        f"# Evaluation {report.name}",
        "",
        f"- data set: `{report.dataset}` (sha256 `{report.dataset_sha256[:16]}`), "
        f"{len(report.results)} questions",
        f"- options: {json.dumps(report.options)}",
        f"- configuration: `{report.config.get('config.sha256', '?')}`, run at "
        f"{report.created_at} in {report.seconds:.0f} s",
        "",
        "| metric | " + " | ".join(name for name, _ in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    lines += [f"| {metric} | " + " | ".join(values) + " |" for metric, values in _rows(report)]
    if report.calibration is not None:
        lines += ["", "## Answerability gate", "", render_calibration(report.calibration)]
    lines += ["", "## Worst questions", ""]
    for r in worst(report.results, worst_n):
        lines.append(f"### {r.id} ({r.kind}): {r.question}")
        lines.append("")
        lines.append(f"- expected: {', '.join(r.expected) or '(abstain)'}")
        retrieved = ", ".join(
            f"`{s}`" + (" ✓" if s in r.expected else "") for s in r.sources[:SHOWN_SOURCES]
        )
        lines.append(f"- retrieved: {retrieved or '(nothing)'}")
        lines.append(f"- answer: {_answer(r).replace(chr(10), ' ')}")
        lines.append("")
    return "\n".join(lines) + "\n"
