"""reStructuredText: sections per title, found by their underline (and optional overline)."""

from __future__ import annotations

from askdocs.models import ParsedDocument
from askdocs.parse import media
from askdocs.parse.builder import DocumentBuilder
from askdocs.parse.detect import decode_text

# The characters docutils accepts as section adornment.
_ADORNMENT = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def parse(data: bytes) -> ParsedDocument:
    """Parse reStructuredText into one section per title, headed by the path of titles.

    Levels follow docutils: each new adornment style (character, with or without an
    overline) met in the document is one level deeper than the styles met before it.
    The section's text is the title without its adornment lines, then the body as written.
    """
    lines = decode_text(data).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    builder = DocumentBuilder(media.RST, keep_indent=True)
    styles: list[tuple[str, bool]] = []
    path: list[str] = []
    body_start, title = 0, ""
    index = 0
    while index < len(lines):
        found = _title_at(lines, index)
        if found is None:
            index += 1
            continue
        new_title, style, consumed = found
        builder.add("\n".join([title, *lines[body_start:index]]), heading=tuple(path))
        if style not in styles:
            styles.append(style)
        level = styles.index(style)
        path = [*path[:level], new_title]
        title = new_title
        index += consumed
        body_start = index
    builder.add("\n".join([title, *lines[body_start:]]), heading=tuple(path))
    return builder.build()


def _title_at(lines: list[str], index: int) -> tuple[str, tuple[str, bool], int] | None:
    """Return (title, style, lines used) if a section title starts at ``lines[index]``."""
    if index > 0 and lines[index - 1].strip():
        return None  # a title follows a blank line or starts the file
    over = _adornment(lines[index])
    if over and index + 2 < len(lines):
        title = lines[index + 1].strip()
        under = _adornment(lines[index + 2])
        if title and under == over and len(lines[index + 2].rstrip()) >= len(title):
            return title, (over, True), 3
    line = lines[index]
    if over or not line.strip() or line[0].isspace() or index + 1 >= len(lines):
        return None
    under = _adornment(lines[index + 1])
    if under and len(lines[index + 1].rstrip()) >= len(line.rstrip()):
        return line.strip(), (under, False), 2
    return None


def _adornment(line: str) -> str | None:
    """Return the character of an adornment line (one punctuation character repeated)."""
    line = line.rstrip()
    if len(line) < 2 or line[0] not in _ADORNMENT or line != line[0] * len(line):
        return None
    return line[0]
