"""Chunk size, chosen by the same rule as the fusion, at an equal prompt budget.

    python benchmarks/chunking.py TARGET OVERLAP PROMPT_PASSAGES

ingests both benchmark corpora with passages of TARGET word pieces (OVERLAP shared with the
next) into `benchmarks/data/chunking/TARGET-OVERLAP/` (the shipped size: quality.py's data
dirs), scores every fusion candidate of
`quality.py` with the prompt taking PROMPT_PASSAGES passages, and records the candidate the
selection rule picks (best mean over both sets of MRR@10 and "answer in prompt"). Each run adds
one configuration to `benchmarks/results/chunking.json`; the table compares all recorded ones.

Sizes are compared at about the same prompt length: 3 passages of 200 word pieces or 5 of 128
(the prompt budget is tokens, not passages). A configuration already ingested is only scored
again; a data dir from `quality.py` can be copied in to skip the ingest.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import numpy as np

import quality
from askdocs.container import Container
from askdocs.settings import ChunkSettings, Settings

from common import DATA, RESULTS, dataset, read_jsonl, table, write_result

NAMES = ("python-faq", "sqlite")


def score(target: int, overlap: int, prompt_passages: int) -> dict[str, Any]:
    quality.PROMPT_PASSAGES = prompt_passages
    ingest_s: dict[str, float] = {}
    passages: dict[str, int] = {}
    for name in NAMES:
        chunk = ChunkSettings(target_tokens=target, overlap_tokens=overlap)
        # The shipped size reuses quality.py's data dir; other sizes get their own.
        folder = (
            DATA / name / "askdocs-data"
            if chunk == ChunkSettings()
            else DATA / "chunking" / f"{target}-{overlap}" / name
        )
        settings = Settings(data_dir=folder, chunk=chunk)
        container = Container(settings)
        start = time.perf_counter()
        container.ingestion.ingest_paths([dataset(name) / "corpus"], collection=settings.collection)
        ingest_s[name] = round(time.perf_counter() - start, 1)
        container.index.sync()
        passages[name] = container.index.stats()["live_passages"]
        questions = [q for q in read_jsonl(DATA / name / "questions.jsonl") if q.get("pages")]
        gold = [set(q["pages"]) for q in questions]
        for mode, overrides in quality.CANDIDATES:
            rankings, covered, _ = quality.rank_questions(
                container, questions, {**quality.NO_RERANK, **overrides}
            )
            quality.RANKINGS.setdefault(name, {})[mode] = (rankings, gold, covered)
        print(f"{name}: {passages[name]} passages, scored", file=sys.stderr, flush=True)
    chosen = quality.selection(NAMES)
    rule = float(
        np.mean([m[k] for m in chosen["metrics"].values() for k in ("mrr@10", "answer in prompt")])
    )
    return {
        "target_tokens": target,
        "overlap_tokens": overlap,
        "prompt_passages": prompt_passages,
        "passages": passages,
        "ingest_s": ingest_s,
        "rule_score": rule,
        **chosen,
    }


def main() -> None:
    target, overlap, prompt_passages = (int(a) for a in sys.argv[1:4])
    path = RESULTS / "chunking.json"
    runs = json.loads(path.read_text())["runs"] if path.exists() else []
    key = (target, overlap, prompt_passages)
    runs = [
        r for r in runs if (r["target_tokens"], r["overlap_tokens"], r["prompt_passages"]) != key
    ]
    runs.append(score(*key))
    runs.sort(key=lambda r: -r["rule_score"])
    write_result("chunking", {"runs": runs})
    rows = []
    for r in runs:
        m = r["metrics"]
        rows.append(
            [f"{r['target_tokens']}/{r['overlap_tokens']}", r["prompt_passages"], r["chosen"]]
            + [m[n][k] for n in NAMES for k in ("hit@5", "mrr@10", "answer in prompt")]
            + [r["rule_score"]]
        )
    header = ["chunk/overlap", "prompt", "fusion chosen"]
    header += [f"{n} {k}" for n in ("FAQ", "SQLite") for k in ("hit@5", "MRR", "in prompt")]
    print(table("Chunk size (each with the fusion the rule picks)", [*header, "rule"], rows))


if __name__ == "__main__":
    main()
