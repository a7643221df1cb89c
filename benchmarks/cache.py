"""Answer cache: latency of exact and semantic hits against a miss that generates, on SQLite and
on Redis; the semantic pair set's hit and false-hit rates; a randomised staleness run.

Usage: python benchmarks/cache.py [--questions 8] [--repeat 50] [--ops 200] [--pairs 0]
       [--no-redis]
Uses the sqlite documentation corpus (ingested by benchmarks/quality.py) and the real models.
Each question is asked once (a miss: retrieval + generation), then repeated (exact hits) in the
same process. Semantic hits: for each pair of benchmarks/datasets/semantic-pairs.jsonl the
first question is answered and cached, then the second is asked; its time includes embedding
the new question, the neighbour search and the guards, and in the "retrieval check" rows (the
semantic_check_passages setting, or any hit after the index moved) the retrieval check too.
Those answers come from a stub generator: a hit never calls the model. Redis runs use a
redis-server started here. Writes benchmarks/results/cache.json.
"""

from __future__ import annotations

import argparse
import time
from contextlib import ExitStack
from typing import Any

from askdocs.container import Container
from askdocs.embed import Embedder
from askdocs.generate.base import Generator
from askdocs.services.answering import AskOptions
from askdocs.settings import CacheSettings, Settings
from cache_semantic import HELD_OUT, PAIRS, StubGenerator, pair_rates, read_pairs, service_run
from cache_staleness import staleness_run
from redis_local import local_redis

from common import DATA, percentiles, read_jsonl, table, write_result


def container_for(
    embedder: Embedder | None,
    generator: Generator | None,
    cache_url: str | None = None,
    *,
    check_passages: bool = True,
    prefix: str = "askdocs-bench:",
) -> Container:
    settings = Settings(
        data_dir=DATA / "sqlite" / "askdocs-data",
        cache_url=cache_url,
        cache=CacheSettings(semantic_check_passages=check_passages, prefix=prefix),
    )
    container = Container(settings)
    if embedder is not None:
        container.__dict__["embedder"] = embedder  # one model load for every container
    if generator is not None:
        container._generator = generator
    return container


