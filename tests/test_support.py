"""The support checks: numbers, names and content words of a claim against a passage."""

from __future__ import annotations

import pytest

from askdocs.generate.support import (
    claim,
    content_words,
    evidence,
    numbers,
    strictly_supported,
    supported,
)

PASSAGE = evidence(
    "The Dunmore orchard has 417 pear trees and 212 apple trees. The trees are pruned in "
    "March. Harvest starts in late September, when the pears are picked by hand.",
    ["Orchard", "orchard"],
)


def test_numbers_ignore_thousands_separators_and_citation_marks() -> None:
    assert numbers("It holds 1,000,000 rows [2] in 3.5 s.") == {"1000000", "3.5"}


def test_content_words_are_stemmed_without_stop_or_answer_words() -> None:
    assert content_words("According to the passage, cached answers are served") == {
        "cach",
        "serv",
    }


@pytest.mark.parametrize(
    "sentence",
    [
        "The Dunmore orchard has 417 pear trees [1].",
        "There are 417 pear trees in the Dunmore orchard.",
        "The answer is: 417.",
        "Pears are picked by hand.",
    ],
)
def test_supported_sentences(sentence: str) -> None:
    assert supported(claim(sentence), PASSAGE)


@pytest.mark.parametrize(
    ("sentence", "why"),
    [
        ("The Dunmore orchard has 418 pear trees.", "another number"),
        ("The Calloway orchard has 417 pear trees.", "a name the passage never uses"),
        ("The orchard is watered by a canal from the river.", "words the passage lacks"),
        ("The answer is:", "no claim at all"),
    ],
)
def test_unsupported_sentences(sentence: str, why: str) -> None:
    assert not supported(claim(sentence), PASSAGE), why


def test_question_words_are_given_only_to_the_lenient_check() -> None:
    said = claim("The orchard grows 417 pear trees on the hillside.")
    given = content_words("How many pear trees grow on the orchard hillside?")
    assert not supported(said, PASSAGE)
    assert supported(said, PASSAGE, given)
    assert not strictly_supported(said, PASSAGE)


def test_both_checks_want_the_claim_in_one_place() -> None:
    # Each word is somewhere in the passage, but no two consecutive sentences hold them all.
    scattered = claim("The 417 pear trees are picked in late September by hand.")
    assert not supported(scattered, PASSAGE)
    assert not strictly_supported(scattered, PASSAGE)
    assert strictly_supported(claim("The Dunmore orchard has 417 pear trees."), PASSAGE)


def test_a_value_from_elsewhere_in_the_passage_is_not_support() -> None:
    page_sizes = evidence(
        "The maximum page size is 65536 bytes. Page sizes must be powers of two. Larger pages "
        "suit large rows. New databases use 4096 byte pages unless told otherwise.",
        ["Page size"],
    )
    asked = content_words("What is the largest page size SQLite supports?")
    assert supported(claim("The largest page size is 65536 bytes."), page_sizes, asked)
    assert not supported(claim("The largest page size is 4096 bytes."), page_sizes, asked)


def test_what_a_sentence_adds_to_the_question_must_be_in_the_passage() -> None:
    bridge = evidence(
        "The Askern footbridge crosses the canal. The Askern footbridge is closed every Tuesday "
        "for inspection.",
        ["Bridge"],
    )
    asked = content_words("On which day is the Askern footbridge closed?")
    # Four of its five words are the question's; the one it adds is invented.
    invented = claim("The Askern footbridge is closed on (the day it was opened).")
    assert not supported(invented, bridge, asked)
    assert supported(claim("The Askern footbridge is closed every Tuesday."), bridge, asked)
