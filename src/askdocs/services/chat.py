"""Multi-turn chat: a follow-up is rewritten into a standalone question before retrieval.

"And what is its default?" means nothing to a search index. The rewrite puts the subject of the
earlier turns in place of the pronoun that refers to it. It is rule-based on purpose: the
bundled 135M model cannot be trusted to rewrite without changing the question, a rule can be
tested, and the rewritten question is shown to the user, who can see what was searched.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from askdocs.errors import InvalidRequestError

_WORD = re.compile(r"[A-Za-z0-9_][\w.\-/]*")
_STOP = frozenset(
    """a an the and or but of to in on at for with by from as is are was were be been being do
    does did doing have has had what which who whom whose when where why how can could should
    would will shall may might must i you he she it we they me him her us them my your his its
    our their this that these those there here about into over under than then so if not no
    yes please tell me explain describe show give some any all each other more most much many
    also just only very really""".split()
)
# Words that point back at an earlier turn's subject.
_REFERENCES = re.compile(
    r"\b(it|its|it's|this|that|these|those|they|them|their|theirs|he|she|his|her|there)\b",
    re.IGNORECASE,
)
_FOLLOW_UP_START = re.compile(r"^\s*(and|or|but|also|so|then|what about|how about)\b[\s,]*", re.I)


@dataclass(frozen=True, slots=True)
class ChatTurn:
    role: str  # user | assistant | system
    content: str


def last_question(messages: Sequence[ChatTurn]) -> str:
    for turn in reversed(messages):
        if turn.role == "user" and turn.content.strip():
            return turn.content.strip()
    raise InvalidRequestError("the chat has no user message to answer: add one with role 'user'")


def standalone_question(messages: Sequence[ChatTurn]) -> str:
    """The last user message as a question that makes sense on its own."""
    question = last_question(messages)
    earlier = [t.content for t in messages if t.role == "user" and t.content.strip()][:-1]
    if not earlier or not _is_follow_up(question):
        return question
    subject = _subject(earlier[-1])
    if not subject:
        return question
    body = _FOLLOW_UP_START.sub("", question)
    body = body[:1].upper() + body[1:]
    match = _REFERENCES.search(body)
    if match is None:
        # "What about WAL mode?": the new subject is given, the old one is the context.
        return f"{body.rstrip(' ?')} ({subject})?" if body.endswith("?") else f"{body} ({subject})"
    word = match.group(0).lower()
    replacement = f"the {subject}" if word in {"its", "their", "theirs", "his", "her"} else subject
    return body[: match.start()] + replacement + body[match.end() :]


def _is_follow_up(question: str) -> bool:
    words = _WORD.findall(question)
    content = [w for w in words if w.lower() not in _STOP]
    return bool(
        _FOLLOW_UP_START.match(question) or _REFERENCES.search(question) or len(content) <= 1
    )


def _subject(question: str) -> str:
    """The content words of an earlier question, in order: its subject for retrieval."""
    words = [w.rstrip(".?!,") for w in _WORD.findall(question)]
    return " ".join(w for w in words if w and w.lower() not in _STOP)
