"""What a reader sees from the shipped models: one fact per file, each answered with its fact and
cited to its file, and `make run`'s sample question answered from the staleness passage.

These run SmolLM2 in llama.cpp and the bundled embedder, with the shipped settings.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import askdocs
from askdocs.api.app import create_app
from askdocs.container import Container
from askdocs.models import Answer
from askdocs.services.answering import AskOptions
from askdocs.settings import Settings

from filegen import make_pdf

pytestmark = pytest.mark.integration

FILLER = (
    "This note belongs to a small collection of local records kept for visitors. It was typed "
    "from older papers, checked twice, and filed with the others in the reading room, where "
    "anyone may consult it during opening hours without an appointment."
)
SAMPLE = Path(askdocs.__file__).parent / "sample"

# question, the file that holds the fact, a pattern the fact matches, the page (PDF only)
FACTS = [
    ("What colour is the harbor lighthouse painted?", "harbor.md", r"vermilion", None),
    ("How many pear trees grow in the Dunmore orchard?", "orchard.html", r"\b417\b", None),
    ("Who signed the Calloway ledger in 1888?", "ledger.txt", r"Ottoline Marsh", None),
    ("How tight should the Kestrel valve cap be?", "manual.pdf", r"\b38 newton", 2),
]


def write_facts(folder: Path) -> None:
    folder.mkdir()
    (folder / "harbor.md").write_text(
        f"# Harbour notes\n\n{FILLER}\n\nThe lighthouse at Wrenfield harbour is painted "
        "vermilion so that ships can see it in fog.\n",
        encoding="utf-8",
    )
    (folder / "orchard.html").write_text(
        f"<html><body><h1>Orchard records</h1><p>{FILLER}</p>"
        "<p>The Dunmore orchard has 417 pear trees and 212 apple trees.</p></body></html>",
        encoding="utf-8",
    )
    (folder / "ledger.txt").write_text(
        f"{FILLER}\n\nIn 1888 the Calloway ledger was signed by Ottoline Marsh, the harbour "
        "clerk.\n",
        encoding="utf-8",
    )
    page_one = "Kestrel valve manual\n" + "\n".join(re.findall(r".{1,80}(?:\s|$)", FILLER))
    (folder / "manual.pdf").write_bytes(
        make_pdf([page_one, "Maintenance\nTighten the Kestrel valve cap to 38 newton metres."])
    )


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Container:
    root = tmp_path_factory.mktemp("answers")
    write_facts(root / "facts")
    shutil.copytree(SAMPLE, root / "sample")
    container = Container(Settings(data_dir=root / "data"))
    for collection in ("facts", "sample"):
        outcomes = container.ingestion.ingest_paths([root / collection], collection=collection)
        assert all(o.status != "failed" for o in outcomes), outcomes
    return container


def assert_trustworthy(answer: Answer, pattern: str, source: str, page: int | None) -> None:
    """The fact is said, every sentence cites, and every citation is the right file."""
    assert not answer.abstained, answer.answer
    assert re.search(pattern, answer.answer, re.IGNORECASE), answer.answer
    assert answer.answer_mode in ("generated", "extractive")
    assert answer.citations, answer.answer
    assert {Path(c.passage.chunk.source).name for c in answer.citations} == {source}
    if page is not None:
        assert {c.passage.chunk.page for c in answer.citations} == {page}
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", answer.answer) if s.strip()]
    assert sentences and all(re.search(r"\[\d+\]", s) for s in sentences), answer.answer
    assert len({s.lower() for s in sentences}) == len(sentences), "a sentence repeats"
    assert not re.match(r"\s*(\d+\.|#|[-*])\s", answer.answer), "starts with a fragment"


@pytest.mark.parametrize(("question", "source", "pattern", "page"), FACTS)
def test_one_fact_per_file_is_answered_and_cited(
    shipped: Container, question: str, source: str, pattern: str, page: int | None
) -> None:
    answer = shipped.answering.answer(question, AskOptions(collections=("facts",)))
    assert_trustworthy(answer, pattern, source, page)


def test_the_sample_question_cites_the_staleness_passage(shipped: Container) -> None:
    answer = shipped.answering.answer(
        "How do I keep cached answers from going stale?", AskOptions(collections=("sample",))
    )
    assert_trustworthy(answer, r"unchanged|generated again|exact passages", "caching.html", None)
    assert all("staleness" in " ".join(c.passage.chunk.heading).lower() for c in answer.citations)


@pytest.fixture(scope="module")
def client(shipped: Container) -> Iterator[TestClient]:
    with TestClient(create_app(shipped, warm_up=False, workers=False)) as test_client:
        yield test_client


def test_the_api_answer_carries_its_mode_and_citation(
    shipped: Container, client: TestClient
) -> None:
    secret, _ = shipped.keys.create("quality", "admin", ())
    response = client.post(
        "/v1/ask",
        headers={"Authorization": f"Bearer {secret}"},
        json={"question": FACTS[1][0], "collection": "facts", "cache": False},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answer_mode"] in ("generated", "extractive")
    assert "417" in body["answer"] and re.search(r"\[\d+\]", body["answer"])
    assert {Path(c["source"]).name for c in body["citations"]} == {"orchard.html"}
