"""Answering: abstention without the LLM, citations mapped back, invalid ones dropped, quotes."""

from __future__ import annotations

from pathlib import Path

from askdocs.container import Container
from askdocs.models import Answer
from askdocs.services.answering import NO_ANSWER, AskOptions, answer_payload

from conftest import fake_container
from fakes_generate import FakeGenerator, make_passage

GUIDE = """# Widget guide

## Colours

The default colour of the widget is teal. You can change the widget colour in settings.

## Size

The widget is 12 centimetres wide and weighs 300 grams.
"""


def ingest(container: Container, tmp_path: Path) -> None:
    (tmp_path / "guide.md").write_text(GUIDE, encoding="utf-8")
    (tmp_path / "fruit.txt").write_text("Bananas are yellow and grow in bunches.", encoding="utf-8")
    container.ingestion.ingest_paths(
        [tmp_path / "guide.md", tmp_path / "fruit.txt"], collection="c"
    )


def generator_of(container: Container) -> FakeGenerator:
    generator = container.generator()
    assert isinstance(generator, FakeGenerator)
    return generator


def test_answer_cites_sources_and_drops_invalid_citations(tmp_path: Path) -> None:
    container = fake_container(tmp_path / "data", answer="The widget is teal [1], not red [9].")
    ingest(container, tmp_path)
    answer = container.answering.answer("What is the default colour of the widget?")
    assert not answer.abstained
    assert "[9]" not in answer.answer and "[1]" in answer.answer
    assert [c.n for c in answer.citations] == [1]
    assert Path(answer.citations[0].passage.chunk.source).name == "guide.md"
    assert answer.citations[0].passage.chunk.heading == ("Widget guide", "Colours")
    assert answer.quotes and "teal" in " ".join(q.text for q in answer.quotes)
    assert set(answer.timings_ms) >= {"embed", "retrieve", "generate", "total"}
    (messages, _, _) = generator_of(container).calls[0]
    assert "teal" in messages[-1].content and "What is the default colour" in messages[-1].content


def test_abstains_without_calling_the_generator(tmp_path: Path) -> None:
    container = fake_container(tmp_path / "data")
    ingest(container, tmp_path)
    answer = container.answering.answer("Who won the football world cup in 1998?")
    assert answer.abstained and answer.answer == NO_ANSWER
    assert answer.citations == [] and answer.quotes == []
    assert generator_of(container).calls == []


def test_no_generate_returns_retrieval_only(tmp_path: Path) -> None:
    container = fake_container(tmp_path / "data")
    ingest(container, tmp_path)
    answer = container.answering.answer("widget weight grams", AskOptions(k=2, generate=False))
    assert answer.answer == "" and len(answer.passages) == 2
    assert "300 grams" in answer.passages[0].chunk.text
    assert generator_of(container).calls == []
    payload = answer_payload(answer)
    passage = payload["passages"][0]  # type: ignore[index]
    assert set(passage) >= {
        "n",
        "document_id",
        "source",
        "page",
        "heading",
        "chunk_id",
        "score",
        "text",
    }
    assert payload["cache"] == "miss" and payload["abstained"] is False


def test_stream_yields_text_then_the_answer(tmp_path: Path) -> None:
    container = fake_container(tmp_path / "data", answer="Teal is the default [1].")
    ingest(container, tmp_path)
    events = list(container.answering.stream("default colour of the widget"))
    assert isinstance(events[-1], Answer)
    assert "".join(e for e in events[:-1] if isinstance(e, str)) == "Teal is the default [1]."


def test_empty_index_abstains(tmp_path: Path) -> None:
    container = fake_container(tmp_path / "data")
    answer = container.answering.answer("anything at all?")
    assert answer.abstained and answer.passages == []


def test_quotes_stay_short_for_text_without_sentence_ends(tmp_path: Path) -> None:
    container = fake_container(tmp_path / "data")
    rows = "\n".join(f"widget {i}; colour teal; size {i} cm; weight {i * 10} g" for i in range(40))
    assert len(rows) > 1000
    quotes = container.answering._quotes("widget colour", "", [make_passage(rows)])
    assert quotes and all(len(q.text) <= 302 for q in quotes)
    assert quotes[0].text.startswith("widget 0; colour teal") and quotes[0].text.endswith("…")


def test_a_passages_heading_line_is_not_a_supporting_quote(tmp_path: Path) -> None:
    container = fake_container(tmp_path / "data")
    text = (
        "Answers and staleness\n\nA cached answer remembers the exact passages it was "
        "generated from. Editing a cited file makes the cached answer stale."
    )
    passage = make_passage(text, heading=("Caching in askdocs", "Answers and staleness"))
    quotes = container.answering._quotes("How do answers go stale?", "", [passage])
    assert quotes and all(q.text != "Answers and staleness" for q in quotes)


class CountingGenerator(FakeGenerator):
    """Counts the tokens the answer path actually reads."""

    read = 0

    def stream(self, messages, *, max_tokens, temperature):  # type: ignore[no-untyped-def]
        for piece in super().stream(messages, max_tokens=max_tokens, temperature=temperature):
            self.read += 1
            yield piece


def test_a_model_whose_text_never_holds_is_stopped_and_quoted(tmp_path: Path) -> None:
    container = fake_container(tmp_path / "data")
    rambling = " ".join(["ok"] * 200)  # no sentence end, nothing a passage supports
    container._generator = CountingGenerator(rambling)
    ingest(container, tmp_path)
    answer = container.answering.answer("How wide is the widget?")
    give_up = container.settings.generate.give_up_tokens
    assert container._generator.read == give_up < 200
    assert answer.answer_mode == "extractive" and "12 centimetres" in answer.answer
    assert " ok" not in answer.answer and answer.citations
