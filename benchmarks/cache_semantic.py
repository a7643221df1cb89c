"""Semantic answer cache, measured two ways: the guard pair set (embedding cosine + guards,
no corpus) over a threshold sweep, and through the service on the SQLite docs corpus, where a
paraphrase must also retrieve the same prompt passages to be served."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from askdocs.cache.semantic import conflict
from askdocs.container import Container
from askdocs.embed import Embedder
from askdocs.generate.base import Message

from common import ROOT, percentiles

PAIRS = ROOT / "datasets" / "semantic-pairs.jsonl"
HELD_OUT = ROOT / "datasets" / "semantic-pairs-heldout.jsonl"
SWEEP = (0.85, 0.88, 0.90, 0.91, 0.92, 0.93, 0.94, 0.95, 0.97)


class StubGenerator:
    """Answers at once, citing [1]: the cache paths timed here do not depend on the model."""

    model_id = "stub"
    context_tokens = 4096

    def count_tokens(self, text: str) -> int:
        return len(text) // 2 + 1

    def stream(
        self, messages: Sequence[Message], *, max_tokens: int, temperature: float
    ) -> Iterator[str]:
        yield "The passages answer this [1]."


def read_pairs(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def pair_rates(embedder: Embedder, path: Path, chosen: float) -> dict[str, Any]:
    """Hit rate on true paraphrases and false-hit rate on near-misses, per threshold."""
    pairs = read_pairs(path)
    a = embedder.embed([p["a"] for p in pairs])
    b = embedder.embed([p["b"] for p in pairs])
    cosine = np.sum(a * b, axis=1)
    passed = [conflict(p["a"], p["b"]) is None for p in pairs]
    same = [bool(p["same"]) for p in pairs]
    n_same, n_near = sum(same), len(same) - sum(same)

    def rates(threshold: float, guards: bool = True) -> dict[str, float]:
        hit = [c >= threshold and (ok or not guards) for c, ok in zip(cosine, passed, strict=True)]
        hits = sum(h and s for h, s in zip(hit, same, strict=True))
        false = sum(h and not s for h, s in zip(hit, same, strict=True))
        return {
            "threshold": threshold,
            "hit_rate": round(float(hits) / n_same, 4),
            "false_hit_rate": round(float(false) / n_near, 4),
            "false_hits": int(false),
        }

    kinds: dict[str, dict[str, int]] = {}
    for p, c, ok in zip(pairs, cosine, passed, strict=True):
        kind = kinds.setdefault(p["kind"], {"pairs": 0, "served": 0})
        kind["pairs"] += 1
        kind["served"] += int(bool(c >= chosen) and ok)
    return {
        "cosine_near_misses_passing_guards_max": round(
            max(
                (float(c) for c, ok, s in zip(cosine, passed, same, strict=True) if ok and not s),
                default=0.0,
            ),
            4,
        ),
        "pairs": len(pairs),
        "paraphrases": n_same,
        "near_misses": n_near,
        "chosen": rates(chosen),
        "without_guards": rates(chosen, guards=False),
        "sweep": [rates(t) for t in SWEEP],
        "by_kind": kinds,
    }


def service_run(
    container: Container, checking: Container, pairs: list[dict[str, Any]]
) -> dict[str, Any]:
    """Ask each pair's first question (a miss that stores an answer), then its second: a
    paraphrase may be served (semantic), a near-miss must not be.

    ``container`` has ``semantic_check_passages`` off: it serves a semantic hit at once while
    the index has not moved. ``checking`` shares its cache with the setting on (the default),
    so it also runs the retrieval check. Its hits are a subset of the other's (same
    candidates, one more test), so it is asked only where the other served. Times are of the
    second question, embedded afresh (its vector is dropped from the cache first)."""
    results: dict[str, dict[str, list[Any]]] = {
        mode: {"paraphrase": [], "near_miss": [], "ms": []} for mode in ("at_once", "checked")
    }
    warm: list[float] = []
    for pair in pairs:
        container.answer_cache.clear()  # each pair on its own: only its first answer cached
        container.embed_cache.clear(queries_only=True)
        if container.answering.answer(pair["a"]).abstained:
            continue  # nothing cached: the corpus does not cover the question
        group = "paraphrase" if pair["same"] else "near_miss"
        status, elapsed = _timed(container, pair["b"])
        results["at_once"][group].append(status)
        if status != "semantic":
            results["checked"][group].append("miss")
            continue
        results["at_once"]["ms"].append(elapsed)
        container.embed_cache.clear(queries_only=True)
        status, elapsed = _timed(checking, pair["b"])
        results["checked"][group].append(status)
        if status == "semantic":
            results["checked"]["ms"].append(elapsed)
            for _ in range(5):  # the question vector is cached now
                status, elapsed = _timed(checking, pair["b"])
                assert status == "semantic", status
                warm.append(elapsed)
    out: dict[str, Any] = {}
    for mode, found in results.items():
        out[mode] = {
            "paraphrases_asked": len(found["paraphrase"]),
            "paraphrases_served": found["paraphrase"].count("semantic"),
            "near_misses_asked": len(found["near_miss"]),
            "near_misses_served": sum(s != "miss" for s in found["near_miss"]),
            "semantic_hit_ms": percentiles(found["ms"]) if found["ms"] else None,
        }
    out["checked"]["semantic_hit_warm_ms"] = percentiles(warm) if warm else None
    container.answer_cache.clear()
    return out


def _timed(container: Container, question: str) -> tuple[str, float]:
    started = time.perf_counter()
    answer = container.answering.answer(question)
    return answer.cache, (time.perf_counter() - started) * 1000