def exact_hits(container: Container, questions: list[str], repeat: int) -> dict[str, Any]:
    """Misses that generate, then repeated exact hits, per question."""
    answering = container.answering
    fresh = AskOptions(use_cache=False)
    misses, hits = [], []
    for question in questions:
        started = time.perf_counter()
        answer = answering.answer(question, fresh)
        misses.append((time.perf_counter() - started) * 1000)
        answering.answer(question)  # store it
        for _ in range(repeat):
            started = time.perf_counter()
            answer = answering.answer(question)
            hits.append((time.perf_counter() - started) * 1000)
            assert answer.cache == "exact", answer.cache
    miss, hit = percentiles(misses), percentiles(hits)
    return {"miss_ms": miss, "exact_hit_ms": hit, "ratio_p50": round(miss["p50"] / hit["p50"], 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--ops", type=int, default=200, help="staleness run operations")
    parser.add_argument("--pairs", type=int, default=0, help="pairs asked in the service (0: all)")
    parser.add_argument("--no-redis", action="store_true")
    args = parser.parse_args()
    container = container_for(None, None)
    questions = [
        q["question"]
        for q in read_jsonl(DATA / "sqlite" / "questions.jsonl")
        if q.get("kind") != "negative"
    ][: args.questions]
    container.answering.answer(questions[0], AskOptions(use_cache=False))  # load the models
    embedder, generator = container.embedder, container.generator()
    results: dict[str, Any] = {"sqlite": exact_hits(container, questions, args.repeat)}
    # The former top-level keys, kept for readers of earlier results.
    results.update(results["sqlite"])
    pairs = read_pairs(PAIRS)[: args.pairs or None]
    threshold = CacheSettings().semantic_threshold
    results["pairs"] = {
        "threshold": threshold,
        "main": pair_rates(embedder, PAIRS, threshold),
        "held_out": pair_rates(embedder, HELD_OUT, threshold),
    }
    results["semantic"] = {"sqlite": semantic_run(embedder, pairs, None)}
    results["staleness"] = [staleness_run(embedder, ops=args.ops)]
    with ExitStack() as stack:
        if not args.no_redis:
            url = stack.enter_context(local_redis())
            on_redis = container_for(embedder, generator, url)
            results["redis"] = exact_hits(on_redis, questions, args.repeat)
            results["semantic"]["redis"] = semantic_run(embedder, pairs, url)
            results["staleness"].append(staleness_run(embedder, ops=args.ops, cache_url=url))
            for cache in (on_redis.answer_cache, on_redis.embed_cache):
                cache.close()
    report(results)
    print(f"wrote {write_result('cache', results)}")


def semantic_run(
    embedder: Embedder, pairs: list[dict[str, Any]], url: str | None
) -> dict[str, Any]:
    """The pair set through the service, answers from the stub generator; the cache is left
    empty (no stub answer stays in the corpus' data dir)."""
    prefix = "askdocs-bench-semantic:"
    at_once = container_for(embedder, StubGenerator(), url, check_passages=False, prefix=prefix)
    checking = container_for(embedder, StubGenerator(), url, check_passages=True, prefix=prefix)
    found = service_run(at_once, checking, pairs)
    for container in (at_once, checking):
        container.answer_cache.close()
        container.embed_cache.close()
    return found


def report(results: dict[str, Any]) -> None:
    rows = []
    for backend in ("sqlite", "redis"):
        if backend not in results:
            continue
        found = results[backend]
        rows.append([f"miss (generates), {backend}", *_cells(found["miss_ms"])])
        rows.append([f"exact hit, {backend}", *_cells(found["exact_hit_ms"])])
        semantic = results["semantic"][backend]
        for mode, label in (("checked", "retrieval check (default)"), ("at_once", "check off")):
            if semantic[mode]["semantic_hit_ms"]:
                cells = _cells(semantic[mode]["semantic_hit_ms"])
                rows.append([f"semantic hit, {label}, {backend}", *cells])
        if semantic["checked"]["semantic_hit_warm_ms"]:
            cells = _cells(semantic["checked"]["semantic_hit_warm_ms"])
            rows.append([f"semantic hit, retrieval check, vector cached, {backend}", *cells])
    print(table("Answer cache, in-process service call (ms)", ["", "p50", "p95", "n"], rows))
    for backend in ("sqlite", "redis"):
        if backend in results:
            print(f"miss / exact hit at p50, {backend}: {results[backend]['ratio_p50']}x")
    rate_rows = []
    for name in ("main", "held_out"):
        found = results["pairs"][name]
        for label, rates in (("guards", found["chosen"]), ("no guards", found["without_guards"])):
            rate_rows.append(
                [
                    f"{name} ({found['paraphrases']}+{found['near_misses']}), {label}",
                    rates["threshold"],
                    rates["hit_rate"],
                    rates["false_hit_rate"],
                ]
            )
    print(
        table(
            "Semantic pair set (cosine >= threshold and guards pass)",
            ["set (paraphrases+near-misses)", "threshold", "hit rate", "false-hit rate"],
            rate_rows,
        )
    )
    service_rows = [
        [
            backend,
            mode,
            f"{found[mode]['paraphrases_served']}/{found[mode]['paraphrases_asked']}",
            f"{found[mode]['near_misses_served']}/{found[mode]['near_misses_asked']}",
        ]
        for backend, found in results["semantic"].items()
        for mode in ("checked", "at_once")
    ]
    print(
        table(
            "Semantic layer in the service, sqlite docs corpus (pairs whose first question"
            " is answered)",
            ["backend", "mode", "paraphrases served", "near-misses served"],
            service_rows,
        )
    )
    stale_rows = [
        [
            run["backend"],
            sum(run["operations"].values()),
            run["questions"],
            run["served"].get("exact", 0),
            run["served"].get("semantic", 0),
            run["stale_rejections"],
            run["stale_hits"],
        ]
        for run in results["staleness"]
    ]
    print(
        table(
            "Randomised staleness run",
            ["backend", "operations", "questions", "exact", "semantic", "rejected", "stale hits"],
            stale_rows,
        )
    )


def _cells(found: dict[str, float]) -> list[Any]:
    return [found["p50"], found["p95"], found["n"]]


if __name__ == "__main__":
    main()
