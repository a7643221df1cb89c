"""`askdocs finetune-embedder`: fine-tune the embedder on a collection, export it for the
default runtime, compare it with the current one on held-out pairs, track and register it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from askdocs.container import Container
from askdocs.errors import AskdocsError
from askdocs.evaluation.dataset import load_dataset
from askdocs.evaluation.finetune import (
    FinetuneOptions,
    FinetuneResult,
    PairSources,
    finetune_collection,
    require_training,
)

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def register(app: typer.Typer, container: Callable[[], Container]) -> None:
    """Adds `finetune-embedder` to the CLI."""

    @app.command("finetune-embedder")
    def finetune_embedder(
        collection: Annotated[str, typer.Option(help="Collection whose documents to learn.")],
        pairs: Annotated[
            list[Path] | None,
            typer.Option(help="Questions .jsonl with expected files (the eval format)."),
        ] = None,
        headings: Annotated[
            bool, typer.Option(help="Use section headings as questions for their text.")
        ] = True,
        generate_questions: Annotated[
            int, typer.Option(help="Passages to have the generator write a question for.")
        ] = 0,
        max_pairs: Annotated[int, typer.Option(help="At most this many pairs.")] = 5000,
        held_out: Annotated[float, typer.Option(help="Share of pairs held out to judge.")] = 0.2,
        epochs: Annotated[int, typer.Option(help="Passes over the training pairs.")] = 1,
        batch_size: Annotated[int, typer.Option(help="Pairs per step (in-batch negatives).")] = 32,
        learning_rate: Annotated[float, typer.Option(help="AdamW learning rate.")] = 2e-5,
        out_dir: Annotated[
            Path | None,
            typer.Option("--out", help="Model folder (default: DATA_DIR/models/finetuned-TIME)."),
        ] = None,
        register_as: Annotated[
            str | None,
            typer.Option("--register", metavar="NAME", help="Register the configuration."),
        ] = None,
        no_track: Annotated[
            bool, typer.Option("--no-track", help="Do not log the run to MLflow.")
        ] = False,
    ) -> None:
        """Fine-tune the embedder on a collection's documents and export it to ONNX."""
        if register_as and no_track:
            raise AskdocsError("--register needs the run tracked in MLflow: drop --no-track")
        require_training()
        services = container()
        questions = load_dataset(pairs).questions if pairs else ()
        sources = PairSources(questions, headings, generate_questions, max_pairs)
        options = FinetuneOptions(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        folder = out_dir or services.settings.data_dir / "models" / f"finetuned-{stamp}"
        with Progress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.3f}"),
            TimeRemainingColumn(),
            console=err,
        ) as bar:
            task = bar.add_task("train", total=None, loss=0.0)

            def progress(step: int, steps: int, loss: float) -> None:
                bar.update(task, completed=step, total=steps, loss=loss)

            result = finetune_collection(
                services, collection, sources, options, folder, held_out=held_out, progress=progress
            )
        _print_result(result)
        if no_track:
            return
        from askdocs.evaluation import tracking

        params = {
            "finetune.collection": collection,
            "finetune.epochs": str(epochs),
            "finetune.batch_size": str(batch_size),
            "finetune.learning_rate": str(learning_rate),
            "finetune.held_out": str(held_out),
            "finetune.train_pairs": str(result.train_pairs),
            "finetune.held_out_pairs": str(result.held_out_pairs),
        }
        logged = tracking.log_finetune(services.settings, result, params)
        out.print(f"MLflow run {logged.run_id} at {tracking.tracking_uri(services.settings)}")
        if register_as:
            version = tracking.register(services.settings, logged, register_as)
            out.print(f"registered {register_as} version {version}")


def _print_result(result: FinetuneResult) -> None:
    table = Table(
        title=f"Held-out pairs ({result.held_out_pairs}; trained on {result.train_pairs}: "
        + ", ".join(f"{n} {origin}" for origin, n in sorted(result.origins.items()))
        + ")"
    )
    for name in ("metric", "before", "after"):
        table.add_column(name, justify="right" if name != "metric" else "left")
    for metric, value in result.before.items():
        table.add_row(metric, f"{value:.3f}", f"{result.after.get(metric, 0.0):.3f}")
    out.print(table)
    exported = result.exported
    out.print(
        f"model: {exported.onnx_path}\n"
        "to use it, ingest your files again into a new data dir (an index holds one "
        "embedder's vectors) with:\n"
        f"  ASKDOCS_EMBED__ONNX_PATH={exported.onnx_path} "
        f"ASKDOCS_EMBED__TOKENIZER_PATH={exported.tokenizer_path} "
        f"ASKDOCS_EMBED__MODEL_ID={exported.model_id}"
    )
