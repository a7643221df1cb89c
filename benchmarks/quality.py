"""Retrieval quality and abstention on two real data sets: BM25, dense and hybrid fusions.

Usage: python benchmarks/quality.py [--datasets python-faq sqlite]
Builds the data sets from Debian's documentation packages on first use, ingests each corpus
into its own data dir (cached: re-runs do not re-embed), then for every question ranks files
by their best passage under each fusion. Writes benchmarks/results/quality.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from askdocs.container import Container
from askdocs.settings import RetrieveSettings, Settings

from common import DATA, ROOT, dataset, read_jsonl, table, write_result

NO_PRIOR = {"length_prior": 0.0}
MODES: list[tuple[str, dict[str, Any]]] = [
    ("bm25", {"fusion": "keyword", **NO_PRIOR}),
    ("dense", {"fusion": "dense", **NO_PRIOR}),
    ("rrf", {"fusion": "rrf", **NO_PRIOR}),
    *[
        (
            f"weighted {w}",
            {"fusion": "weighted", "keyword_weight": w, "identifier_keyword_weight": w, **NO_PRIOR},
        )
        for w in (0.1, 0.2, 0.3, 0.5)
    ],
    *[
        (
            f"adaptive {w}/{wi}",
            {
                "fusion": "weighted",
                "keyword_weight": w,
                "identifier_keyword_weight": wi,
                **NO_PRIOR,
            },
        )
        for w, wi in ((0.1, 0.3), (0.1, 0.5), (0.2, 0.6))
    ],
    ("dense + prior", {"fusion": "dense"}),
    *[
        (
            f"adaptive {w}/{wi} + prior {b}",
            {
                "fusion": "weighted",
                "keyword_weight": w,
                "identifier_keyword_weight": wi,
                "length_prior": b,
            },
        )
        for w, wi, b in (
            (0.1, 0.1, 0.02),
            (0.1, 0.5, 0.01),
            (0.1, 0.5, 0.02),
            (0.1, 0.5, 0.03),
            (0.2, 0.6, 0.02),
        )
    ],
    ("shipped", {}),
]


def container_for(name: str) -> Container:
    folder = dataset(name)
    settings = Settings(data_dir=DATA / name / "askdocs-data")
    container = Container(settings)
    outcomes = container.ingestion.ingest_paths([folder / "corpus"], collection=settings.collection)
    failed = [o for o in outcomes if o.status == "failed"]
    print(f"{name}: {len(outcomes)} files ({len(failed)} failed)", file=sys.stderr)
    return container


def file_ranking(
    container: Container, question: str, overrides: dict[str, Any]
) -> tuple[list[str], float]:
    settings = container.settings.retrieve.model_copy(update=overrides)
    from askdocs.retrieve import HybridRetriever

    retriever = HybridRetriever(container.index, container.embedder, settings)
    result = retriever.retrieve(question, k=settings.candidates)
    files = list(dict.fromkeys(Path(p.chunk.source).name for p in result.passages))
    return files, result.best_dense


def metrics(rankings: list[list[str]], gold: list[set[str]]) -> dict[str, float]:
    def rank(files: list[str], good: set[str]) -> int | None:
        return next((i for i, f in enumerate(files) if f in good), None)

    ranks = [rank(r, g) for r, g in zip(rankings, gold, strict=True)]
    n = len(ranks)
    return {
        "hit@1": sum(r is not None and r < 1 for r in ranks) / n,
        "hit@5": sum(r is not None and r < 5 for r in ranks) / n,
        "hit@10": sum(r is not None and r < 10 for r in ranks) / n,
        "mrr@10": sum(1 / (r + 1) for r in ranks if r is not None and r < 10) / n,
    }


def evaluate(name: str, offtopic: list[dict[str, Any]]) -> dict[str, Any]:
    container = container_for(name)
    questions = [q for q in read_jsonl(DATA / name / "questions.jsonl") if q.get("pages")]
    gold = [set(q["pages"]) for q in questions]
    out: dict[str, Any] = {"questions": len(questions), "modes": {}}
    best_on_topic: list[float] = []
    for mode, overrides in MODES:
        rankings = []
        for q in questions:
            files, best = file_ranking(container, q["question"], overrides)
            rankings.append(files)
            if mode == "shipped":
                best_on_topic.append(best)
        out["modes"][mode] = metrics(rankings, gold)
    best_off = [file_ranking(container, q["question"], {"fusion": "dense"})[1] for q in offtopic]
    out["best_dense_on_topic"] = best_on_topic
    out["best_dense_off_topic"] = best_off
    return out


def abstention(results: dict[str, Any], threshold: float) -> dict[str, Any]:
    rows = {}
    for name, r in results.items():
        on = np.asarray(r["best_dense_on_topic"])
        off = np.asarray(r["best_dense_off_topic"])
        rows[name] = {
            "answered_on_topic": float((on >= threshold).mean()),
            "abstained_off_topic": float((off < threshold).mean()),
        }
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", nargs="+", default=["python-faq", "sqlite"])
    args = parser.parse_args()
    offtopic = read_jsonl(ROOT / "datasets" / "offtopic-questions.jsonl")
    results = {name: evaluate(name, offtopic) for name in args.datasets}
    header = ["mode"] + [f"{n} {m}" for n in args.datasets for m in ("hit@1", "hit@5", "mrr@10")]
    rows = []
    for mode, _ in MODES:
        rows.append(
            [mode]
            + [
                results[n]["modes"][mode][m]
                for n in args.datasets
                for m in ("hit@1", "hit@5", "mrr@10")
            ]
        )
    print(table("Retrieval quality (file level)", header, rows))
    shipped = RetrieveSettings()
    thresholds = np.round(np.arange(0.15, 0.6, 0.025), 3)
    sweep = {float(t): abstention(results, float(t)) for t in thresholds}
    print()
    print(
        table(
            "Abstention by threshold (best dense cosine)",
            ["threshold"]
            + [f"{n} {k}" for n in args.datasets for k in ("answered", "abstained off-topic")],
            [
                [t]
                + [
                    sweep[t][n][k]
                    for n in args.datasets
                    for k in ("answered_on_topic", "abstained_off_topic")
                ]
                for t in sweep
            ],
        )
    )
    path = write_result(
        "quality",
        {
            "shipped": shipped.model_dump(),
            "results": {n: {k: v for k, v in r.items()} for n, r in results.items()},
            "abstention_at_shipped_threshold": abstention(results, shipped.abstain_threshold),
            "abstention_sweep": sweep,
        },
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
