"""Randomised staleness run: documents are updated, deleted and added at random between
questions, and every answer served from the cache is checked against what a fresh retrieval
would put in the prompt now. A stale hit is a cached answer whose prompt passages differ from
the fresh ones, or that quotes a deleted document or an old version of a changed one."""

from __future__ import annotations

import random
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from askdocs.cache.keys import passage_keys
from askdocs.container import Container
from askdocs.embed import Embedder
from askdocs.models import Answer
from askdocs.settings import CacheSettings, Settings
from cache_semantic import StubGenerator

THINGS = (
    "lantern kettle compass telescope bicycle umbrella violin typewriter microscope sextant"
    " gramophone barometer"
).split()
COLOURS = "red green blue amber violet black white silver golden crimson teal ochre".split()
CITIES = "Lisbon Oslo Krakow Lyon Porto Tallinn Ghent Bergen Turin Leeds Basel Graz".split()
QUESTIONS = (
    "What colour is the {t}?",
    "Which colour does the {t} have?",
    "How heavy is the {t}?",
    "What is the weight of the {t}?",
    "Where was the {t} made?",
    "In which city was the {t} made?",
)
UNRELATED = (
    "Bananas grow in hanging clusters called hands.",
    "The tide rises twice a day along most coasts.",
    "Chess openings are catalogued by ECO codes.",
)


def describe(thing: str, rng: random.Random) -> str:
    return (
        f"# The {thing}\n\nThe colour of the {thing} is {rng.choice(COLOURS)}. "
        f"The {thing} weighs {rng.randint(100, 9000)} grams. "
        f"The {thing} was made in {rng.choice(CITIES)}.\n"
    )


def staleness_run(
    embedder: Embedder, *, ops: int = 200, seed: int = 7, cache_url: str | None = None
) -> dict[str, Any]:
    """``ops`` random update/delete/add operations, two questions after each (60% repeats)."""
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        docs = root / "docs"
        docs.mkdir()
        # Its own Redis key prefix: counters and entries of other runs stay out.
        settings = Settings(
            data_dir=root / "data",
            cache_url=cache_url,
            cache=CacheSettings(prefix=f"askdocs-staleness-{seed}:"),
        )
        container = Container(settings)
        container.__dict__["embedder"] = embedder
        container._generator = StubGenerator()
        live: set[str] = set()
        for thing in THINGS[:8]:
            write(container, docs, thing, describe(thing, rng))
            live.add(thing)
        done: Counter[str] = Counter()
        served: Counter[str] = Counter()
        stale: list[dict[str, str]] = []
        asked: list[str] = []
        for _ in range(ops):
            kind = operate(container, docs, rng, live)
            done[kind] += 1
            for _ in range(2):
                # People ask the same things again: more than half the questions are repeats,
                # the case where a stale answer could be served.
                if asked and rng.random() < 0.6:
                    question = rng.choice(asked)
                else:
                    question = rng.choice(QUESTIONS).format(t=rng.choice(THINGS))
                    asked.append(question)
                answer = container.answering.answer(question)
                served[answer.cache] += 1
                reason = check(container, answer)
                if reason:
                    stale.append({"question": question, "cache": answer.cache, "why": reason})
        stats = container.answer_cache.stats()
        container.answer_cache.close()
        container.embed_cache.close()
    return {
        "backend": "redis" if cache_url else "sqlite",
        "operations": dict(done),
        "questions": sum(served.values()),
        "served": dict(served),
        "stale_hits": len(stale),
        "stale_examples": stale[:5],
        "stale_rejections": stats.layers["exact"].stale + stats.layers["semantic"].stale,
    }


def write(container: Container, docs: Path, name: str, text: str) -> None:
    path = (docs / f"{name}.md").resolve()
    path.write_text(text, encoding="utf-8")
    outcomes = container.ingestion.ingest_files([path], collection="default")
    assert all(o.status != "failed" for o in outcomes), outcomes


def operate(container: Container, docs: Path, rng: random.Random, live: set[str]) -> str:
    """One random change to the corpus; returns its kind."""
    roll = rng.random()
    absent = [t for t in THINGS if t not in live]
    if roll < 0.45 and live:
        thing = rng.choice(sorted(live))
        write(container, docs, thing, describe(thing, rng))
        return "update"
    if roll < 0.65 and len(live) > 3:
        thing = rng.choice(sorted(live))
        container.ingestion.delete_source(str((docs / f"{thing}.md").resolve()), "default")
        live.discard(thing)
        return "delete"
    if roll < 0.85 and absent:
        thing = rng.choice(absent)
        write(container, docs, thing, describe(thing, rng))
        live.add(thing)
        return "add"
    name = f"note-{rng.randint(0, 10**6)}"
    write(container, docs, name, rng.choice(UNRELATED))
    return "add_unrelated"


def check(container: Container, answer: Answer) -> str | None:
    """Why a served cached answer is stale, or None (also for answers that were generated)."""
    if answer.cache == "miss":
        return None
    prompt = container.settings.generate.prompt_passages
    fresh = container.retriever.retrieve(answer.question)
    threshold = container.settings.retrieve.abstain_threshold
    if fresh.abstains(threshold):
        return "fresh retrieval abstains"
    if passage_keys(answer.passages[:prompt]) != passage_keys(fresh.passages[:prompt]):
        return "prompt passages differ from a fresh retrieval"
    for passage in answer.passages[:prompt]:
        record = container.tables.get_document(passage.chunk.document_id)
        if record is None:
            return f"quotes deleted document {passage.chunk.source}"
        if record.version != passage.chunk.version:
            return f"quotes version {passage.chunk.version} of {passage.chunk.source}"
    return None
