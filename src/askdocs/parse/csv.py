"""CSV: rows as "Header: value" lines in sections of consecutive rows."""

from __future__ import annotations

import csv
import io

from askdocs.errors import ParseError
from askdocs.models import ParsedDocument
from askdocs.parse import media
from askdocs.parse.builder import DocumentBuilder
from askdocs.parse.detect import decode_text
from askdocs.parse.rows import group_rows

_DELIMITERS = ",;\t|"
_SNIFF_CHARS = 64 * 1024


def parse(data: bytes) -> ParsedDocument:
    """Parse CSV (comma, semicolon, tab or pipe separated); headings are ``("rows 2-31",)``.

    Row numbers count records as a spreadsheet would, the header being row 1.
    """
    text = decode_text(data)
    dialect: type[csv.Dialect] | csv.Dialect
    try:
        dialect = csv.Sniffer().sniff(text[:_SNIFF_CHARS], delimiters=_DELIMITERS)
    except csv.Error:
        dialect = csv.excel  # too little text to tell: assume plain commas
    builder = DocumentBuilder(media.CSV)
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        for group in group_rows(enumerate(reader, start=1)):
            builder.add(group.text, heading=(group.label(),))
    except csv.Error as exc:
        raise ParseError(
            f"the CSV file is malformed near record {reader.line_num} ({exc}); fix the quoting "
            "there or export the file again"
        ) from exc
    return builder.build()
