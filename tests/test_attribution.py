"""Citation checking: unsupported [n] dropped, supported sentences cited, echoed headers removed."""

from __future__ import annotations

from askdocs.generate.attribution import attribute, strip_echoed_headers

from fakes_generate import make_passage

PASSAGES = [
    make_passage("The default page size is 4096 bytes since version 3.12.0.", source="a.html"),
    make_passage("WAL mode lets readers continue while a writer commits.", source="b.html", page=3),
]


def test_wrong_citation_is_dropped_and_right_one_kept() -> None:
    answer = "The default page size is 4096 bytes [2]. WAL mode lets readers continue [2]."
    assert attribute(answer, PASSAGES) == (
        "The default page size is 4096 bytes [1]. WAL mode lets readers continue [2]."
    )


def test_unsupported_claim_gets_no_citation() -> None:
    answer = "Bananas are an excellent source of potassium [1]."
    assert attribute(answer, PASSAGES) == "Bananas are an excellent source of potassium."


def test_citation_numbers_outside_the_prompt_are_dropped() -> None:
    assert "[7]" not in attribute("The page size is 4096 bytes [7].", PASSAGES)


def test_echoed_passage_header_is_removed() -> None:
    answer = "[2] (b.html, page 3) WAL mode lets readers continue while a writer commits."
    assert "(b.html, page 3)" not in strip_echoed_headers(answer, PASSAGES)
    assert attribute(answer, PASSAGES).endswith("commits [2].")
