"""Markdown: sections per heading, found by markdown-it-py so code blocks never count."""

from __future__ import annotations

import re

from markdown_it import MarkdownIt
from markdown_it.token import Token

from askdocs.models import ParsedDocument
from askdocs.parse import media
from askdocs.parse.builder import DocumentBuilder
from askdocs.parse.detect import decode_text

# YAML front matter would otherwise read as a rule plus a setext heading.
_FRONT_MATTER = re.compile(r"\A---\n.*?\n(---|\.\.\.)\n", re.DOTALL)
_TITLE_TEXT = frozenset({"text", "code_inline"})


def parse(data: bytes) -> ParsedDocument:
    """Parse Markdown into one section per heading, headed by the path of headings.

    A section's text is the heading's title (without ``#`` or underline) and its body in
    Markdown source; text before the first heading is a section with heading ``()``.
    """
    source = decode_text(data).replace("\r\n", "\n").replace("\r", "\n")
    front = _FRONT_MATTER.match(source)
    skip = front.group(0).count("\n") if front else 0
    lines = source.split("\n")
    tokens = MarkdownIt("commonmark").enable("table").parse("\n".join(lines[skip:]))
    builder = DocumentBuilder(media.MARKDOWN, keep_indent=True)
    path: list[tuple[int, str]] = []
    body_start, title = 0, ""
    heading: tuple[str, ...] = ()
    for index, token in enumerate(tokens):
        # Headings nested in lists or block quotes are text, not structure.
        if token.type != "heading_open" or token.level != 0 or token.map is None:
            continue
        begin, end = token.map[0] + skip, token.map[1] + skip
        builder.add("\n".join([title, *lines[body_start:begin]]), heading=heading)
        title = _title(tokens[index + 1])
        level = int(token.tag[1])
        path = [(lvl, text) for lvl, text in path if lvl < level] + [(level, title)]
        heading = tuple(text for _, text in path)
        body_start = end
    builder.add("\n".join([title, *lines[body_start:]]), heading=heading)
    return builder.build()


def _title(inline: Token) -> str:
    text = "".join(child.content for child in inline.children or [] if child.type in _TITLE_TEXT)
    return " ".join(text.split())
