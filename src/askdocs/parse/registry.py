"""The registry from media type to parser, and ``parse_document``, the stage's entry point."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from askdocs.errors import ParseError
from askdocs.models import ParsedDocument
from askdocs.parse import media
from askdocs.parse.builder import EMPTY_MESSAGE
from askdocs.parse.detect import detect_media_type
from askdocs.parse.limits import DEFAULT_LIMITS, check_archive, check_text
from askdocs.settings import ParseSettings

Parser = Callable[[bytes], ParsedDocument]
LimitedParser = Callable[[bytes, ParseSettings], ParsedDocument]

# Modules are imported on first use: the office and PDF libraries are slow to import and
# most runs touch only a few formats.
_MODULES = {
    media.TEXT: "text",
    media.MARKDOWN: "markdown",
    media.RST: "rst",
    media.HTML: "html",
    media.CSV: "csv",
    media.JSON: "json",
    media.PDF: "pdf",
    media.DOCX: "docx",
    media.PPTX: "pptx",
    media.XLSX: "xlsx",
}
# Parsers that enforce limits while they read (pages, cells); the others are bounded by the
# archive check before and the text check after.
_LIMITED = frozenset({media.PDF, media.XLSX})
_ARCHIVES = frozenset({media.DOCX, media.PPTX, media.XLSX})


def parser_for(media_type: str) -> Parser:
    """Return the ``parse(data) -> ParsedDocument`` function for ``media_type``."""
    module = importlib.import_module(f"askdocs.parse.{_MODULES[media_type]}")
    parser: Parser = module.parse
    return parser


def parse_document(
    data: bytes, name: str, limits: ParseSettings = DEFAULT_LIMITS
) -> ParsedDocument:
    """Extract the text and structure of the file ``name`` whose bytes are ``data``.

    Raises ``UnsupportedFileTypeError`` for a type askdocs does not read or a suffix the
    content contradicts, and ``ParseError`` for an empty, corrupt, undecodable or scanned
    file, or one beyond ``limits`` (archive bombs, too much text, too many cells or pages).
    Messages start with ``name`` and say what to do.
    """
    if not data or data.isspace():
        raise ParseError(f"{name}: {EMPTY_MESSAGE}")
    try:
        media_type = detect_media_type(data, name)
        if media_type in _ARCHIVES:
            check_archive(data, limits)
        if media_type in _LIMITED:
            module = importlib.import_module(f"askdocs.parse.{_MODULES[media_type]}")
            parsed: ParsedDocument = module.parse(data, limits)
        else:
            parsed = parser_for(media_type)(data)
        check_text(len(parsed.text), limits)
        return parsed
    except ParseError as exc:
        message = str(exc)
        if message.startswith(f"{name}: "):
            raise
        raise type(exc)(f"{name}: {message}") from exc.__cause__
