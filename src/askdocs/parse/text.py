"""Plain text: one section of paragraphs."""

from __future__ import annotations

from askdocs.models import ParsedDocument
from askdocs.parse import media
from askdocs.parse.builder import DocumentBuilder
from askdocs.parse.detect import decode_text


def parse(data: bytes) -> ParsedDocument:
    """Parse a plain-text file; the chunker splits the one section at paragraph breaks."""
    builder = DocumentBuilder(media.TEXT, keep_indent=True)
    builder.add(decode_text(data))
    return builder.build()
