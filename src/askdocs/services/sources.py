"""Where documents come from: the files under some folders, and each one's stable id."""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path


def document_id_for(collection: str, source: str) -> str:
    """Stable id of the document at ``source`` in ``collection``."""
    return hashlib.sha256(f"{collection}\0{source}".encode()).hexdigest()[:24]


def discover(
    paths: Iterable[Path],
    include: Sequence[str],
    exclude: Sequence[str],
    skip_dirs: Sequence[Path] = (),
) -> list[Path]:
    """Files under ``paths`` (recursive), filtered by glob patterns on the name or relative path.

    Hidden folders and ``skip_dirs`` (askdocs' own data dir) are never walked into.
    """
    skip = [d.resolve() for d in skip_dirs]
    found: dict[Path, None] = {}
    for root in paths:
        candidates = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in candidates:
            rel = path.relative_to(root).as_posix() if path != root else path.name
            if any(part.startswith(".") for part in Path(rel).parts[:-1]):
                continue  # .git, .venv and other hidden folders
            if any(path.resolve().is_relative_to(d) for d in skip):
                continue
            names = (path.name, rel)
            if include and not any(fnmatch.fnmatch(n, g) for g in include for n in names):
                continue
            if any(fnmatch.fnmatch(n, g) for g in exclude for n in names):
                continue
            found.setdefault(path.resolve(), None)
    return list(found)
