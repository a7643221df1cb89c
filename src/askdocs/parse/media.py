"""Media types askdocs reads, the file suffixes that claim them, and their plain names."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

TEXT = "text/plain"
MARKDOWN = "text/markdown"
RST = "text/x-rst"
HTML = "text/html"
CSV = "text/csv"
JSON = "application/json"
PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# Content we recognise only to name it in an error message; askdocs does not read it.
ZIP = "application/zip"
OLE = "application/x-ole-storage"
BINARY = "application/octet-stream"

SUPPORTED_SUFFIXES: Mapping[str, str] = MappingProxyType(
    {
        ".txt": TEXT,
        ".md": MARKDOWN,
        ".markdown": MARKDOWN,
        ".rst": RST,
        ".html": HTML,
        ".htm": HTML,
        ".pdf": PDF,
        ".docx": DOCX,
        ".pptx": PPTX,
        ".xlsx": XLSX,
        ".csv": CSV,
        ".json": JSON,
    }
)

TEXT_TYPES = frozenset({TEXT, MARKDOWN, RST, HTML, CSV, JSON})
BINARY_TYPES = frozenset({PDF, DOCX, PPTX, XLSX})

_NAMES = {
    TEXT: "plain text",
    MARKDOWN: "Markdown",
    RST: "reStructuredText",
    HTML: "HTML",
    CSV: "CSV",
    JSON: "JSON",
    PDF: "a PDF document",
    DOCX: "a Word document (.docx)",
    PPTX: "a PowerPoint presentation (.pptx)",
    XLSX: "an Excel workbook (.xlsx)",
    ZIP: "a ZIP archive that is not a .docx, .pptx or .xlsx file",
    OLE: "a legacy Office file (.doc, .ppt or .xls)",
    BINARY: "binary data of a type askdocs does not know",
}


def describe(media_type: str) -> str:
    """Return a plain-language name for ``media_type``, for error messages."""
    return _NAMES.get(media_type, media_type)


def supported_list() -> str:
    """Return the supported suffixes as one readable string."""
    return ", ".join(SUPPORTED_SUFFIXES)
