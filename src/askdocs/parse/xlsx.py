"""Excel (.xlsx): each sheet's rows as "Header: value" lines in sections of consecutive rows."""

from __future__ import annotations

import io

import openpyxl

from askdocs.errors import ParseError
from askdocs.models import ParsedDocument
from askdocs.parse import media
from askdocs.parse.builder import DocumentBuilder
from askdocs.parse.rows import group_rows

_CORRUPT = (
    "the workbook is corrupt ({reason}); open it in Excel or LibreOffice and save it again as .xlsx"
)


def parse(data: bytes) -> ParsedDocument:
    """Parse a .xlsx file; headings are ``(sheet name, "rows 2-31")``, empty sheets skipped.

    Formulas give their last computed value, as saved by the spreadsheet application.
    """
    builder = DocumentBuilder(media.XLSX)
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    # openpyxl surfaces damage as zip, XML, key and value errors from its layers.
    except Exception as exc:
        raise ParseError(_CORRUPT.format(reason=" ".join(str(exc).split())[:120])) from exc
    try:
        for sheet in workbook.worksheets:
            # Read-only sheets yield every row from row 1, blank ones included.
            rows = enumerate(sheet.iter_rows(values_only=True), start=1)
            for group in group_rows(rows):
                builder.add(group.text, heading=(sheet.title, group.label()))
    except Exception as exc:
        raise ParseError(_CORRUPT.format(reason=" ".join(str(exc).split())[:120])) from exc
    finally:
        workbook.close()
    return builder.build("the workbook has no data in any sheet; add data or leave the file out")
