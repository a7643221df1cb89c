"""Hostile files, generated: bombs, billion laughs, external entities, claims of huge ranges.

Each builder returns the file's bytes; ``CASES`` names them with the suffix they travel
under. Used by the parse tests, the API test against a real server, and
benchmarks/hostile.py (the README's table).
"""

from __future__ import annotations

import io
import json
import os
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

from filegen import make_docx, make_pptx, make_xlsx

MIB = 1024 * 1024

BILLION_LAUGHS_DTD = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">'
        for n in range(1, 10)
    )
    + "]>"
)


def _replace_member(data: bytes, member: str, content: bytes) -> bytes:
    """The zip ``data`` with ``member``'s content swapped (other members copied as they are)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            body = content if info.filename == member else source.read(info.filename)
            target.writestr(info, body, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _deflated_member(name: str, size: int) -> tuple[zipfile.ZipInfo, bytes]:
    """A zip member of ``size`` spaces (a multiple of 1 MiB), deflated without ever holding
    it whole: after a full flush each 1 MiB block compresses to the same bytes, so the stream
    is built by repeating them."""
    block = b" " * MIB
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    blocks = size // MIB
    deflated = first + again * (blocks - 1) + compressor.flush()
    crc = 0
    for _ in range(blocks):
        crc = zlib.crc32(block, crc)
    info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.file_size = blocks * MIB
    info.CRC = crc
    return info, deflated


def zip_bomb(kind: str, inflated: int = 2048 * MIB) -> bytes:
    """An office file whose main part inflates to ``inflated`` bytes of spaces."""
    base, member = {
        "docx": (make_docx([("para", "x")]), "word/document.xml"),
        "pptx": (make_pptx([("Title", "x")]), "ppt/slides/slide1.xml"),
        "xlsx": (make_xlsx({"Sheet": [["x"]]}), "xl/worksheets/sheet1.xml"),
    }[kind]
    info, deflated = _deflated_member(member, inflated)
    return _raw_member(base, info, deflated)


def _raw_member(archive: bytes, info: zipfile.ZipInfo, deflated: bytes) -> bytes:
    """``archive`` with the member ``info`` holding the already deflated bytes ``deflated``."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(archive)) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            if item.filename != info.filename:
                target.writestr(item, source.read(item.filename), zipfile.ZIP_DEFLATED)
        # zipfile cannot write bytes already deflated: the local header, then the data, by hand.
        info.compress_size = len(deflated)
        info.header_offset = out.tell()
        out.write(info.FileHeader(zip64=True))
        out.write(deflated)
        target.start_dir = out.tell()
        target.filelist.append(info)
        target.NameToInfo[info.filename] = info
    return out.getvalue()


def many_members(count: int = 20_000) -> bytes:
    """A .docx whose archive holds ``count`` tiny parts."""
    out = io.BytesIO()
    base = make_docx([("para", "x")])
    with zipfile.ZipFile(io.BytesIO(base)) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            target.writestr(item, source.read(item.filename), zipfile.ZIP_DEFLATED)
        for n in range(count):
            target.writestr(f"extra/part{n}.xml", b"<a/>")
    return out.getvalue()


def xlsx_dimension(cell: str) -> bytes:
    """A workbook whose sheet claims A1:XFD1048576 and holds one cell, at ``cell``."""
    base = make_xlsx({"Sheet": [["placeholder"]]})
    row = int("".join(ch for ch in cell if ch.isdigit()))
    sheet = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<dimension ref="A1:XFD1048576"/><sheetData>'
        f'<row r="{row}"><c r="{cell}" t="inlineStr"><is><t>lonely</t></is></c></row>'
        "</sheetData></worksheet>"
    ).encode()
    return _replace_member(base, "xl/worksheets/sheet1.xml", sheet)


_OOXML_PARTS = {
    "docx": (
        "word/document.xml",
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        "<w:body><w:p><w:r><w:t>{entity}</w:t></w:r></w:p></w:body></w:document>",
    ),
    "pptx": (
        "ppt/slides/slide1.xml",
        None,  # filled from the real slide: the entity goes into its first text run
    ),
    "xlsx": (
        "xl/worksheets/sheet1.xml",
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>{entity}</t></is></c></row>'
        '<row r="2"><c r="A2" t="inlineStr"><is><t>value</t></is></c></row>'
        "</sheetData></worksheet>",
    ),
}


def xml_entity_file(kind: str, dtd: str, entity: str) -> bytes:
    """An office file (``docx``, ``pptx``, ``xlsx``) or HTML page whose text is ``entity``
    (``&lol9;``, ``&xxe;``), declared by ``dtd``."""
    if kind == "html":
        return f"<?xml version='1.0'?>{dtd}<html><body><p>{entity}</p></body></html>".encode()
    member, template = _OOXML_PARTS[kind]
    if kind == "pptx":
        base = make_pptx([("Marker", "body")])
        with zipfile.ZipFile(io.BytesIO(base)) as source:
            slide = source.read(member).decode()
        xml = slide.replace("Marker", entity, 1)
        head, sep, rest = xml.partition("?>")
        xml = head + sep + dtd + rest if sep else dtd + xml
    else:
        base = make_docx([("para", "x")]) if kind == "docx" else make_xlsx({"S": [["x"]]})
        xml = '<?xml version="1.0" encoding="UTF-8" standalone="no"?>' + dtd
        xml += template.format(entity=entity)  # type: ignore[union-attr]
    return _replace_member(base, member, xml.encode())


def xxe_dtd(secret: Path) -> str:
    return f'<!DOCTYPE d [<!ENTITY xxe SYSTEM "{secret.resolve().as_uri()}">]>'


