"""`askdocs eval` on the two benchmark data sets with the shipped configuration.

Usage: python benchmarks/evaluation.py [--datasets python-faq sqlite] [--generate] [--calibrate]
                                       [--track]
Each data set's questions are asked with the 50 off-topic questions mixed in (kind
"negative"), retrieval only: hit@k, MRR@10, abstention on the off-topic questions and false
abstention on the real ones. With --generate the SQLite set is asked again with generation on
(SmolLM2 in llama.cpp, answer cache off), which measures answer match, citation precision and
abstention on the SQLite-adjacent negatives as well (~5-10 s per generated answer on 2 cores).
With --calibrate the retrieval runs also score every question for the answerability gate and
calibrate it (`askdocs eval --calibrate`) on the whole set and on held-out halves: the gate's
threshold is chosen on one half of the questions and measured on the other, both ways. The
generated run then uses the threshold calibrated on the whole SQLite set.
Corpora are built and ingested as benchmarks/quality.py does (cached). Writes
benchmarks/results/evaluation.json and each run's report.json / report.md under
benchmarks/results/evaluation/; --track also logs the runs to MLflow in each data dir.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path
from typing import Any

from askdocs.container import Container
from askdocs.evaluation.calibration import Calibration, calibrate, gated
from askdocs.evaluation.configuration import answering_params
from askdocs.evaluation.dataset import load_dataset
from askdocs.evaluation.metrics import QuestionResult
from askdocs.evaluation.report import EvalReport, calibration_payload, write_reports
from askdocs.evaluation.runner import EvalOptions, run_eval
from askdocs.settings import Settings

from common import DATA, RESULTS, ROOT, dataset, table, write_result

OFFTOPIC = ROOT / "datasets" / "offtopic-questions.jsonl"
QUESTIONS = {
    "python-faq": DATA / "python-faq" / "questions.jsonl",
    # The checked-in file, so pattern fixes count without rebuilding the corpus.
    "sqlite": ROOT / "datasets" / "sqlite-questions.jsonl",
}
SHOWN = [
    "hit@1",
    "hit@5",
    "mrr@10",
    "answer_match",
    "citation_precision",
    "false_abstention",
    "total_ms_p50",
]


def container_for(name: str) -> Container:
    folder = dataset(name)
    container = Container(Settings(data_dir=DATA / name / "askdocs-data"))
    outcomes = container.ingestion.ingest_paths(
        [folder / "corpus"], collection=container.settings.collection
    )
    failed = sum(o.status == "failed" for o in outcomes)
    print(f"{name}: {len(outcomes)} files ({failed} failed)", file=sys.stderr)
    return container


def evaluate(
    container: Container, name: str, run: str, generate: bool, calibrating: bool = False
) -> EvalReport:
    data = load_dataset([QUESTIONS[name], OFFTOPIC])
    started = time.perf_counter()
    done = 0

    def progress(_: object) -> None:
        nonlocal done
        done += 1
        if done % 25 == 0:
            print(f"  {run}: {done}/{len(data.questions)}", file=sys.stderr)

    options = EvalOptions(generate=generate, use_cache=False, calibrate=calibrating)
    results = run_eval(container, data, options, progress)
    budget = container.settings.eval.false_abstention_budget
    return EvalReport(
        name=run,
        dataset=data.name,
        dataset_sha256=data.sha256,
        options={"generate": generate, "use_cache": False, "calibrate": calibrating},
        config=answering_params(container.settings),
        results=results,
        seconds=time.perf_counter() - started,
        calibration=calibrate(results, budget) if calibrating else None,
    )


def half(question_id: str) -> int:
    """A fixed split of the questions into two halves, by a hash of the id."""
    return hashlib.sha1(question_id.encode()).digest()[0] % 2


def held_out(results: list[QuestionResult], budget: float) -> dict[str, Any]:
    """Calibrate on each half, apply to the other; the two held-out halves together."""
    applied: list[QuestionResult] = []
    thresholds = []
    for fold in (0, 1):
        train = [r for r in results if half(r.id) != fold]
        test = [r for r in results if half(r.id) == fold]
        chosen = calibrate(train, budget).threshold
        thresholds.append(chosen)
        applied += gated(test, chosen)
    return {"thresholds": thresholds, **abstention(applied)}


def abstention(results: list[QuestionResult]) -> dict[str, Any]:
    def share(rows: list[QuestionResult]) -> float | None:
        return sum(r.abstained for r in rows) / len(rows) if rows else None

    return {
        "false_abstention": share([r for r in results if r.answerable]),
        "offtopic_abstention": share([r for r in results if r.id.startswith("off-")]),
        "own_negatives_abstention": share(
            [r for r in results if r.negative and not r.id.startswith("off-")]
        ),
    }


def gate_summary(report: EvalReport) -> dict[str, Any]:
    calibration: Calibration | None = report.calibration
    assert calibration is not None
    budget = calibration.budget
    return {
        "whole_set": calibration_payload(calibration)
        | {"applied": abstention(gated(report.results, calibration.threshold))},
        "off": abstention(gated(report.results, None)),
        "held_out_halves": held_out(report.results, budget),
    }


def with_gate(container: Container, threshold: float | None) -> Container:
    settings = container.settings
    retrieve = settings.retrieve.model_copy(update={"answerability_threshold": threshold})
    return Container(settings.model_copy(update={"retrieve": retrieve}))


def summary(report: EvalReport) -> dict[str, Any]:
    out = {
        "questions": len(report.results),
        "seconds": round(report.seconds, 1),
        "answerability_threshold": report.config.get("retrieve.answerability_threshold"),
        "metrics": report.overall,
        "by_kind": report.by_kind,
    }
    shares = abstention(report.results)
    out |= {k: shares[k] for k in ("offtopic_abstention", "own_negatives_abstention")}
    if report.calibration is not None:
        out["answerability_gate"] = gate_summary(report)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", nargs="+", default=["python-faq", "sqlite"])
    parser.add_argument("--generate", action="store_true", help="also the SQLite set, generated")
    parser.add_argument("--track", action="store_true", help="log the runs to MLflow")
    parser.add_argument("--calibrate", action="store_true", help="calibrate the answerability gate")
    args = parser.parse_args()
    reports: dict[str, EvalReport] = {}
    for name in args.datasets:
        container = container_for(name)
        runs = [(f"{name} retrieval", False)]
        if args.generate and name == "sqlite":
            runs.append((f"{name} generated", True))
        for run, generate in runs:
            retrieval = reports.get(f"{name} retrieval")
            if generate and retrieval is not None and retrieval.calibration is not None:
                threshold = retrieval.calibration.threshold
                container = with_gate(container, threshold)
                print(f"  {name}: generating with the gate at {threshold}", file=sys.stderr)
            calibrating = args.calibrate and not generate
            report = evaluate(container, name, run.replace(" ", "-"), generate, calibrating)
            reports[run] = report
            paths = write_reports(report, RESULTS / "evaluation" / report.name, worst_n=15)
            if args.track:
                from askdocs.evaluation.tracking import log_report

                log_report(container.settings, report, list(paths))
    header = ["run", "questions", *SHOWN, "off-topic abstained", "SQLite negatives abstained"]
    rows = []
    for run, report in reports.items():
        shares = abstention(report.results)
        own = shares["own_negatives_abstention"]
        rows.append(
            [run, len(report.results)]
            + [report.overall.get(m) if report.overall.get(m) is not None else "–" for m in SHOWN]
            + [shares["offtopic_abstention"], own if own is not None else "–"]
        )
    print(table("askdocs eval, shipped configuration", header, rows))
    gate_rows = []
    for run, report in reports.items():
        if report.calibration is None:
            continue
        gate = gate_summary(report)
        for label, figures in (
            ("gate off", gate["off"]),
            (f"whole set, t={report.calibration.threshold}", gate["whole_set"]["applied"]),
            (
                f"held-out halves, t={gate['held_out_halves']['thresholds']}",
                gate["held_out_halves"],
            ),
        ):
            gate_rows.append(
                [run, label]
                + [
                    figures[m] if figures[m] is not None else "–"
                    for m in ("false_abstention", "own_negatives_abstention", "offtopic_abstention")
                ]
            )
    if gate_rows:
        header = ["run", "answerability gate", "false abst.", "own negatives", "off-topic"]
        print(
            table("answerability gate, calibrated by askdocs eval --calibrate", header, gate_rows)
        )
    path = write_result(
        "evaluation",
        {
            "config": answering_params(Settings()),
            "runs": {run: summary(report) for run, report in reports.items()},
            "reports": {
                run: str(Path("evaluation") / report.name) for run, report in reports.items()
            },
        },
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
