"""PowerPoint (.pptx): one section per slide with the text of its shapes, tables and notes."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator

import pptx
from pptx.enum.shapes import MSO_SHAPE_TYPE
from pptx.shapes.base import BaseShape
from pptx.slide import Slide

from askdocs.errors import ParseError
from askdocs.models import ParsedDocument
from askdocs.parse import media
from askdocs.parse.builder import DocumentBuilder

_CORRUPT = (
    "the presentation is corrupt ({reason}); open it in PowerPoint or LibreOffice and save "
    "it again as .pptx"
)


def parse(data: bytes) -> ParsedDocument:
    """Parse a .pptx file: ``page`` is the slide number, ``heading`` the slide title if any."""
    builder = DocumentBuilder(media.PPTX)
    try:
        presentation = pptx.Presentation(io.BytesIO(data))
        for number, slide in enumerate(presentation.slides, start=1):
            title, text = _slide_text(slide)
            builder.add(text, page=number, heading=(title,) if title else ())
    # python-pptx surfaces damage as zip, XML, key and value errors from its layers.
    except Exception as exc:
        raise ParseError(_CORRUPT.format(reason=" ".join(str(exc).split())[:120])) from exc
    return builder.build()


def _slide_text(slide: Slide) -> tuple[str, str]:
    """Return the slide's title and its full text: title first, then shapes, then notes."""
    title_shape = slide.shapes.title
    title = " ".join(title_shape.text_frame.text.split()) if title_shape is not None else ""
    # Shapes are fresh proxies on each access, so the title is recognised by its id.
    title_id = title_shape.shape_id if title_shape is not None else None
    parts = [title]
    for shape in _shapes(slide.shapes):
        if shape.shape_id != title_id:
            parts.append(_shape_text(shape))
    if slide.has_notes_slide:
        notes_frame = slide.notes_slide.notes_text_frame
        if notes_frame is not None and notes_frame.text.strip():
            parts.append("Notes: " + notes_frame.text)
    return title, "\n\n".join(part for part in parts if part)


def _shapes(shapes: Iterable[BaseShape]) -> Iterator[BaseShape]:
    """Yield shapes depth-first, descending into groups."""
    for shape in shapes:
        if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
            yield from _shapes(shape.shapes)  # type: ignore[attr-defined]
        else:
            yield shape


def _shape_text(shape: BaseShape) -> str:
    if shape.has_text_frame:
        return str(shape.text_frame.text)  # type: ignore[attr-defined]
    if getattr(shape, "has_table", False):
        rows = shape.table.rows  # type: ignore[attr-defined]
        return "\n".join(" | ".join(" ".join(c.text.split()) for c in row.cells) for row in rows)
    return ""
