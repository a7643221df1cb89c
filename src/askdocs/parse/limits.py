"""Limits a hostile file meets before it costs memory: archive directories, text, cells, pages.

Each check raises ``ParseError`` with the limit, the setting that raises it, and what to do.
The parse subprocess (parse/sandbox.py) bounds memory and time whatever slips past these.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib

from askdocs.errors import ParseError
from askdocs.settings import ParseSettings

DEFAULT_LIMITS = ParseSettings()
# Members smaller than this may compress as well as they like: XML full of repeated markup
# routinely reaches 50-100x, and a small member cannot inflate into much anyway.
_RATIO_EXEMPT_BYTES = 1024 * 1024
_MIB = 1024 * 1024
# What may precede a DTD: the XML declaration, comments, processing instructions, space.
_PROLOG = re.compile(rb"(?:\s+|<\?.*?\?>|<!--.*?-->)*", re.DOTALL)
_PROLOG_STEP = 4096
# A part whose prolog runs past this is treated as declaring a DTD: no office part does that.
_MAX_PROLOG_BYTES = 1024 * 1024


def check_archive(data: bytes, limits: ParseSettings) -> None:
    """Refuse a zip-based office file whose directory promises a bomb.

    The declared sizes are binding: ``zipfile`` stops a member at its declared size and fails
    its CRC if the data would inflate further, so checking the directory bounds what the
    office parsers can be made to read.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            _check_sizes(members, limits)
            _check_no_dtd(archive, members)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, zlib.error) as exc:
        raise ParseError(
            "the file is corrupt: the archive inside the office file cannot be read; open "
            "and re-save it in its application"
        ) from exc


def _check_sizes(members: list[zipfile.ZipInfo], limits: ParseSettings) -> None:
    if len(members) > limits.max_zip_members:
        raise ParseError(
            f"the file's archive holds {len(members):,} parts, more than the limit of "
            f"{limits.max_zip_members:,} (setting parse.max_zip_members); re-save it in its "
            "application, or raise the limit if you trust the file"
        )
    total = sum(m.file_size for m in members)
    if total > limits.max_zip_bytes:
        raise ParseError(
            f"the file unpacks to {total / _MIB:,.0f} MB, more than the limit of "
            f"{limits.max_zip_bytes / _MIB:,.0f} MB (setting parse.max_zip_bytes); it is a "
            "zip bomb or far larger than a document should be: split it"
        )
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > _RATIO_EXEMPT_BYTES and ratio > limits.max_zip_ratio:
            raise ParseError(
                f"the part {member.filename} compresses {ratio:,.0f} to 1 (limit "
                f"{limits.max_zip_ratio:,.0f}, setting parse.max_zip_ratio), which only zip "
                "bombs do; re-save the file in its application"
            )


def _check_no_dtd(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo]) -> None:
    """Office parts never declare a DTD (the Open Packaging Conventions forbid it), and a DTD
    is what entity attacks need: billion laughs, external entities that read local files."""
    for member in members:
        if member.filename.endswith((".xml", ".rels")) and _declares_dtd(archive, member):
            raise ParseError(
                f"the part {member.filename} declares a DTD (<!DOCTYPE>), which office files "
                "never do; entity declarations are how XML attacks work (billion laughs, "
                "external entities), so askdocs does not read it. Re-save the file in its "
                "application"
            )


def _declares_dtd(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> bool:
    """Whether the part's prolog (what comes before its root element) holds a ``<!DOCTYPE``;
    reads only as far as the prolog goes, however long its comments are."""
    head = b""
    with archive.open(member) as part:
        while len(head) <= _MAX_PROLOG_BYTES:
            chunk = part.read(_PROLOG_STEP)
            head += chunk
            prolog = _PROLOG.match(head)
            rest = head[prolog.end() :] if prolog else head
            # A comment or instruction cut by the chunk end, or too little to tell: read on.
            unfinished = rest.startswith((b"<?", b"<!--")) or len(rest) < len(b"<!DOCTYPE")
            if not unfinished or not chunk:
                return rest.startswith(b"<!") and not rest.startswith(b"<!--")
    return True


def text_too_long(limits: ParseSettings) -> ParseError:
    return ParseError(
        f"the file holds more than {limits.max_text_chars:,} characters of text (setting "
        "parse.max_text_chars); split it into smaller files"
    )


def check_text(chars: int, limits: ParseSettings) -> None:
    if chars > limits.max_text_chars:
        raise text_too_long(limits)
