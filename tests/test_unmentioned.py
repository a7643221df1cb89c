"""Abstaining on names the documents never mention: extraction, lookup in the index, answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from askdocs.container import Container
from askdocs.retrieve.hybrid import named_terms
from askdocs.services.answering import NO_ANSWER, AskOptions

from conftest import fake_container
from fakes_generate import FakeGenerator

NOTES = """# Widget notes

The widget_colour_mode setting picks the palette.

Call widget.reset() to start over.

Run the tool with --verbose to see each step. The .reload command re-reads the file.
Widgets ship from the Oslo plant with firmware RS485 and talk to the JDBC bridge.
The Oslo Widget
Works makes them; it has a Windows port and a phone line.
Set WIDGET_FCNTL_LOCK_TIMEOUT to wait; the makers trust it.
"""


@pytest.mark.parametrize(
    ("question", "names"),
    [
        ("What is the default value of PRAGMA query_timeout?", ["query_timeout", "PRAGMA"]),
        ("What does the .pivot dot-command do?", [".pivot"]),
        ("Is there a chomp() in Python?", ["chomp", "Python"]),
        ("Why use list.index() (e.g. for search)?", ["list.index"]),
        (
            "What does wiredTigerCacheSizeGB default to in MongoDB?",
            ["wiredTigerCacheSizeGB", "MongoDB"],
        ),
        ("Does it need the --force flag or -x?", ["--force", "-x"]),
        ("How do I access the serial (RS232) port?", ["RS232"]),
        ("Can I stream rows into Kafka?", ["Kafka"]),
        # A capital that starts a sentence is not a name; neither are hyphenated words.
        ("It is slow. How can I make bulk inserts faster?", []),
        ("How do I open a read-only, built-in database?", []),
        ("What is SQLITE_MAX_PAGE_COUNT set to?", ["SQLITE_MAX_PAGE_COUNT"]),
        # Proper names side by side are one name; a comma or another word parts them.
        ("Does it run on Windows Phone or Amazon S3?", ["Windows Phone", "Amazon S3"]),
        (
            "Does VACUUM INTO work with Kafka, Redis and Oslo?",
            ["VACUUM INTO", "Kafka", "Redis", "Oslo"],
        ),
        ("Which versions of Windows Phone are supported?", ["Windows Phone"]),
    ],
)
def test_named_terms(question: str, names: list[str]) -> None:
    assert named_terms(question) == names


def generator_of(container: Container) -> FakeGenerator:
    generator = container.generator()
    assert isinstance(generator, FakeGenerator)
    return generator


def container_for(tmp_path: Path, **kwargs: str) -> Container:
    container = fake_container(tmp_path / "data", **kwargs)
    # The hashed bag-of-words embedder scores low; this file tests the other reason to abstain.
    container.settings.retrieve.abstain_threshold = 0.1
    return container


def ingest_notes(tmp_path: Path) -> Path:
    (tmp_path / "notes.md").write_text(NOTES, encoding="utf-8")
    return tmp_path / "notes.md"


def test_index_mentions_names_as_written_case_aside(tmp_path: Path) -> None:
    container = fake_container(tmp_path / "data")
    container.ingestion.ingest_paths([ingest_notes(tmp_path)], collection="c")
    index = container.index
    index.sync()
    for name in ("widget_colour_mode", "WIDGET_COLOUR_MODE", "widget.reset", "--verbose",
                 ".reload", "oslo", "RS485", "jdbc"):  # fmt: skip
        assert index.mentions(name, None), name
    # The words are there, but not written this way.
    for name in ("colour_mode_widget", "widget_reset", "--reload", "RS232", "Kafka"):
        assert not index.mentions(name, None), name
    # A name of several words counts as a whole, across a line break, but not word by word.
    assert index.mentions("Oslo Widget Works", None)
    assert not index.mentions("Windows Phone", None)
    # Only as a whole word: not inside a longer name or word.
    for name in ("lock_timeout", "FCNTL_LOCK", "Rust", "widget_colour"):
        assert not index.mentions(name, None), name
    assert index.mentions("WIDGET_FCNTL_LOCK_TIMEOUT", None) and index.mentions("trust", None)
    assert index.mentions("RS485", ["c"]) and not index.mentions("RS485", ["other"])


def test_deleted_documents_mention_nothing(tmp_path: Path) -> None:
    container = fake_container(tmp_path / "data")
    path = ingest_notes(tmp_path)
    container.ingestion.ingest_paths([path], collection="c")
    container.index.sync()
    assert container.index.mentions("widget_colour_mode", None)
    container.ingestion.delete_source(str(path), collection="c")
    container.index.sync()
    assert not container.index.mentions("widget_colour_mode", None)


def test_abstains_naming_what_the_documents_never_mention(tmp_path: Path) -> None:
    container = container_for(tmp_path, answer="It is teal [1].")
    container.ingestion.ingest_paths([ingest_notes(tmp_path)], collection="c")
    known = container.answering.answer("Which palette does the widget_colour_mode setting pick?")
    assert not known.abstained and generator_of(container).calls
    generator_of(container).calls.clear()
    unknown = container.answering.answer("Which palette does the widget_colour_depth setting pick?")
    assert unknown.abstained and generator_of(container).calls == []
    assert unknown.answer == f"{NO_ANSWER} They never mention `widget_colour_depth`."
    # Retrieval still returns the passages, for a reader to look at.
    assert unknown.passages and "widget_colour_mode" in unknown.passages[0].chunk.text


def test_a_name_in_another_collection_does_not_count(tmp_path: Path) -> None:
    container = container_for(tmp_path)
    container.ingestion.ingest_paths([ingest_notes(tmp_path)], collection="a")
    (tmp_path / "other.md").write_text("# Other\n\nThe widget palette is chosen by a dial.\n")
    container.ingestion.ingest_paths([tmp_path / "other.md"], collection="b")
    question = "Which palette does widget_colour_mode pick?"
    assert not container.answering.answer(question, AskOptions(collections=("a",))).abstained
    scoped = container.answering.answer(question, AskOptions(collections=("b",)))
    assert scoped.abstained and "`widget_colour_mode`" in scoped.answer


def test_the_check_can_be_turned_off(tmp_path: Path) -> None:
    container = container_for(tmp_path)
    container.settings.retrieve.abstain_unmentioned = False
    container.ingestion.ingest_paths([ingest_notes(tmp_path)], collection="c")
    answer = container.answering.answer("Which palette does the widget_colour_depth setting pick?")
    assert not answer.abstained


def test_mentions_looks_past_passages_the_caller_may_not_see(tmp_path: Path) -> None:
    container = container_for(tmp_path)
    many = "\n\n".join(f"Step {i}: set widget_colour_mode to {i}." for i in range(300))
    (tmp_path / "many.md").write_text(many, encoding="utf-8")
    container.ingestion.ingest_paths([tmp_path / "many.md"], collection="a")
    (tmp_path / "one.md").write_text("Only here: widget_colour_mode is blue.\n", encoding="utf-8")
    container.ingestion.ingest_paths([tmp_path / "one.md"], collection="b")
    index = container.index
    index.sync()
    assert index.stats()["live_passages"] > 64  # more than one page of matches in "a"
    assert index.mentions("widget_colour_mode", ["b"])
    container.ingestion.delete_source(str(tmp_path / "one.md"), collection="b")
    index.sync()
    assert not index.mentions("widget_colour_mode", ["b"])
    assert index.mentions("widget_colour_mode", ["a"])
