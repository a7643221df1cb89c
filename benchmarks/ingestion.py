"""Ingestion throughput: the whole pipeline vs the bare embedder on the same chunk texts, and
re-ingesting the unchanged corpus.

Usage: python benchmarks/ingestion.py [--files N]
Uses the sqlite documentation corpus (built by benchmarks/quality.py on first use); --files
takes a deterministic sample of it to bound the run time (0 = all). Each run starts from an
empty data dir, so nothing comes from the embedding cache. Writes
benchmarks/results/ingestion.json.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from askdocs.chunk import embedding_text
from askdocs.container import Container
from askdocs.settings import Settings

from common import dataset, table, write_result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=120)
    args = parser.parse_args()
    corpus = dataset("sqlite") / "corpus"
    files = sorted(corpus.iterdir())
    if args.files:
        files = files[:: max(1, len(files) // args.files)][: args.files]
    work = Path(tempfile.mkdtemp(prefix="askdocs-ingest-bench-"))
    try:
        container = Container(Settings(data_dir=work / "data"))
        embedder = container.embedder
        embedder.embed(["warm up the session"])

        started = time.perf_counter()
        outcomes = container.ingestion.ingest_paths(files, collection="bench")
        first_s = time.perf_counter() - started
        chunks = sum(o.chunks for o in outcomes)
        failed = sum(o.status == "failed" for o in outcomes)

        started = time.perf_counter()
        again = container.ingestion.ingest_paths(files, collection="bench")
        second_s = time.perf_counter() - started
        assert all(o.status == "unchanged" for o in again)

        # The bare embedder on exactly the texts the pipeline had to embed (repeated passages,
        # such as shared boilerplate, are embedded once by both), in batches of the same size.
        table_ = container.tables.read_chunks()
        texts = [
            embedding_text(t, tuple(h or ()))
            for t, h in zip(
                table_.column("text").to_pylist(), table_.column("heading").to_pylist(), strict=True
            )
        ]
        distinct = list(dict.fromkeys(texts))
        started = time.perf_counter()
        for start in range(0, len(distinct), 256):
            embedder.embed(distinct[start : start + 256])
        bare_s = time.perf_counter() - started
    finally:
        shutil.rmtree(work, ignore_errors=True)

    pipeline_rate = chunks / first_s
    bare_rate = len(texts) / bare_s  # chunks covered per second, as for the pipeline
    result = {
        "files": len(files),
        "failed": failed,
        "chunks": chunks,
        "distinct_texts": len(distinct),
        "first_ingest_s": round(first_s, 2),
        "pipeline_chunks_per_s": round(pipeline_rate, 2),
        "bare_embedder_chunks_per_s": round(bare_rate, 2),
        "pipeline_vs_bare": round(pipeline_rate / bare_rate, 3),
        "reingest_unchanged_s": round(second_s, 3),
        "reingest_share_of_first": round(second_s / first_s, 4),
    }
    row = [len(files), chunks, round(pipeline_rate, 2), round(bare_rate, 2)]
    row += [result["pipeline_vs_bare"], result["reingest_share_of_first"]]
    header = ["files", "chunks", "pipeline ch/s", "bare embedder ch/s", "ratio", "re-ingest share"]
    print(table("Ingestion (sqlite docs sample)", header, [row]))
    print(f"wrote {write_result('ingestion', result)}")


if __name__ == "__main__":
    main()
