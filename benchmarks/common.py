"""Shared benchmark plumbing: datasets, data dirs, tables printed and written as JSON."""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent
DATA = ROOT / "data"
RESULTS = ROOT / "results"
SHARED = ROOT.parent.parent / "shared"


def machine() -> str:
    import os

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def dataset(name: str) -> Path:
    """Build a benchmark dataset once (needs Debian's package archive), return its folder."""
    out = DATA / name
    if not (out / "questions.jsonl").exists():
        builders = {
            "python-faq": SHARED / "datasets" / "python-faq.py",
            "sqlite": ROOT / "datasets" / "sqlite_docs.py",
            "git": ROOT / "datasets" / "git_docs.py",
            "nodejs": ROOT / "datasets" / "nodejs_docs.py",
        }
        subprocess.run([sys.executable, str(builders[name]), str(out)], check=True)
    if name in ("sqlite", "git", "nodejs"):  # the questions are ours; the built copy must follow
        shutil.copyfile(ROOT / "datasets" / f"{name}-questions.jsonl", out / "questions.jsonl")
    return out


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def percentiles(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=float)
    return {
        "p50": round(float(np.percentile(arr, 50)), 3),
        "p95": round(float(np.percentile(arr, 95)), 3),
        "p99": round(float(np.percentile(arr, 99)), 3),
        "n": len(values),
    }


def table(title: str, header: list[str], rows: list[list[Any]]) -> str:
    cells = [header] + [[f"{c:.3f}" if isinstance(c, float) else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = [title, " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("-|-".join("-" * w for w in widths))
    lines += [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells[1:]]
    return "\n".join(lines)


def write_result(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"machine": machine(), **payload}
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return path
