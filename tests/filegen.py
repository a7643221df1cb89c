"""Build small real PDF, DOCX, PPTX and XLSX files in memory for tests."""

from __future__ import annotations

import io

import docx
import openpyxl
import pptx
from PIL import Image, ImageDraw
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas

_DOCX_STYLES = {
    "title": "Title",
    "heading1": "Heading 1",
    "heading2": "Heading 2",
    "heading3": "Heading 3",
    "para": None,
}


def make_pdf(pages: list[str]) -> bytes:
    """Return a PDF with a text layer, one page per string; newlines start new lines."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=True)
    _, height = A4
    for page in pages:
        for number, line in enumerate(page.split("\n")):
            pdf.drawString(72, height - 72 - 16 * number, line)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def make_scanned_pdf(pages: int = 1) -> bytes:
    """Return a PDF whose pages are only images of text (no text layer), like a scan."""
    picture = Image.new("RGB", (400, 120), "white")
    ImageDraw.Draw(picture).text((10, 50), "This text is only pixels", fill="black")
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=True)
    for _ in range(pages):
        pdf.drawImage(ImageReader(picture), 72, 600, width=400, height=120)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def make_docx(blocks: list[tuple[str, str]]) -> bytes:
    """Return a .docx built from (kind, text) blocks.

    Kinds: ``"title"``, ``"heading1"`` to ``"heading3"``, ``"para"``, and ``"table"``,
    whose text has rows on lines and cells separated by ``|``.
    """
    document = docx.Document()
    for kind, text in blocks:
        if kind == "table":
            rows = [line.split("|") for line in text.split("\n")]
            table = document.add_table(rows=len(rows), cols=max(len(row) for row in rows))
            for cells, row in zip(table.rows, rows, strict=False):
                for cell, value in zip(cells.cells, row, strict=False):
                    cell.text = value.strip()
        else:
            document.add_paragraph(text, style=_DOCX_STYLES[kind])
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def make_pptx(slides: list[tuple[str, str]], notes: list[str] | None = None) -> bytes:
    """Return a .pptx with one "Title and Content" slide per (title, body); "" leaves it out.

    ``notes``, if given, holds each slide's speaker notes, in order.
    """
    presentation = pptx.Presentation()
    layout = presentation.slide_layouts[1]
    for index, (title, body) in enumerate(slides):
        slide = presentation.slides.add_slide(layout)
        if title and slide.shapes.title is not None:
            slide.shapes.title.text = title
        if body:
            slide.placeholders[1].text_frame.text = body
        if notes and index < len(notes) and notes[index]:
            slide.notes_slide.notes_text_frame.text = notes[index]
    buffer = io.BytesIO()
    presentation.save(buffer)
    return buffer.getvalue()


def make_xlsx(sheets: dict[str, list[list[object]]]) -> bytes:
    """Return a .xlsx with one sheet per name; each inner list is a row from row 1."""
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for name, rows in sheets.items():
        sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
