"""`askdocs` commands: ingest, ask, documents, delete, reindex, info."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from askdocs.access.principals import parse_principals
from askdocs.cli import cache as cache_commands
from askdocs.cli import evaluate as evaluate_commands
from askdocs.cli import finetune as finetune_commands
from askdocs.cli import serve as serve_commands
from askdocs.cli.redaction import redact_secrets
from askdocs.container import Container, build
from askdocs.errors import AskdocsError, ConfigurationError
from askdocs.models import Answer
from askdocs.services.answering import AskOptions, answer_payload
from askdocs.services.ingestion import IngestOutcome
from askdocs.settings import Settings

app = typer.Typer(
    help="Ask questions about your files.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# A file's access list sits next to it: report.pdf.access.
ACCESS_SUFFIX = ".access"
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _container() -> Container:
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigurationError(
            f"invalid settings ({problems}); check the ASKDOCS_* variables and askdocs.toml"
        ) from exc
    return build(settings)


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders (recursive).")],
    collection: Annotated[str | None, typer.Option(help="Collection to add to.")] = None,
    include: Annotated[list[str] | None, typer.Option(help="Only names/paths matching.")] = None,
    exclude: Annotated[list[str] | None, typer.Option(help="Skip names/paths matching.")] = None,
    access: Annotated[
        list[str] | None,
        typer.Option(
            help="Principals that may see the files, e.g. user:alice or group:eng (repeatable; "
            "'' alone: everyone). A file's sidecar NAME.access overrides it; without either, a "
            "file keeps its access list (a new one: everyone)."
        ),
    ] = None,
) -> None:
    """Add or update files; unchanged files are skipped. Exits 1 if any file failed."""
    container = _container()
    collection = collection or container.settings.collection
    found, missing = container.ingestion.find_files(
        paths, include=include or (), exclude=exclude or ()
    )
    files, lists = access_lists(found, access)
    started = time.perf_counter()
    chunks_done = 0
    with Progress(
        TextColumn("[bold]ingest"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} files"),
        TextColumn("{task.fields[chunks]} chunks, {task.fields[rate]:.1f} chunks/s"),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    ) as bar:
        task = bar.add_task("ingest", total=len(files), chunks=0, rate=0.0)

        def progress(outcome: IngestOutcome, chunks: int) -> None:
            nonlocal chunks_done
            if outcome.status in ("added", "updated"):
                chunks_done += chunks
            rate = chunks_done / max(time.perf_counter() - started, 1e-6)
            bar.update(task, advance=1, chunks=chunks_done, rate=rate)

        outcomes = missing + container.ingestion.ingest_files(
            files, collection=collection, progress=progress, access=lists
        )
    _print_summary(outcomes, time.perf_counter() - started)
    if any(o.status == "failed" for o in outcomes):
        raise typer.Exit(1)


def access_lists(
    found: list[Path], given: list[str] | None
) -> tuple[list[Path], dict[Path, tuple[str, ...]]]:
    """The files to ingest (sidecars left out) and the access list of each that has one: its
    sidecar ``NAME.access`` (principals, comma or line separated; an empty file: everyone),
    else ``--access`` for the run."""
    run = parse_principals(given) if given is not None else None
    sidecars = {p for p in found if p.name.endswith(ACCESS_SUFFIX)}
    files = [p for p in found if p not in sidecars]
    lists: dict[Path, tuple[str, ...]] = {}
    for path in files:
        sidecar = path.with_name(path.name + ACCESS_SUFFIX)
        if sidecar in sidecars or sidecar.is_file():
            lists[path] = parse_principals(sidecar.read_text(encoding="utf-8"))
        elif run is not None:
            lists[path] = run
    return files, lists


def _print_summary(outcomes: list[IngestOutcome], seconds: float) -> None:
    counts = {
        s: sum(o.status == s for o in outcomes) for s in ("added", "updated", "unchanged", "failed")
    }
    table = Table(title=f"Ingested in {seconds:.1f}s")
    for name in counts:
        table.add_column(name, justify="right")
    table.add_row(*(str(v) for v in counts.values()))
    out.print(table)
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        reasons = Table(title="Failed files", show_lines=False)
        reasons.add_column("file")
        reasons.add_column("reason")
        for o in failed:
            reasons.add_row(o.source, o.error or "unknown error")
        out.print(reasons)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="Your question.")],
    collection: Annotated[list[str] | None, typer.Option(help="Collection(s) to search.")] = None,
    k: Annotated[int | None, typer.Option("-k", help="Passages to retrieve.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    no_generate: Annotated[bool, typer.Option("--no-generate", help="Retrieval only.")] = False,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Do not use cached answers.")
    ] = False,
) -> None:
    """Answer a question from the ingested files, with numbered sources."""
    container = _container()
    options = AskOptions(tuple(collection or ()), k, not no_generate, not no_cache)
    if as_json:
        answer = container.answering.answer(question, options)
        sys.stdout.write(json.dumps(answer_payload(answer), ensure_ascii=False) + "\n")
        return
    final: Answer | None = None
    # Checked sentences stream as the model finishes them; the final answer replaces them.
    with Live(Text(""), console=out, auto_refresh=False, transient=not out.is_terminal) as live:
        streamed = ""
        for event in container.answering.stream(question, options):
            if isinstance(event, Answer):
                final = event
                live.update(Text(event.answer), refresh=True)
            elif out.is_terminal:
                streamed += event
                live.update(Text(streamed), refresh=True)
    assert final is not None
    if not out.is_terminal and final.answer:
        out.print(Text(final.answer))
    if final.answer_mode == "extractive":
        out.print(
            "[dim](quoted from the documents: the model's answer was not supported by them)[/dim]"
        )
    _print_sources(final)


def _location(page: int | None, heading: tuple[str, ...]) -> str:
    parts = []
    if page is not None:
        parts.append(f"page {page}")
    if heading:
        parts.append(" > ".join(heading))
    return ", ".join(parts)


def _print_sources(answer: Answer) -> None:
    cited = {c.n for c in answer.citations}
    table = Table(title="Sources", title_justify="left")
    table.add_column("n")
    table.add_column("file", overflow="fold")
    table.add_column("page / heading", overflow="fold")
    table.add_column("score")
    for n, passage in enumerate(answer.passages, start=1):
        chunk = passage.chunk
        mark = f"[{n}]" + ("*" if n in cited else "")
        table.add_row(
            mark, chunk.source, _location(chunk.page, chunk.heading), f"{passage.score:.3f}"
        )
    out.print(table)
    if answer.quotes:
        out.print("[bold]Supporting quotes[/bold]")
        for q in answer.quotes:
            out.print(f"  [{q.n}] “{q.text}”")
    out.print(f"[dim]cache: {answer.cache}; timings (ms): {answer.timings_ms}[/dim]")


@app.command()
def documents(
    collection: Annotated[str | None, typer.Option(help="Only this collection.")] = None,
) -> None:
    """List the documents: id, source, version, chunks, status, updated."""
    records = _container().tables.read_documents()
    table = Table()
    for name in ("id", "collection", "source", "version", "chunks", "status", "updated"):
        table.add_column(name)
    for r in sorted(records, key=lambda r: (r.collection, r.source)):
        if collection and r.collection != collection:
            continue
        table.add_row(
            r.document_id,
            r.collection,
            r.source,
            str(r.version),
            str(r.chunk_count),
            r.status,
            r.updated_at,
        )
    out.print(table)


@app.command()
def delete(
    document_id: Annotated[str | None, typer.Argument(help="Document id.")] = None,
    source: Annotated[
        Path | None, typer.Option(help="Delete by the path it was ingested from.")
    ] = None,
    collection: Annotated[str | None, typer.Option(help="Collection of --source.")] = None,
) -> None:
    """Delete a document: it leaves retrieval at once."""
    container = _container()
    if (document_id is None) == (source is None):
        raise AskdocsError("give a document id or --source PATH (one of them)")
    if source is not None:
        record = container.ingestion.delete_source(
            str(source.resolve()), collection or container.settings.collection
        )
    else:
        assert document_id is not None
        record = container.ingestion.delete(document_id)
    out.print(f"deleted {record.document_id} ({record.source}, version {record.version})")


@app.command()
def reindex() -> None:
    """Rebuild every derived index from the Delta tables."""
    started = time.perf_counter()
    result = _container().index.rebuild()
    seconds = time.perf_counter() - started
    out.print(
        f"rebuilt the index from documents v{result.documents_version}, chunks "
        f"v{result.chunks_version}: {result.inserted} passages in {seconds:.1f}s"
    )


@app.command()
def info() -> None:
    """Data dir, models, table versions, index sizes and the effective settings."""
    container = _container()
    settings = container.settings
    index = container.index
    index.sync()
    blobs, blob_bytes = container.blobs.stats()
    data = {
        "data_dir": str(settings.data_dir),
        "embedder": container.embedder.model_id,
        "tables": {
            "documents_version": container.tables.documents_version(),
            "chunks_version": container.tables.chunks_version(),
        },
        "index": index.stats() | {"embed_model": index.embed_model},
        "blobs": {"count": blobs, "bytes": blob_bytes},
        "embedding_cache_entries": container.embed_cache.count(),
        # Keys and URL passwords are shown as *** (they end up in bug reports and terminals).
        "settings": redact_secrets(json.loads(settings.model_dump_json())),
    }
    out.print_json(json.dumps(data))


serve_commands.register(app, _container)
evaluate_commands.register(app, _container)
finetune_commands.register(app, _container)
app.add_typer(cache_commands.cache_app, name="cache")


def main() -> None:
    """Entry point: domain errors become one line on stderr and exit code 2."""
    try:
        app(standalone_mode=True)
    except AskdocsError as exc:
        err.print(f"[red]error:[/red] {exc}")
        sys.exit(2)
