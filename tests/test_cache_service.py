"""The answer cache inside AnsweringService, on both backends: never stale (exact or
semantic), never across scopes, shared by containers on one Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from askdocs.cache.queries import CachingQueryEmbedder
from askdocs.container import Container
from askdocs.services.answering import AskOptions
from cache_support import (  # noqa: F401
    BACKENDS,
    cache_container,
    close_caches,
    generator_calls,
)
from redis_server import RedisServer

from fakes import FakeEmbedder
from fakes_generate import FakeGenerator

GUIDE = "# Widget\n\n## Colour\n\nThe default colour of the widget is teal.\n"
QUESTION = "What is the default colour of the widget?"
# Same words bar one, in another order: close for the bag-of-words fake embedder.
PARAPHRASE = "The widget: what is its default colour?"


@pytest.fixture(params=BACKENDS)
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Container:
    """A container with the guide ingested, its cache on the parametrised backend."""
    url, prefix = None, "askdocs:"
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        url, prefix = server.url, request.getfixturevalue("redis_prefix")
    container = cache_container(tmp_path / "data", cache_url=url, prefix=prefix)
    write(tmp_path, "guide.md", GUIDE)
    ingest(container, tmp_path)
    return container


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / "docs" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def ingest(container: Container, tmp_path: Path) -> None:
    outcomes = container.ingestion.ingest_paths([tmp_path / "docs"], collection="c")
    assert all(o.status != "failed" for o in outcomes), outcomes


def ask(container: Container, question: str = QUESTION, **options: object) -> str:
    return container.answering.answer(question, AskOptions(**options)).cache  # type: ignore[arg-type]


def test_exact_then_semantic_hits(make: Container) -> None:
    assert ask(make) == "miss"
    assert ask(make) == "exact"
    answer = make.answering.answer(PARAPHRASE)
    assert answer.cache == "semantic" and answer.question == PARAPHRASE
    assert "[1]" in answer.answer and answer.citations
    assert generator_calls(make) == 1
    stats = make.answer_cache.stats()
    assert stats.layers["exact"].hits == 1 and stats.layers["semantic"].hits == 1
    assert stats.layers["exact"].misses == 2  # the first question, and the paraphrase


def test_semantic_guard_rejects_a_negation(make: Container) -> None:
    ask(make)
    assert ask(make, "What is not the default colour of the widget?") == "miss"
    assert make.answer_cache.stats().layers["semantic"].rejected == 1
    assert generator_calls(make) == 2


@pytest.mark.parametrize("question", [QUESTION, PARAPHRASE])
def test_a_replaced_cited_file_is_not_served(
    make: Container, tmp_path: Path, question: str
) -> None:
    ask(make)
    write(tmp_path, "guide.md", GUIDE.replace("teal", "orange"))
    ingest(make, tmp_path)
    assert make.answer_cache.count() == 0  # purged when the new version went live
    assert ask(make, question) == "miss" and generator_calls(make) == 2


@pytest.mark.parametrize("question", [QUESTION, PARAPHRASE])
def test_a_deleted_cited_file_is_not_served_and_purged(
    make: Container, tmp_path: Path, question: str
) -> None:
    ask(make)
    assert make.answer_cache.count() == 1
    make.ingestion.delete_source(str((tmp_path / "docs" / "guide.md").resolve()), "c")
    assert make.answer_cache.count() == 0
    assert ask(make, question) == "miss"


@pytest.mark.parametrize("question", [QUESTION, PARAPHRASE])
def test_a_new_better_file_makes_the_answer_stale(
    make: Container, tmp_path: Path, question: str
) -> None:
    ask(make)
    better = "The default colour of the widget is teal; the default colour of the lid is red. "
    write(tmp_path, "faq.txt", better * 3)
    ingest(make, tmp_path)
    assert make.answer_cache.count() == 1  # not quoted by the entry, so not purged...
    assert ask(make, question) == "miss"  # ...but retrieval now finds other passages
    assert generator_calls(make) == 2
    layer = "exact" if question == QUESTION else "semantic"
    assert make.answer_cache.stats().layers[layer].stale == 1


# Files about other properties of the widget, to fill a prompt.
FILLERS = ("size", "weight", "price", "height", "depth", "speed", "shape")


@pytest.mark.parametrize(("question", "layer"), [(QUESTION, "exact"), (PARAPHRASE, "semantic")])
def test_an_unrelated_file_keeps_the_hit(
    make: Container, tmp_path: Path, question: str, layer: str
) -> None:
    # More widget files fill the prompt, so what comes next cannot enter it.
    for name in FILLERS[: make.settings.generate.prompt_passages - 1]:
        write(tmp_path, f"{name}.txt", f"The default {name} of the widget is in the colour chart.")
    ingest(make, tmp_path)
    ask(make)
    versions = make.index.versions()
    write(tmp_path, "fruit.txt", "Bananas grow in bunches.")
    ingest(make, tmp_path)
    make.index.sync()
    assert make.index.versions() != versions  # the index moved: the passage check ran
    assert ask(make, question) == layer and generator_calls(make) == 1


def test_scopes_never_share_answers(make: Container) -> None:
    assert ask(make, collections=("c",)) == "miss"
    assert ask(make, collections=("other", "c")) == "miss"
    assert ask(make, collections=("c",), scope="key-b") == "miss"
    assert ask(make, PARAPHRASE, collections=("c",), scope="key-c") == "miss"
    assert ask(make, PARAPHRASE, collections=("c",), scope="key-b") == "semantic"
    assert ask(make, collections=("c",)) == "exact"
    assert generator_calls(make) == 4


def test_bypass_and_retrieval_only_are_not_cached(make: Container) -> None:
    assert ask(make, generate=False) == "miss"
    assert ask(make, "Who won the 1998 football world cup?") == "miss"  # abstains
    assert make.answer_cache.count() == 0
    assert ask(make, use_cache=False) == "miss" and make.answer_cache.count() == 0
    assert ask(make) == "miss" and ask(make, use_cache=False) == "miss"
    assert generator_calls(make) == 3 and make.answer_cache.count() == 1


def test_question_vectors_are_cached(make: Container) -> None:
    ask(make)
    embedder = make.embedder
    before = len(embedder.calls)  # type: ignore[attr-defined]
    ask(make, "What is the default colour of the widget, please?")
    # One question, embedded once, although the semantic layer and retrieval both used it
    # (the other call is the batch of quote candidates).
    single = [n for n in embedder.calls[before:] if n == 1]  # type: ignore[attr-defined]
    assert single == [1]
    assert make.embed_cache.stats().layers["queries"].misses == 2  # two questions so far
    # Another process finds the vector in the shared cache instead of embedding again.
    fresh = FakeEmbedder()
    other = CachingQueryEmbedder(fresh, make.embed_cache)
    vector = other.embed([QUESTION])
    assert fresh.calls == [] and make.embed_cache.stats().layers["queries"].hits == 1
    assert np.allclose(vector, embedder.embed([QUESTION]))  # type: ignore[attr-defined]


def test_two_containers_share_one_redis(
    tmp_path: Path, redis_server: RedisServer, redis_prefix: str
) -> None:
    first = cache_container(tmp_path / "data", cache_url=redis_server.url, prefix=redis_prefix)
    write(tmp_path, "guide.md", GUIDE)
    ingest(first, tmp_path)
    second = cache_container(tmp_path / "data", cache_url=redis_server.url, prefix=redis_prefix)
    assert ask(first) == "miss"
    assert ask(second) == "exact" and generator_calls(second) == 0
    assert ask(second, PARAPHRASE) == "semantic"
    stats = first.answer_cache.stats()
    assert stats.layers["exact"].hits == 1 and stats.layers["semantic"].hits == 1


@pytest.mark.parametrize("check", [False, True])
def test_semantic_passage_check_setting(tmp_path: Path, check: bool) -> None:
    """A paraphrase whose own retrieval lands on other passages: served at once while the
    index has not moved, unless semantic_check_passages asks for the retrieval check."""
    container = cache_container(tmp_path / "data", semantic_check_passages=check)
    write(tmp_path, "guide.md", GUIDE)
    prompt = container.settings.generate.prompt_passages
    for name in FILLERS[:prompt]:
        write(tmp_path, f"{name}.txt", f"The default {name} of the widget is in the colour chart.")
    ingest(container, tmp_path)
    ask(container)
    first = container.retriever.retrieve(QUESTION).passages[:prompt]
    second = container.retriever.retrieve(PARAPHRASE).passages[:prompt]
    assert {p.chunk.chunk_id for p in first} != {p.chunk.chunk_id for p in second}
    assert ask(container, PARAPHRASE) == ("miss" if check else "semantic")
    assert container.answer_cache.stats().layers["semantic"].stale == int(check)


def test_an_ingest_during_generation_does_not_hide_staleness(
    make: Container, tmp_path: Path
) -> None:
    """Another process commits a better file while this answer is being generated: the entry
    must be stamped with the index versions its passages were checked at, not the later ones,
    or the next request would serve it at once."""
    generator = make.generator()
    assert isinstance(generator, FakeGenerator)
    stream = generator.stream

    def stream_and_ingest(*args: Any, **kwargs: Any) -> Iterator[str]:
        better = "The default colour of the widget is teal; the lid is red. " * 3
        write(tmp_path, "faq.txt", better)
        other = cache_container(tmp_path / "data")
        ingest(other, tmp_path)
        yield from stream(*args, **kwargs)

    generator.stream = stream_and_ingest  # type: ignore[method-assign]
    assert ask(make) == "miss"
    generator.stream = stream  # type: ignore[method-assign]
    assert ask(make) == "miss"  # the faq now enters the prompt: not served
    assert make.answer_cache.stats().layers["exact"].stale == 1