def pdf_flate_bomb(inflated: int = 1024 * MIB) -> bytes:
    """A one-page PDF whose content stream inflates to ``inflated`` bytes."""
    compressor = zlib.compressobj(9)
    block = b"0 0 m " * (MIB // 6)
    parts = [compressor.compress(b"BT /F1 12 Tf 72 720 Td (Bomb) Tj ET\n")]
    for _ in range(inflated // len(block)):
        parts.append(compressor.compress(block))
    parts.append(compressor.flush())
    stream = b"".join(parts)
    return _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
            b" /Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream)
            + stream
            + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ]
    )


def pdf_many_pages(pages: int = 100_000) -> bytes:
    """A PDF with ``pages`` pages (one page object, listed ``pages`` times)."""
    kids = b" ".join([b"3 0 R"] * pages)
    return _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages,
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
            b" /Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length 44 >>\nstream\nBT /F1 12 Tf 72 720 Td (Page text) Tj ET\n\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ]
    )


def large_pdf(size: int = 95 * MIB, pages: int = 200) -> bytes:
    """A valid PDF of about ``size`` bytes: ``pages`` pages, each a paragraph of its own text
    over a photo-like image (random grey pixels, which do not compress)."""
    side = int((size // pages) ** 0.5)
    font = 3
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    kids = []
    for n in range(1, pages + 1):
        image, content, page = len(objects) + 1, len(objects) + 2, len(objects) + 3
        pixels = os.urandom(side * side)
        objects.append(
            b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray"
            b" /BitsPerComponent 8 /Length %d >>\nstream\n"
            % (side, side, len(pixels))
            + pixels
            + b"\nendstream"
        )
        text = (
            f"Page {n}. Relay cabinet {n} holds breaker {n * 7}, which trips at {n * 3 + 10} "
            f"amperes and is reset from panel {n % 17}."
        ).encode()
        stream = b"q 400 0 0 400 100 250 cm /Im1 Do Q BT /F1 11 Tf 72 720 Td (" + text + b") Tj ET"
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R"
            b" /Resources << /Font << /F1 %d 0 R >> /XObject << /Im1 %d 0 R >> >> >>"
            % (content, font, image)
        )
        kids.append(b"%d 0 R" % page)
    objects[1] = b"<< /Type /Pages /Kids [" + b" ".join(kids) + b"] /Count %d >>" % pages
    return _pdf(objects)


def _pdf(objects: list[bytes]) -> bytes:
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def deep_json(depth: int = 100_000) -> bytes:
    return b"[" * depth + b"]" * depth


def long_line_text(size: int = 50 * MIB) -> bytes:
    """One line of words, no newline: ``size`` bytes."""
    words = b"lorem ipsum dolor sit amet "
    return (words * (size // len(words) + 1))[:size]


def binary_as_text() -> bytes:
    return bytes(range(256)) * 4096


def mixed_encodings() -> bytes:
    """UTF-8, then Latin-1, then UTF-16 bytes in one file."""
    return (
        "Café crème in UTF-8.\n".encode()
        + "Garçon déjà vu in Latin-1.\n".encode("latin-1")
        + "Ünïcödé in UTF-16.\n".encode("utf-16-le")
    )


def normal_file() -> tuple[str, bytes]:
    return "after.md", b"# After\n\nThe heron nests on the north pier of Saltmarsh quay.\n"


# name -> (file name it travels under, builder). The secret for XXE is written by the caller.
def cases(secret: Path) -> dict[str, tuple[str, Callable[[], bytes]]]:
    laughs, xxe = BILLION_LAUGHS_DTD, xxe_dtd(secret)
    found: dict[str, tuple[str, Callable[[], bytes]]] = {
        "docx zip bomb (2 GiB)": ("bomb.docx", lambda: zip_bomb("docx")),
        "pptx zip bomb (2 GiB)": ("bomb.pptx", lambda: zip_bomb("pptx")),
        "xlsx zip bomb (2 GiB)": ("bomb.xlsx", lambda: zip_bomb("xlsx")),
        "docx with 20,000 parts": ("parts.docx", many_members),
        "xlsx A1:XFD1048576, cell at A1": ("dim-a1.xlsx", lambda: xlsx_dimension("A1")),
        "xlsx A1:XFD1048576, cell at XFD1048576": (
            "dim-xfd.xlsx",
            lambda: xlsx_dimension("XFD1048576"),
        ),
        "PDF flate bomb (1 GiB)": ("bomb.pdf", pdf_flate_bomb),
        "PDF with 100,000 pages": ("pages.pdf", pdf_many_pages),
        "JSON nested 100,000 deep": ("deep.json", deep_json),
        "50 MB single-line text": ("line.txt", long_line_text),
        "binary under .txt": ("binary.txt", binary_as_text),
        "mixed encodings": ("mixed.txt", mixed_encodings),
        "non-UTF-8 (Latin-1)": (
            "latin1.txt",
            lambda: "Crème brûlée à la carte.\n".encode("latin-1"),
        ),
    }
    for kind in ("docx", "pptx", "xlsx", "html"):
        suffix = kind if kind != "html" else "html"
        found[f"{kind} billion laughs"] = (
            f"laughs.{suffix}",
            lambda kind=kind: xml_entity_file(kind, laughs, "&lol9;"),
        )
        found[f"{kind} external entity (XXE)"] = (
            f"xxe.{suffix}",
            lambda kind=kind: xml_entity_file(kind, xxe, "&xxe;"),
        )
    return found


def write_json(path: Path, rows: list[dict[str, object]]) -> None:
    path.write_text(json.dumps(rows, indent=2))
