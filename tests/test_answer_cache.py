"""Answer cache (exact layer): served on a repeat, never stale, never across scopes."""

from __future__ import annotations

from pathlib import Path

from askdocs.cache.answers import normalise_question
from askdocs.container import Container
from askdocs.services.answering import AskOptions

from conftest import fake_container
from fakes_generate import FakeGenerator

GUIDE = "# Widget\n\n## Colour\n\nThe default colour of the widget is teal.\n"
QUESTION = "What is the default colour of the widget?"


def setup(tmp_path: Path) -> tuple[Container, FakeGenerator]:
    container = fake_container(tmp_path / "data", answer="The widget is teal [1].")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.md").write_text(GUIDE, encoding="utf-8")
    container.ingestion.ingest_paths([tmp_path / "docs"], collection="c")
    generator = container.generator()
    assert isinstance(generator, FakeGenerator)
    return container, generator


def ask(container: Container, question: str = QUESTION, **options: object) -> str:
    return container.answering.answer(question, AskOptions(**options)).cache  # type: ignore[arg-type]


def test_repeat_is_an_exact_hit_and_calls_no_model(tmp_path: Path) -> None:
    container, generator = setup(tmp_path)
    assert ask(container) == "miss"
    answer = container.answering.answer("  what is the DEFAULT colour of the widget  ")
    assert answer.cache == "exact" and "[1]" in answer.answer and answer.citations
    assert len(generator.calls) == 1
    assert ask(container, use_cache=False) == "miss" and len(generator.calls) == 2
    assert normalise_question("Hello  World?") == normalise_question("hello world")


def test_replaced_cited_file_is_not_served_from_cache(tmp_path: Path) -> None:
    container, generator = setup(tmp_path)
    ask(container)
    (tmp_path / "docs" / "guide.md").write_text(GUIDE.replace("teal", "orange"), encoding="utf-8")
    container.ingestion.ingest_paths([tmp_path / "docs"], collection="c")
    assert container.answer_cache.count() == 0  # purged when the new version went live
    assert ask(container) == "miss" and len(generator.calls) == 2


def test_deleted_cited_file_is_purged(tmp_path: Path) -> None:
    container, _ = setup(tmp_path)
    ask(container)
    assert container.answer_cache.count() == 1
    container.ingestion.delete_source(str((tmp_path / "docs" / "guide.md").resolve()), "c")
    assert container.answer_cache.count() == 0
    assert container.answering.answer(QUESTION).cache == "miss"


def test_new_better_file_makes_the_answer_stale(tmp_path: Path) -> None:
    container, generator = setup(tmp_path)
    ask(container)
    better = "The default colour of the widget is teal; the default colour of the lid is red."
    (tmp_path / "docs" / "faq.txt").write_text(better * 3, encoding="utf-8")
    container.ingestion.ingest_paths([tmp_path / "docs"], collection="c")
    assert ask(container) == "miss" and len(generator.calls) == 2


def test_unrelated_file_keeps_the_hit(tmp_path: Path) -> None:
    container, generator = setup(tmp_path)
    for name in ("size", "weight", "price"):
        text = f"The default {name} of the widget is in the widget colour chart."
        (tmp_path / "docs" / f"{name}.txt").write_text(text, encoding="utf-8")
    container.ingestion.ingest_paths([tmp_path / "docs"], collection="c")
    ask(container)
    (tmp_path / "docs" / "fruit.txt").write_text("Bananas grow in bunches.", encoding="utf-8")
    container.ingestion.ingest_paths([tmp_path / "docs"], collection="c")
    assert ask(container) == "exact" and len(generator.calls) == 1


def test_scopes_never_share_answers(tmp_path: Path) -> None:
    container, generator = setup(tmp_path)
    assert ask(container, collections=("c",)) == "miss"
    assert ask(container, collections=("other", "c")) == "miss"
    assert ask(container, collections=("c",)) == "exact"
    assert len(generator.calls) == 2


def test_retrieval_only_and_abstentions_are_not_cached(tmp_path: Path) -> None:
    container, _ = setup(tmp_path)
    assert ask(container, generate=False) == "miss"
    assert ask(container, "Who won the 1998 football world cup?") == "miss"
    assert container.answer_cache.count() == 0
