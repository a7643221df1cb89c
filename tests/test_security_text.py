"""Untrusted text (questions, passages, model output) is scanned in linear time: a long word or
a long question costs milliseconds, never seconds (the project has no timed assertions; the
bounds here are loose sanity limits the quadratic and cubic forms failed by far)."""

from __future__ import annotations

import math
import random
import re
import time

import pytest

from askdocs.retrieve.hybrid import _CODE_NAME, named_terms, names_identifier
from askdocs.retrieve.rerank import OnnxCrossEncoder

# The pattern before it was made linear, to check the linear one finds the same names.
_PLAIN = re.compile(
    r"\w*[A-Za-z]\w*_\w+|\b[a-z]+[A-Z]\w*|[A-Za-z]\w+(?:\.[A-Za-z]\w*)+"
    r"|(?<![\w.\-])(?:\.|--?)[a-z][\w\-]*|\w+\(\)"
)


def test_the_linear_pattern_finds_what_the_plain_one_found() -> None:
    rng = random.Random(7)
    alphabet = "aAbZ1_ .-()é?:\n,"
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        spans = []
        for m in _CODE_NAME.finditer(text):
            start = m.start("dotted") if m.group("dotted") is not None else m.start()
            spans.append(text[start : m.end()])
        assert spans == _PLAIN.findall(text), text
        assert names_identifier(text) == bool(_PLAIN.search(text)), text


def test_names_are_still_found() -> None:
    question = "How do foo_bar, os.path.join() and --no-auth work with JDBC in Windows Phone?"
    assert named_terms(question) == [
        "foo_bar",
        "os.path.join",
        "--no-auth",
        "JDBC",
        "Windows Phone",
    ]
    assert named_terms("x 2fa.config and Kafka") == ["fa.config", "Kafka"]


@pytest.mark.timeout(60)  # the cubic pattern needed hours for these: fail, do not hang
@pytest.mark.parametrize(
    "text",
    [
        "a" * 200_000,  # one long word: the snake_case pattern backtracked over it cubically
        "a1" * 100_000,  # a dotted name tried from every letter of one word
        "Kafka " + "word " * 40_000,  # slices from the last name to each later word
        ("What does the Answer Cache keep in Kafka and JDBC? " * 7_000)[:320_000],
    ],
    ids=["one-word", "letters-and-digits", "far-from-a-name", "prose"],
)
def test_long_text_is_scanned_in_linear_time(text: str) -> None:
    started = time.perf_counter()
    named_terms(text)
    names_identifier(text)
    # A loose sanity bound (about 0.3 s here): the quadratic form took 2.85 s for 320 KB of
    # prose and did not finish the others.
    assert time.perf_counter() - started < 5


def test_the_cross_encoder_takes_a_question_longer_than_its_window() -> None:
    # The pair was cut only in the passage: a question of more word pieces than the window
    # made the tokenizer raise, a 500 for any long question that reached answering.
    encoder = OnnxCrossEncoder(max_tokens=128)
    passage = "The answer cache keeps each answer with the passages it came from."
    question = "What does the answer cache keep with each answer? " * 40  # ~400 word pieces
    [score] = encoder.score(question, [passage])
    assert math.isfinite(score) and score > 0  # still read as about the passage
