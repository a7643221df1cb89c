"""Answer cache, exact layer: latency of a hit against a miss that generates, in one run.

Usage: python benchmarks/cache.py [--questions 8] [--repeat 50]
Uses the sqlite documentation corpus (ingested by benchmarks/quality.py) and the real models.
Each question is asked once (a miss: retrieval + generation), then repeated (exact hits) in the
same process. Writes benchmarks/results/cache.json.
"""

from __future__ import annotations

import argparse
import time

from askdocs.container import Container
from askdocs.services.answering import AskOptions
from askdocs.settings import Settings

from common import DATA, percentiles, read_jsonl, table, write_result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    container = Container(Settings(data_dir=DATA / "sqlite" / "askdocs-data"))
    questions = [
        q["question"]
        for q in read_jsonl(DATA / "sqlite" / "questions.jsonl")
        if q.get("kind") != "negative"
    ][: args.questions]
    answering = container.answering
    fresh = AskOptions(use_cache=False)
    answering.answer(questions[0], fresh)  # load the models outside the timings
    misses, hits = [], []
    for question in questions:
        started = time.perf_counter()
        answer = answering.answer(question, fresh)
        misses.append((time.perf_counter() - started) * 1000)
        answering.answer(question)  # store it
        for _ in range(args.repeat):
            started = time.perf_counter()
            answer = answering.answer(question)
            hits.append((time.perf_counter() - started) * 1000)
            assert answer.cache == "exact", answer.cache
    miss, hit = percentiles(misses), percentiles(hits)
    ratio = round(miss["p50"] / hit["p50"], 1)
    rows = [
        ["miss (generates)", miss["p50"], miss["p95"], miss["n"]],
        ["exact hit", hit["p50"], hit["p95"], hit["n"]],
    ]
    print(table("Answer cache, in-process service call (ms)", ["", "p50", "p95", "n"], rows))
    print(f"miss / hit at p50: {ratio}x")
    print(
        f"wrote {write_result('cache', {'miss_ms': miss, 'exact_hit_ms': hit, 'ratio_p50': ratio})}"
    )


if __name__ == "__main__":
    main()
