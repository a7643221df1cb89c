"""Render table rows as "Header: value" lines and group them into sections (CSV, XLSX)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

# Sections stay near this size so one group of rows fits a chunk or two.
MAX_SECTION_CHARS = 1500


@dataclass(frozen=True, slots=True)
class RowGroup:
    """Consecutive rendered rows; ``first``/``last`` are spreadsheet row numbers."""

    text: str
    first: int
    last: int

    def label(self) -> str:
        """Return ``"rows 2-31"``, or ``"row 2"`` for a single row."""
        if self.first == self.last:
            return f"row {self.first}"
        return f"rows {self.first}-{self.last}"


def format_value(value: object) -> str:
    """Return a cell value as text: whole floats without ``.0``, dates in ISO form."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        return value.date().isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return " ".join(str(value).split())


def group_rows(rows: Iterable[tuple[int, Sequence[object]]]) -> Iterator[RowGroup]:
    """Render numbered rows under the first non-empty row as header, in groups.

    Blank rows are skipped; an empty header cell is named after its column (``Column 3``).
    A table with only a header row yields that row, its cells joined by ``; ``.
    """
    header: list[str] | None = None
    header_number = 0
    lines: list[str] = []
    first = last = 0
    size = 0
    for number, row in rows:
        cells = [format_value(value) for value in row]
        if not any(cells):
            continue
        if header is None:
            header, header_number = cells, number
            continue
        line = "; ".join(
            f"{_column_name(header, index)}: {cell}" for index, cell in enumerate(cells) if cell
        )
        if lines and size + len(line) + 1 > MAX_SECTION_CHARS:
            yield RowGroup("\n".join(lines), first, last)
            lines, size = [], 0
        if not lines:
            first = number
        lines.append(line)
        size += len(line) + 1
        last = number
    if lines:
        yield RowGroup("\n".join(lines), first, last)
    elif header is not None:
        yield RowGroup("; ".join(cell for cell in header if cell), header_number, header_number)


def _column_name(header: list[str], index: int) -> str:
    name = header[index] if index < len(header) else ""
    return name or f"Column {index + 1}"
