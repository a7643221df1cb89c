"""Query latency at 10k, 100k and 200k passages, and IVF recall against exact search.

Usage: python benchmarks/query.py [--sizes 10000 100000 200000] [--repeat 3]
Synthesises large collections from the real sqlite corpus (benchmarks/quality.py ingests it):
each copy of a chunk gets a perturbed vector and a tagged text, so keyword and vector search
both see distinct passages. Writes benchmarks/results/query.json.
"""

from __future__ import annotations

import argparse
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from askdocs.container import Container
from askdocs.models import Chunk, DocumentRecord
from askdocs.retrieve import HybridRetriever
from askdocs.settings import RetrieveSettings, Settings
from askdocs.storage.tables import DeltaTables

from common import DATA, percentiles, read_jsonl, table, write_result


def synthesise(source: DeltaTables, target: Path, size: int, seed: int = 0) -> Container:
    """A data dir with ``size`` passages made from perturbed copies of ``source``'s chunks."""
    if target.exists():
        shutil.rmtree(target)
    container = Container(Settings(data_dir=target, retrieve=RetrieveSettings()))
    base = source.read_chunks()
    texts = base.column("text").to_pylist()
    headings = base.column("heading").to_pylist()
    model = base.column("embed_model")[0].as_py()
    vectors = np.asarray(base.column("vector").combine_chunks().flatten(), np.float32).reshape(
        base.num_rows, -1
    )
    rng = np.random.default_rng(seed)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    per_doc = 200
    made = 0
    while made < size:
        n = min(per_doc, size - made)
        idx = rng.integers(0, base.num_rows, n)
        noisy = vectors[idx] + rng.normal(0, 0.02, (n, vectors.shape[1])).astype(np.float32)
        noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
        doc = f"{made // per_doc:024x}"
        chunks = [
            Chunk(
                chunk_id=f"{doc}-1-{j}", document_id=doc, version=1, collection="default",
                source=f"synthetic/{doc}.html", ordinal=j, text=f"{texts[i]} [copy {made + j}]",
                text_sha256=f"{made + j:064x}", start=0, end=len(texts[i]), page=None,
                heading=tuple(headings[i] or ()),
            )
            for j, i in enumerate(idx)
        ]  # fmt: skip
        container.tables.append_chunks(chunks, noisy, model)
        container.tables.commit_documents(
            [
                DocumentRecord(
                    doc, "default", f"synthetic/{doc}.html", 1, "0" * 64, "text/html", 0, n,
                    "ready", "synthetic", model, now, now,
                )
            ]
        )  # fmt: skip
        made += n
    return container


def measure(container: Container, questions: list[str], repeat: int) -> dict[str, object]:
    started = time.perf_counter()
    container.index.sync()
    sync_s = time.perf_counter() - started
    # The plain embedder: the container's remembers question vectors, and repeats would time
    # the cache instead of the model.
    retriever = HybridRetriever(container.index, container.embedder, container.settings.retrieve)
    retriever.retrieve(questions[0])  # warm up
    total, embed, search = [], [], []
    for _ in range(repeat):
        for q in questions:
            t = time.perf_counter()
            result = retriever.retrieve(q)
            total.append((time.perf_counter() - t) * 1000)
            embed.append(result.timings_ms["embed"])
            search.append(result.timings_ms["retrieve"])
    return {
        "index_build_s": round(sync_s, 1),
        "total_ms": percentiles(total),
        "embed_ms": percentiles(embed),
        "search_ms": percentiles(search),
    }


def recall(container: Container, questions: list[str], k: int = 10) -> float:
    """Share of exact top-k dense hits that the IVF path also returns."""
    vectors = container.index._vectors
    embedder = container.embedder
    hits = []
    for q in questions:
        query = embedder.embed([q])[0]
        approx = {r for r, _ in vectors.search(query, None, k)}
        threshold, vectors.ann_threshold = vectors.ann_threshold, 10**12
        exact = {r for r, _ in vectors.search(query, None, k)}
        vectors.ann_threshold = threshold
        hits.append(len(approx & exact) / k)
    return float(np.mean(hits))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000, 200_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    source = DeltaTables(DATA / "sqlite" / "askdocs-data" / "tables")
    questions = [q["question"] for q in read_jsonl(DATA / "sqlite" / "questions.jsonl")]
    results: dict[str, object] = {}
    rows = []
    for size in args.sizes:
        target = DATA / f"synthetic-{size}"
        container = synthesise(source, target, size)
        result = measure(container, questions, args.repeat)
        ann = size > container.settings.retrieve.ann_threshold
        result["search"] = "ivf" if ann else "exact"
        if ann:
            result["ivf_recall@10"] = round(recall(container, questions), 4)
        results[str(size)] = result
        total = result["total_ms"]
        assert isinstance(total, dict)
        rows.append(
            [size, result["search"], total["p50"], total["p95"],
             result["embed_ms"]["p50"], result["search_ms"]["p50"],  # type: ignore[index]
             result.get("ivf_recall@10", "-"), result["index_build_s"]]
        )  # fmt: skip
        shutil.rmtree(target)
    print(
        table(
            "Retrieval latency (embed + hybrid search), ms",
            ["passages", "search", "p50", "p95", "embed p50", "search p50", "recall@10", "sync s"],
            rows,
        )
    )
    print(f"wrote {write_result('query', {'sizes': results})}")


if __name__ == "__main__":
    main()
