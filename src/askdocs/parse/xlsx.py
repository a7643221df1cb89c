"""Excel (.xlsx): each sheet's rows as "Header: value" lines in sections of consecutive rows."""

from __future__ import annotations

import io
from collections.abc import Iterator

import openpyxl

from askdocs.errors import ParseError
from askdocs.models import ParsedDocument
from askdocs.parse import media
from askdocs.parse.builder import DocumentBuilder
from askdocs.parse.limits import DEFAULT_LIMITS
from askdocs.parse.rows import group_rows
from askdocs.settings import ParseSettings

_CORRUPT = (
    "the workbook is corrupt ({reason}); open it in Excel or LibreOffice and save it again as .xlsx"
)


def parse(data: bytes, limits: ParseSettings = DEFAULT_LIMITS) -> ParsedDocument:
    """Parse a .xlsx file; headings are ``(sheet name, "rows 2-31")``, empty sheets skipped.

    Formulas give their last computed value, as saved by the spreadsheet application. Only
    the cells the sheet holds are read, whatever range its ``<dimension>`` claims; the cells
    read (blank ones inside a row count) are capped per sheet and per workbook.
    """
    builder = DocumentBuilder(media.XLSX)
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    # openpyxl surfaces damage as zip, XML, key and value errors from its layers.
    except Exception as exc:
        raise ParseError(_CORRUPT.format(reason=" ".join(str(exc).split())[:120])) from exc
    try:
        cells = _CellBudget(limits)
        for sheet in workbook.worksheets:
            # A read-only sheet pads every row to the width, and the sheet to the height, that
            # its <dimension> claims: a 1 KB file claiming A1:XFD1048576 would yield 17 billion
            # blank cells. Forgetting the claim reads only the rows and cells present.
            sheet.reset_dimensions()
            rows = enumerate(cells.counted(sheet.title, sheet.iter_rows(values_only=True)), 1)
            for group in group_rows(rows):
                builder.add(group.text, heading=(sheet.title, group.label()))
    except ParseError:
        raise
    except Exception as exc:
        raise ParseError(_CORRUPT.format(reason=" ".join(str(exc).split())[:120])) from exc
    finally:
        workbook.close()
    return builder.build("the workbook has no data in any sheet; add data or leave the file out")


class _CellBudget:
    def __init__(self, limits: ParseSettings) -> None:
        self._limits = limits
        self._total = 0

    def counted(
        self, sheet: str, rows: Iterator[tuple[object, ...]]
    ) -> Iterator[tuple[object, ...]]:
        in_sheet = 0
        for row in rows:
            in_sheet += len(row)
            self._total += len(row)
            if in_sheet > self._limits.max_sheet_cells:
                raise ParseError(
                    f"the sheet {sheet!r} has more than {self._limits.max_sheet_cells:,} cells "
                    "(setting parse.max_sheet_cells); split it, or export the data as CSV"
                )
            if self._total > self._limits.max_workbook_cells:
                raise ParseError(
                    f"the workbook has more than {self._limits.max_workbook_cells:,} cells "
                    "(setting parse.max_workbook_cells); split it into smaller workbooks"
                )
            yield row
