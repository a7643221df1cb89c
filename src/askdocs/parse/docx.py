"""Word (.docx): paragraphs and tables in order, sections per Title / Heading N paragraph."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import docx
from docx.document import Document
from docx.oxml.ns import qn
from docx.table import Table
from docx.text.paragraph import Paragraph

from askdocs.errors import ParseError
from askdocs.models import ParsedDocument
from askdocs.parse import media
from askdocs.parse.builder import DocumentBuilder

_HEADING_STYLE = re.compile(r"heading ([1-9])", re.IGNORECASE)
_CORRUPT = (
    "the Word document is corrupt ({reason}); open it in Word or LibreOffice and save it "
    "again as .docx"
)


def parse(data: bytes) -> ParsedDocument:
    """Parse a .docx file into one section per heading, headed by the path of headings.

    ``Title`` is the outermost level, then ``Heading 1`` to ``Heading 9``; table rows
    become lines with cells separated by `` | ``.
    """
    try:
        document = docx.Document(io.BytesIO(data))
        blocks = [_block(item) for item in _body_items(document)]
    # python-docx surfaces damage as zip, XML, key and value errors from its layers.
    except Exception as exc:
        raise ParseError(_CORRUPT.format(reason=" ".join(str(exc).split())[:120])) from exc
    builder = DocumentBuilder(media.DOCX)
    path: list[tuple[int, str]] = []
    parts: list[str] = []
    for level, text in blocks:
        if level is None or not text.strip():
            parts.append(text)
            continue
        builder.add("\n\n".join(parts), heading=tuple(title for _, title in path))
        path = [(lvl, title) for lvl, title in path if lvl < level] + [(level, text.strip())]
        parts = [text]
    builder.add("\n\n".join(parts), heading=tuple(title for _, title in path))
    return builder.build()


def _body_items(document: Document) -> Iterator[Paragraph | Table]:
    """Yield body paragraphs and tables in order, including those inside content controls."""
    parent = document._body
    # python-docx's own iterator skips w:sdt, which templates use to wrap whole sections.
    stack = list(reversed(document.element.body))
    while stack:
        element = stack.pop()
        if element.tag == qn("w:p"):
            yield Paragraph(element, parent)
        elif element.tag == qn("w:tbl"):
            yield Table(element, parent)
        elif element.tag in (qn("w:sdt"), qn("w:sdtContent")):
            stack.extend(reversed(element))


def _block(item: Paragraph | Table) -> tuple[int | None, str]:
    """Return (heading level or None, text) for one body item."""
    if isinstance(item, Table):
        return None, _table_text(item)
    style = item.style.name if item.style is not None else ""
    if style == "Title":
        return 0, item.text
    match = _HEADING_STYLE.fullmatch(style or "")
    return (int(match.group(1)) if match else None), item.text


def _table_text(table: Table) -> str:
    lines = []
    for row in table.rows:
        cells: list[str] = []
        seen: list[object] = []
        for cell in row.cells:
            # A merged cell is returned once per grid column it spans.
            if any(cell._tc is element for element in seen):
                continue
            seen.append(cell._tc)
            cells.append(" ".join(cell.text.split()))
        lines.append(" | ".join(cells))
    return "\n".join(lines)
