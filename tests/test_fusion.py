"""Fusion's document evidence: a passage is also judged by the document it comes from."""

from __future__ import annotations

from pathlib import Path

from askdocs.retrieve import HybridRetriever

from conftest import fake_container

QUESTION = "how often should tomatoes be watered in summer"
# A long almanac whose one passage on tomatoes matches the question's words best...
ALMANAC = [
    "Tomatoes should be watered often in summer, the almanac says in passing.",
    "Train timetables change in October when the clocks go back an hour.",
    "The county fair opens on the first Saturday with a brass band parade.",
    "Tide tables for the harbour list high and low water for every day.",
    "Recipes for plum jam need sugar, lemons and a heavy copper pan.",
    "Parish records name every vicar since twelve ninety, with gaps after the great fire.",
    "Sheep shearing begins in May; fleeces go to the wool market by the old bridge.",
    "Lighthouse keepers logged storms, ships and birds in leather bound books.",
    "Village cricket matches stop for tea at four and resume when the rain allows.",
]
# ...and a short guide whose every passage is about watering tomatoes.
GUIDE = ["Tomatoes need water often in summer, twice a week."]


def test_a_passage_from_a_document_about_the_question_outranks_a_passing_mention(
    tmp_path: Path,
) -> None:
    container = fake_container(tmp_path / "data")
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "almanac.md").write_text("\n\n".join(ALMANAC) + "\n")
    (folder / "guide.md").write_text("\n\n".join(GUIDE) + "\n")
    container.ingestion.ingest_paths([folder], collection="default")

    def first_source(document_weight: float) -> str:
        settings = container.settings.retrieve.model_copy(
            update={"document_weight": document_weight, "length_prior": 0.0, "fusion": "dense"}
        )
        retriever = HybridRetriever(container.index, container.embedder, settings)
        return Path(retriever.retrieve(QUESTION, k=3).passages[0].chunk.source).name

    assert first_source(0.0) == "almanac.md"
    assert first_source(1.0) == "guide.md"
