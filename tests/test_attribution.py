"""Grounding a streamed answer: citations checked, unsupported sentences left out, loops and
fragments stopped, the sentence budget kept."""

from __future__ import annotations

from askdocs.generate.attribution import Grounding, attribute, strip_echoed_headers

from fakes_generate import make_passage

PASSAGES = [
    make_passage("The default page size is 4096 bytes since version 3.12.0.", source="a.html"),
    make_passage(
        "WAL mode lets readers continue while a writer commits.",
        source="/home/me/docs/b.html",
        page=3,
        heading=("Write-Ahead Logging",),
    ),
]


def stream(answer: str, question: str = "", *, pieces: int = 3, budget: int = 3) -> Grounding:
    """Feed ``answer`` in pieces of ``pieces`` characters, as a model streams."""
    grounding = Grounding(question, PASSAGES, max_sentences=budget)
    for i in range(0, len(answer), pieces):
        grounding.feed(answer[i : i + pieces])
    grounding.finish()
    return grounding


def test_wrong_citation_is_dropped_and_right_one_kept() -> None:
    answer = "The default page size is 4096 bytes [2]. WAL mode lets readers continue [2]."
    assert attribute(answer, PASSAGES) == (
        "The default page size is 4096 bytes [1]. WAL mode lets readers continue [2]."
    )


def test_unsupported_sentence_is_not_shown() -> None:
    grounding = stream("Bananas are an excellent source of potassium [1].")
    assert grounding.text == ""
    assert grounding.dropped == ["Bananas are an excellent source of potassium."]


def test_changed_number_is_not_supported() -> None:
    assert attribute("The default page size is 8192 bytes [1].", PASSAGES) == ""


def test_sentence_without_citation_gets_the_passage_that_supports_it() -> None:
    assert attribute("WAL mode lets readers continue while a writer commits.", PASSAGES) == (
        "WAL mode lets readers continue while a writer commits [2]."
    )


def test_citation_after_the_period_belongs_to_its_sentence() -> None:
    grounding = stream("The default page size is 4096 bytes. [1] WAL lets readers continue. [2]")
    assert grounding.text == (
        "The default page size is 4096 bytes [1]. WAL lets readers continue [2]."
    )


def test_citation_numbers_outside_the_prompt_are_dropped() -> None:
    assert "[7]" not in attribute("The page size is 4096 bytes [7].", PASSAGES)


def test_echoed_passage_header_is_removed() -> None:
    answer = "[2] (b.html, page 3) WAL mode lets readers continue while a writer commits."
    assert "(b.html, page 3)" not in strip_echoed_headers(answer, PASSAGES)
    assert attribute(answer, PASSAGES).endswith("commits [2].")


def test_list_numbers_and_copied_headings_do_not_start_the_answer() -> None:
    answer = "1. Write-Ahead Logging WAL mode lets readers continue while a writer commits."
    assert attribute(answer, PASSAGES) == (
        "WAL mode lets readers continue while a writer commits [2]."
    )


def test_a_repeated_sentence_ends_the_answer() -> None:
    looping = "The default page size is 4096 bytes [1]. " * 20
    grounding = stream(looping, budget=10)
    assert grounding.text == "The default page size is 4096 bytes [1]."
    assert grounding.repeated and grounding.done


def test_list_loop_without_words_shows_nothing() -> None:
    grounding = stream("1. 1. 1. 1. 1. 1. 1. 1. 1.")
    assert grounding.text == ""
    assert grounding.shown == []


def test_sentence_budget_ends_the_answer() -> None:
    answer = "The default page size is 4096 bytes [1]. WAL mode lets readers continue [2]."
    grounding = stream(answer, budget=1)
    assert grounding.done
    assert grounding.text == "The default page size is 4096 bytes [1]."


def test_question_words_count_as_given() -> None:
    # "brand-new database" comes from the question, not the passage: restating it claims nothing.
    question = "What page size does a brand-new database get?"
    grounding = stream("A brand-new database gets a page size of 4096 bytes.", question)
    assert grounding.text == "A brand-new database gets a page size of 4096 bytes [1]."


def test_last_sentence_cut_off_by_the_token_limit_is_not_shown() -> None:
    grounding = Grounding("", PASSAGES)
    grounding.feed("The default page size is 4096 bytes [1]. WAL mode lets readers")
    assert grounding.finish(cut_off=True) == []
    assert grounding.text == "The default page size is 4096 bytes [1]."


def test_abbreviations_do_not_end_a_sentence() -> None:
    passages = [make_passage("Some options, e.g. the page size, are fixed when the file is made.")]
    grounding = Grounding("", passages)
    grounding.feed("Some options, e.g. the page size, are fixed when the file is made. ")
    grounding.finish()
    assert [s.text for s in grounding.shown] == [
        "Some options, e.g. the page size, are fixed when the file is made."
    ]


def test_a_supported_sentence_off_the_question_is_not_shown() -> None:
    # True to passage [2], but nothing about page sizes: copied filler, not an answer.
    grounding = stream(
        "WAL mode lets readers continue while a writer commits [2]. The default page size is "
        "4096 bytes [1].",
        "What is the default page size?",
    )
    assert grounding.text == "The default page size is 4096 bytes [1]."
    assert grounding.dropped == ["WAL mode lets readers continue while a writer commits."]


def test_fragments_are_not_sentences_and_two_misses_end_the_answer() -> None:
    grounding = stream("The answer is: 4096. Write-Ahead Logging. It is 512 bytes [1].")
    assert grounding.text == ""
    assert grounding.dropped == ["4096.", "Write-Ahead Logging."] and grounding.done


def test_a_sentence_copied_from_its_middle_starts_with_a_capital() -> None:
    question = "What is the default page size?"
    assert stream("the default page size is 4096 bytes [1].", question).text == (
        "The default page size is 4096 bytes [1]."
    )


def test_the_question_said_back_is_not_an_answer() -> None:
    question = "How do I keep cached answers from going stale?"
    passages = [make_passage("Cached answers are generated again when a cited file changes.")]
    grounding = Grounding(question, passages)
    grounding.feed("The answer is to keep cached answers from going stale by caching them.")
    grounding.finish()
    assert grounding.shown == [] and grounding.dropped
