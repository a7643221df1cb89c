"""`askdocs eval`: run a question set through the answering service, report, track in MLflow,
register and promote the configuration."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from askdocs.container import Container
from askdocs.errors import AskdocsError
from askdocs.evaluation.calibration import calibrate as calibrate_gate
from askdocs.evaluation.configuration import answering_params
from askdocs.evaluation.dataset import EvalDataset, load_dataset
from askdocs.evaluation.errors import PromotionRefusedError
from askdocs.evaluation.metrics import QuestionResult
from askdocs.evaluation.report import (
    EvalReport,
    render_calibration,
    render_table,
    render_worst,
    worst,
    write_reports,
)
from askdocs.evaluation.runner import (
    EvalOptions,
    PreparedCorpus,
    corpus_collection,
    prepare_corpus,
    prepare_dataset_corpus,
    run_eval,
)
from askdocs.services.ingestion import IngestOutcome

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def register(app: typer.Typer, container: Callable[[], Container]) -> None:
    """Adds `eval` to the CLI; ``container`` builds the services from settings."""

    @app.command("eval")
    def evaluate(
        dataset: Annotated[
            list[Path],
            typer.Argument(help="Questions .jsonl file(s), merged; or one BEIR folder."),
        ],
        collection: Annotated[
            list[str] | None, typer.Option(help="Collection(s) to search (default: all).")
        ] = None,
        corpus: Annotated[
            Path | None,
            typer.Option(help="Ingest this folder into a collection of its own first."),
        ] = None,
        name: Annotated[
            str | None, typer.Option(help="Run name (default: data set + time).")
        ] = None,
        no_generate: Annotated[
            bool, typer.Option("--no-generate", help="Retrieval and abstention only.")
        ] = False,
        no_cache: Annotated[
            bool, typer.Option("--no-cache", help="Do not serve cached answers.")
        ] = False,
        register_as: Annotated[
            str | None,
            typer.Option("--register", metavar="NAME", help="Register the configuration."),
        ] = None,
        promote: Annotated[
            bool,
            typer.Option(help="Make it `champion` if at least as good on this data set."),
        ] = False,
        out_dir: Annotated[
            Path | None,
            typer.Option("--out", help="Report folder (default: DATA_DIR/eval/runs/RUN)."),
        ] = None,
        no_track: Annotated[
            bool, typer.Option("--no-track", help="Do not log the run to MLflow.")
        ] = False,
        calibrate: Annotated[
            bool,
            typer.Option(
                help="Score each question's answerability and recommend the gate's threshold "
                "(needs negatives; ~0.2 s more a question on 2 cores)."
            ),
        ] = False,
    ) -> None:
        """Measure retrieval, answers, citations and abstention on a question set."""
        if promote and not register_as:
            raise AskdocsError("--promote needs --register NAME: only a registered version moves")
        if register_as and no_track:
            raise AskdocsError("--register needs the run tracked in MLflow: drop --no-track")
        services = container()
        data = load_dataset(dataset)
        collections, prepared = _collections(services, data, corpus, collection or [])
        if prepared is not None:
            _print_prepared(prepared)
        run_name = name or f"{data.name}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"
        # A BEIR folder has queries and qrels, no answers: it measures retrieval only.
        generate = not no_generate and not data.corpus
        options = EvalOptions(
            collections, generate=generate, use_cache=not no_cache, calibrate=calibrate
        )
        started = time.perf_counter()
        results = _run(services, data, options)
        report = EvalReport(
            name=run_name,
            dataset=data.name,
            dataset_sha256=data.sha256,
            options={
                "collections": list(collections),
                "generate": generate,
                "use_cache": options.use_cache,
                "calibrate": calibrate,
            },
            config=answering_params(services.settings),
            results=results,
            seconds=time.perf_counter() - started,
            calibration=calibrate_gate(results, services.settings.eval.false_abstention_budget)
            if calibrate
            else None,
        )
        worst_n = services.settings.eval.worst_questions
        folder = out_dir or services.settings.data_dir / "eval" / "runs" / run_name
        paths = write_reports(report, folder, worst_n)
        out.print(render_table(report))
        if worst_n and worst(report.results, worst_n):
            out.print(render_worst(report, worst_n))
        if report.calibration is not None:
            out.print(render_calibration(report.calibration))
        out.print(f"reports: {paths[0]} and {paths[1]}")
        if not no_track:
            _track(services, report, list(paths), register_as, promote)


def _collections(
    services: Container, data: EvalDataset, corpus: Path | None, named: list[str]
) -> tuple[tuple[str, ...], PreparedCorpus | None]:
    """The collections to search, after ingesting --corpus or a BEIR corpus if there is one."""
    if corpus is not None:
        if len(named) > 1:
            raise AskdocsError("--corpus goes into one collection: give at most one --collection")
        target = named[0] if named else corpus_collection(corpus)
        prepared = prepare_corpus(services, corpus, target, _ingest_progress(), mirror=not named)
        return (target,), prepared
    beir = prepare_dataset_corpus(services, data, _ingest_progress())
    if beir is not None:
        return (beir.collection,), beir
    return tuple(named), None


def _ingest_progress() -> Callable[[IngestOutcome, int], None]:
    def progress(outcome: IngestOutcome, chunks: int) -> None:
        if outcome.status in ("added", "updated"):
            err.print(f"[dim]ingested {outcome.source} ({chunks} chunks)[/dim]")

    return progress


def _print_prepared(prepared: PreparedCorpus) -> None:
    counts: dict[str, int] = {}
    for o in prepared.outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    removed = f", {prepared.removed} removed" if prepared.removed else ""
    err.print(f"collection {prepared.collection}: {summary}{removed}")
    for o in prepared.outcomes:
        if o.status == "failed":
            err.print(f"[yellow]failed:[/yellow] {o.source}: {o.error}")


def _run(services: Container, data: EvalDataset, options: EvalOptions) -> list[QuestionResult]:
    with Progress(
        TextColumn("[bold]eval"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
    ) as bar:
        task = bar.add_task("eval", total=len(data.questions))
        return run_eval(services, data, options, lambda _: bar.advance(task))


def _track(
    services: Container,
    report: EvalReport,
    files: list[Path],
    register_as: str | None,
    promote: bool,
) -> None:
    from askdocs.evaluation import tracking

    settings = services.settings
    logged = tracking.log_report(settings, report, files)
    out.print(f"MLflow run {logged.run_id} at {tracking.tracking_uri(settings)}")
    if not register_as:
        return
    version = tracking.register(settings, logged, register_as)
    out.print(f"registered {register_as} version {version} (models:/{register_as}/{version})")
    if not promote:
        return
    try:
        decision = tracking.promote(settings, register_as, version)
    except PromotionRefusedError as exc:
        err.print(f"[yellow]{exc}[/yellow]")
        raise typer.Exit(1) from exc
    out.print(f"promoted version {version} to models:/{register_as}@champion ({decision.reason})")
