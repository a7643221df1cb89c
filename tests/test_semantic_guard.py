"""The semantic cache's guards, and its hit and false-hit rates with the real embedder on the
hand-written pair set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from askdocs.cache.semantic import conflict
from askdocs.container import Container
from askdocs.embed import Embedder, build_embedder
from askdocs.services.answering import AskOptions
from askdocs.settings import CacheSettings, Settings
from cache_support import close_caches  # noqa: F401

from fakes_generate import FakeGenerator

PAIRS = Path(__file__).resolve().parents[1] / "benchmarks" / "datasets" / "semantic-pairs.jsonl"
SAMPLE = Path(__file__).resolve().parents[1] / "src" / "askdocs" / "sample"


@pytest.mark.parametrize(
    ("a", "b", "reason"),
    [
        ("Does SQLite support foreign keys?", "Does SQLite not support foreign keys?", "negation"),
        ("Why does my query use an index?", "Why doesn't my query use an index?", "negation"),
        ("Can I run it on NFS?", "Why can't I run it on NFS?", "negation"),
        ("How do I install it with pip?", "How do I install it without pip?", "negation"),
        ("What changed in Python 3.11?", "What changed in Python 3.12?", "number"),
        ("How do I take the first two items?", "How do I take the first 3 items?", "number"),
        ("What does PRAGMA journal_mode do?", "What does PRAGMA synchronous do?", "entity"),
        ("How does SQLite compare to MySQL?", "How does SQLite compare to PostgreSQL?", "entity"),
        ("What does os.path.join do?", "What does os.path.split do?", "entity"),
        ("What does the --json flag do?", "What does the --no-generate flag do?", "flag"),
        (
            "What does the 'added' status mean?",
            "What does the 'updated' status mean?",
            "quoted",
        ),
        ("How do I enable WAL mode?", "How do I disable WAL mode?", "antonym"),
        ("How do I sort in ascending order?", "How do I sort in descending order?", "antonym"),
        (
            "How do I convert a string to an integer in Python?",
            "How do I convert an integer to a string in Python?",
            "direction",
        ),
    ],
)
def test_guards_reject_near_misses(a: str, b: str, reason: str) -> None:
    assert conflict(a, b) == reason
    assert conflict(b, a) == reason


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("How do I add files to askdocs?", "How can I add my files to askdocs?"),
        ("What is WAL mode in SQLite?", "What is SQLite's WAL mode?"),
        ("Why doesn't my query use an index?", "Why does my query not use an index?"),
        ("How do I use sqlite?", "How do I use SQLite?"),
        ("How do I split it into two parts?", "How do I split it into 2 parts?"),
        ("What does PRAGMA journal_mode do?", "What is PRAGMA journal_mode for?"),
        (
            "How do I remove duplicates from a list?",
            "How can I remove duplicate items from a list?",
        ),
    ],
)
def test_guards_let_paraphrases_through(a: str, b: str) -> None:
    assert conflict(a, b) is None


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return build_embedder(Settings().embed)


@pytest.mark.integration
def test_pair_set_hit_and_false_hit_rates(embedder: Embedder) -> None:
    pairs = [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines() if line]
    same = [p for p in pairs if p["same"]]
    near_misses = [p for p in pairs if not p["same"]]
    assert len(pairs) >= 100 and len(same) >= 50 and len(near_misses) >= 50
    threshold = CacheSettings().semantic_threshold
    a = embedder.embed([p["a"] for p in pairs])
    b = embedder.embed([p["b"] for p in pairs])
    cosine = np.sum(a * b, axis=1)
    hit = [
        bool(c >= threshold and conflict(p["a"], p["b"]) is None)
        for p, c in zip(pairs, cosine, strict=True)
    ]
    hits = sum(h for h, p in zip(hit, pairs, strict=True) if p["same"])
    false_hits = [p for h, p in zip(hit, pairs, strict=True) if h and not p["same"]]
    assert hits / len(same) >= 0.6
    assert len(false_hits) / len(near_misses) <= 0.01, false_hits


@pytest.mark.integration
def test_real_embedder_semantic_hits_and_guards(tmp_path: Path, embedder: Embedder) -> None:
    container = Container(Settings(data_dir=tmp_path / "data"))
    container.__dict__["embedder"] = embedder
    container._generator = FakeGenerator("Run askdocs ingest PATH [1].")
    container.ingestion.ingest_paths([SAMPLE], collection="default")
    ask = container.answering.answer
    assert ask("How do I add files to askdocs?").cache == "miss"
    assert ask("How can I add my files to askdocs?").cache == "semantic"
    assert ask("How do I add files to askdocs without the CLI?").cache == "miss"
    assert ask("How can I add my files to askdocs?", AskOptions(scope="other")).cache == "miss"
    assert container.answer_cache.stats().layers["semantic"].hits == 1
    container.answer_cache.close()
    container.embed_cache.close()
