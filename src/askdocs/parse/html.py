"""HTML: visible text with paragraph breaks, in sections per h1-h6 heading."""

from __future__ import annotations

import re
import warnings

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning, Tag, XMLParsedAsHTMLWarning
from bs4.element import NavigableString

from askdocs.models import ParsedDocument
from askdocs.parse import media
from askdocs.parse.builder import DocumentBuilder
from askdocs.parse.detect import decode_text

# Page furniture and code that is not the document's text.
_NOISE = ("script", "style", "noscript", "template", "nav", "svg", "iframe", "object", "head")
_BLOCKS = frozenset(
    {"address", "article", "aside", "blockquote", "caption", "dd", "details", "div", "dl", "dt"}
    | {"fieldset", "figcaption", "figure", "footer", "form", "header", "hr", "li", "main"}
    | {"ol", "p", "pre", "section", "summary", "table", "tbody", "tfoot", "thead", "tr", "ul"}
)
_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_LINES = frozenset({"li", "tr", "dt", "dd"})
_CELLS = ("td", "th")
_WHITESPACE = re.compile(r"\s+")


class _Walker:
    """Walks the tree in document order, cutting a new section at each heading."""

    def __init__(self) -> None:
        self.builder = DocumentBuilder(media.HTML, keep_indent=True)
        self._path: list[tuple[int, str]] = []
        self._parts: list[str | int] = []  # text, or a break of that many newlines

    def walk(self, node: Tag, *, preformatted: bool = False) -> None:
        for child in node.children:
            if isinstance(child, Tag):
                self._element(child, preformatted=preformatted)
            elif type(child) is NavigableString:  # subclasses are comments, doctypes, CDATA
                self._parts.append(child if preformatted else _WHITESPACE.sub(" ", child))

    def _element(self, tag: Tag, *, preformatted: bool) -> None:
        name = tag.name
        level = _HEADINGS.get(name)
        title = " ".join(tag.get_text(" ").split()) if level else ""
        if level and title:
            self.flush()
            self._path = [(lvl, text) for lvl, text in self._path if lvl < level]
            self._path.append((level, title))
            self._parts.extend([title, 2])
        elif name == "br":
            self._parts.append("\n")
        elif name in _CELLS:
            if tag.find_previous_sibling(_CELLS) is not None:
                self._parts.append(" | ")
            self.walk(tag, preformatted=preformatted)
        elif name in _BLOCKS or level:
            # List items and table rows are lines; other blocks are paragraphs.
            newlines = 1 if name in _LINES else 2
            self._parts.append(newlines)
            self.walk(tag, preformatted=preformatted or name == "pre")
            self._parts.append(newlines)
        else:
            self.walk(tag, preformatted=preformatted)

    def flush(self) -> None:
        heading = tuple(text for _, text in self._path)
        self.builder.add(_join(self._parts), heading=heading)
        self._parts = []


def _join(parts: list[str | int]) -> str:
    """Join text, turning each run of breaks into its strongest break."""
    out: list[str] = []
    pending = 0
    for part in parts:
        if isinstance(part, int):
            pending = max(pending, part)
            continue
        if pending and not part.strip():
            continue  # whitespace between blocks (source indentation) is not text
        if pending or (out and out[-1].endswith("\n")):
            # Only <pre> text keeps indentation; a space left over from collapsing is not.
            part = part.lstrip(" ")
        out.append("\n" * pending + part)
        pending = 0
    return "".join(out)


def parse(data: bytes) -> ParsedDocument:
    """Parse HTML into one section per heading; scripts, styles and navigation are dropped."""
    with warnings.catch_warnings():
        # A short document that looks like a file name or URL is still the document.
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        # XHTML pages (<?xml ...?> first, as AsciiDoc writes them) parse fine as HTML.
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        soup = BeautifulSoup(decode_text(data), "lxml")
    for tag in soup.find_all([*_NOISE]):
        tag.decompose()
    for tag in soup.find_all(hidden=True):
        tag.decompose()
    walker = _Walker()
    walker.walk(soup.body or soup)
    walker.flush()
    return walker.builder.build()
