"""Work out a file's media type from its content and suffix, and decode text files."""

from __future__ import annotations

import codecs
import io
import re
import zipfile

from charset_normalizer import from_bytes

from askdocs.errors import ParseError, UnsupportedFileTypeError
from askdocs.parse import media

# The part each OOXML package must hold; checked in this order.
_OOXML_PARTS = (
    ("word/document.xml", media.DOCX),
    ("ppt/presentation.xml", media.PPTX),
    ("xl/workbook.xml", media.XLSX),
)
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# UTF-32 before UTF-16: the UTF-32 LE mark begins with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
# Text that is more than this share of control characters is binary that happened to decode.
_MAX_CONTROL_SHARE = 0.02
# cp1252 is the usual legacy encoding of Western text; charset-normalizer often ties it with
# cp1250 and friends on short samples, and picking cp1250 garbles è, ì, ò.
_PREFERRED_LEGACY = "cp1252"
_HTML_START = re.compile(r"\s*(<!doctype html|<html[\s>])", re.IGNORECASE)
_NOT_TEXT = (
    "not a text file, or its encoding could not be detected; save it as UTF-8 text, "
    "or give it the suffix of its real type"
)


def sniff(data: bytes) -> str | None:
    """Return the media type the content shows by itself (magic bytes), or None for text."""
    pdf_at = data.find(b"%PDF-", 0, 1024)
    # The header may follow a little junk, but then the trailer must be there too, so that
    # a text file that merely mentions "%PDF-" is not taken for a PDF.
    if pdf_at == 0 or (pdf_at > 0 and b"%%EOF" in data[-2048:]):
        return media.PDF
    if data.startswith(_ZIP_MAGIC):
        return _sniff_zip(data)
    if data.startswith(_OLE_MAGIC):
        return media.OLE
    return None


def _sniff_zip(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ParseError(
            "the file is corrupt: it starts like a ZIP-based file (.docx, .pptx, .xlsx) but "
            "the archive cannot be read; open and re-save it in its application, or re-export it"
        ) from exc
    for part, media_type in _OOXML_PARTS:
        if part in names:
            return media_type
    return media.ZIP


# Sphinx publishes page sources as name.rst.txt (and MyST's as name.md.txt): read them as
# what they are, so they keep their heading paths.
_COMPOUND_SUFFIXES = {".rst.txt": ".rst", ".md.txt": ".md"}


def _suffix(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    for compound, suffix in _COMPOUND_SUFFIXES.items():
        if base.lower().endswith(compound) and len(base) > len(compound):
            return suffix
    stem, dot, ext = base.rpartition(".")
    return f".{ext.lower()}" if dot and stem else ""


def detect_media_type(data: bytes, name: str) -> str:
    """Return the media type of ``data``, named ``name``, checking content against suffix.

    Raises ``UnsupportedFileTypeError`` for a suffix askdocs does not read, or when the
    content contradicts the suffix (a ``.pdf`` that is really a ZIP archive, a ``.docx``
    that is plain text); ``ParseError`` when a suffix-less file is neither a known binary
    format nor decodable text.
    """
    suffix = _suffix(name)
    if suffix and suffix not in media.SUPPORTED_SUFFIXES:
        raise UnsupportedFileTypeError(
            f"{name}: askdocs cannot read {suffix} files; supported types are "
            f"{media.supported_list()}; convert the file to one of them"
        )
    sniffed = sniff(data)
    if not suffix:
        return _detect_without_suffix(data, name, sniffed)
    claimed = media.SUPPORTED_SUFFIXES[suffix]
    if _blank(data) or sniffed == claimed:
        return claimed
    if claimed in media.BINARY_TYPES or sniffed is not None:
        looks_like = media.describe(sniffed) if sniffed else _describe_unknown(data)
        raise UnsupportedFileTypeError(
            f"{name}: the content looks like {looks_like}, but the suffix {suffix} claims "
            f"{media.describe(claimed)}; the file is mislabelled or corrupt: rename it to "
            "its real type or re-export it"
        )
    return claimed


def _blank(data: bytes) -> bool:
    # Without copying: a 100 MB upload's strip() would be another 100 MB.
    return not data or data.isspace()


def _detect_without_suffix(data: bytes, name: str, sniffed: str | None) -> str:
    if sniffed in media.BINARY_TYPES:
        return sniffed
    if sniffed is not None:
        raise UnsupportedFileTypeError(
            f"{name}: the content looks like {media.describe(sniffed)}, which askdocs cannot "
            f"read; supported types are {media.supported_list()}"
        )
    text = decode_text(data)
    return media.HTML if _HTML_START.match(text) else media.TEXT


def _describe_unknown(data: bytes) -> str:
    try:
        decode_text(data)
    except ParseError:
        return media.describe(media.BINARY)
    return media.describe(media.TEXT)


def decode_text(data: bytes) -> str:
    """Decode a text file: byte-order mark, then UTF-8, then charset-normalizer's best guess.

    Raises ``ParseError`` for binary data or an encoding that cannot be detected.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise ParseError(f"{_NOT_TEXT} ({encoding} byte-order mark, bad bytes)") from exc
    if b"\x00" in data:
        raise ParseError(_NOT_TEXT)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = _guess(data)
    if text and len(_CONTROL_CHARS.findall(text)) / len(text) > _MAX_CONTROL_SHARE:
        raise ParseError(_NOT_TEXT)
    return text


def _guess(data: bytes) -> str:
    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        raise ParseError(_NOT_TEXT)
    for match in matches:
        tied = match.chaos == best.chaos and match.coherence == best.coherence
        if tied and _PREFERRED_LEGACY in match.could_be_from_charset:
            return str(match)
    return str(best)
