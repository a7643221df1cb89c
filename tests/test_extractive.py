"""Extractive answers: the cross-encoder's choice among the embedder's best sentences, quoted
from one passage, every sentence cited."""

from __future__ import annotations

from collections.abc import Sequence

from askdocs.generate import extractive
from askdocs.generate.extractive import Candidate, answer_from

from fakes import FakeEmbedder
from fakes_generate import make_passage

PASSAGES = [
    make_passage(
        "Timeouts are measured in milliseconds throughout the library. The busy timeout "
        "defaults to 5000 milliseconds. It can be changed with PRAGMA busy_timeout.",
        source="a.html",
    ),
    make_passage("A busy handler is called when a table is locked by another connection."),
]


class KeywordReranker:
    """Scores a sentence by how many of ``words`` it holds: a cross-encoder that knows."""

    model_id = "keywords"

    def __init__(self, *words: str) -> None:
        self.words = words
        self.seen: list[int] = []

    def score(self, question: str, passages: Sequence[str]) -> list[float]:
        self.seen.append(len(passages))
        return [float(sum(w in p.lower() for w in self.words)) for p in passages]


def test_reranker_orders_the_embedders_best_sentences() -> None:
    ranked = extractive.rank(
        "What is the default busy timeout?", extractive.sentences(PASSAGES), FakeEmbedder()
    )
    reranker = KeywordReranker("default", "5000")
    reordered = extractive.rerank("What is the default busy timeout?", ranked, reranker, depth=3)
    assert reranker.seen == [3] and len(reordered) == 3
    assert reordered[0][0].text == "The busy timeout defaults to 5000 milliseconds."
    assert reordered[0][1] == 2.0


def test_answer_quotes_the_best_sentences_of_one_passage_in_order() -> None:
    candidates = extractive.sentences(PASSAGES)
    by_text = {c.text: c for c in candidates}
    ranked = [
        (by_text["The busy timeout defaults to 5000 milliseconds."], 3.0),
        (by_text["A busy handler is called when a table is locked by another connection."], 2.0),
        (by_text["Timeouts are measured in milliseconds throughout the library."], 1.0),
    ]
    text, cited = answer_from(ranked)
    # The second best is of another passage: the next best of passage 1 comes instead, and the
    # two are quoted in the passage's order, each with its mark.
    assert text == (
        "Timeouts are measured in milliseconds throughout the library [1]. "
        "The busy timeout defaults to 5000 milliseconds [1]."
    )
    assert cited == [1]
    assert answer_from(ranked, limit=1) == (
        "The busy timeout defaults to 5000 milliseconds [1].",
        [1],
    )


def test_a_lead_in_is_continued_once() -> None:
    lead = Candidate(1, "c#0", "Set it as follows:", "Run PRAGMA busy_timeout=5000.", 0)
    rest = Candidate(1, "c#0", "Run PRAGMA busy_timeout=5000.", None, 1)
    text, cited = answer_from([(lead, 2.0), (rest, 1.0)])
    assert text == "Set it as follows: Run PRAGMA busy_timeout=5000 [1]."
    assert cited == [1]
    assert answer_from([]) == ("", [])


def test_a_second_sentence_beside_the_point_is_left_out() -> None:
    candidates = extractive.sentences(PASSAGES)
    by_text = {c.text: c for c in candidates}
    ranked = [
        (by_text["The busy timeout defaults to 5000 milliseconds."], 6.0),
        (by_text["Timeouts are measured in milliseconds throughout the library."], -11.0),
    ]
    text, _ = answer_from(ranked, min_score=extractive.SECOND_MIN_LOGIT)
    assert text == "The busy timeout defaults to 5000 milliseconds [1]."
