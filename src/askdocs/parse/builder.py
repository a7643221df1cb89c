"""Assemble a ParsedDocument from section texts, keeping offsets consistent with the text."""

from __future__ import annotations

import re

from askdocs.errors import ParseError
from askdocs.models import ParsedDocument, Section

SECTION_SEPARATOR = "\n\n"
EMPTY_MESSAGE = "empty file: there is no text in it; add content or leave the file out"

# Unicode spaces (NBSP, thin space, ...) that extractors emit in place of a plain space.
_SPACES = re.compile(r"[\t\f\v\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
# Control characters carry no text; PDF extractors and old files leak them.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f\u200b\ufeff]")
_INNER_RUN = re.compile(r"(?<=\S) {2,}")
_ANY_RUN = re.compile(r" {2,}")
_BLANK_LINES = re.compile(r"\n{3,}")


def normalise(text: str, *, keep_indent: bool = False) -> str:
    """Collapse runs of spaces and blank lines, keep paragraph breaks, strip the ends.

    ``keep_indent`` keeps leading spaces, which carry meaning in code blocks and
    reStructuredText bodies.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROLS.sub("", _SPACES.sub(" ", text))
    run = _INNER_RUN if keep_indent else _ANY_RUN
    lines = [run.sub(" ", line).rstrip() for line in text.split("\n")]
    if not keep_indent:
        lines = [line.lstrip() for line in lines]
    text = _BLANK_LINES.sub("\n\n", "\n".join(lines))
    return text.lstrip("\n").rstrip() if keep_indent else text.strip()


class DocumentBuilder:
    """Collects sections in order; each is normalised and joined by a blank line."""

    def __init__(self, media_type: str, *, keep_indent: bool = False) -> None:
        self._media_type = media_type
        self._keep_indent = keep_indent
        self._parts: list[str] = []
        self._length = 0
        self._sections: list[Section] = []

    def add(self, text: str, *, page: int | None = None, heading: tuple[str, ...] = ()) -> None:
        """Append one section; sections with no text after normalising are dropped."""
        text = normalise(text, keep_indent=self._keep_indent)
        if not text:
            return
        if self._parts:
            self._parts.append(SECTION_SEPARATOR)
            self._length += len(SECTION_SEPARATOR)
        start = self._length
        self._parts.append(text)
        self._length += len(text)
        self._sections.append(Section(start, self._length, page, heading))

    def build(self, empty_message: str = EMPTY_MESSAGE) -> ParsedDocument:
        """Return the document; raise ``ParseError(empty_message)`` if no section has text."""
        if not self._sections:
            raise ParseError(empty_message)
        return ParsedDocument("".join(self._parts), tuple(self._sections), self._media_type)
