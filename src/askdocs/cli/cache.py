"""`askdocs cache stats|clear`: what the answer and embedding caches hold, and emptying them."""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from askdocs.cache.base import CacheStats
from askdocs.container import Container

cache_app = typer.Typer(
    help="Inspect or empty the answer and embedding caches.", no_args_is_help=True
)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _container() -> Container:
    # Imported here: the CLI app module imports this one to register it.
    from askdocs.cli.app import _container as build

    return build()


@cache_app.command("stats")
def stats(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Entries, size, hits, misses, stale rejections and evictions per cache layer."""
    container = _container()
    found = {"answers": container.answer_cache.stats(), "embeddings": container.embed_cache.stats()}
    if as_json:
        payload = {name: s.as_dict() for name, s in found.items()}
        sys.stdout.write(json.dumps(payload) + "\n")
        return
    for name, cache_stats in found.items():
        out.print(_table(name, cache_stats))


@cache_app.command("clear")
def clear(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    embeddings: Annotated[
        bool,
        typer.Option(
            "--embeddings",
            help="Also drop chunk vectors (the next ingest of changed files re-embeds them).",
        ),
    ] = False,
    reset_stats: Annotated[
        bool, typer.Option("--reset-stats", help="Also zero the hit/miss counters.")
    ] = False,
) -> None:
    """Remove cached answers and question vectors (and chunk vectors with --embeddings)."""
    container = _container()
    answers, vectors = container.answer_cache, container.embed_cache
    where = answers.stats().location
    what = "cached answers, question vectors" + (" and chunk vectors" if embeddings else "")
    if not yes and not typer.confirm(f"Remove all {what} from {where}?"):
        err.print("nothing removed")
        raise typer.Exit(1)
    removed_answers = answers.clear(reset_stats=reset_stats)
    removed_vectors = vectors.clear(queries_only=not embeddings, reset_stats=reset_stats)
    out.print(f"removed {removed_answers} answers and {removed_vectors} vectors from {where}")


def _table(name: str, found: CacheStats) -> Table:
    state = "" if found.available else " [red](unavailable)[/red]"
    table = Table(
        title=f"{name}: {found.backend} {found.location}{state}\n"
        f"{found.entries} entries, {_size(found.bytes)}, "
        f"{found.errors} errors, {found.bypassed} bypassed",
        title_justify="left",
    )
    table.add_column("layer")
    for event in ("hits", "misses", "stale", "evictions", "expired", "rejected"):
        table.add_column(event, justify="right")
    for layer, counts in found.layers.items():
        row = dataclasses.astuple(counts)
        table.add_row(layer, *(str(v) for v in row))
    return table


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"
