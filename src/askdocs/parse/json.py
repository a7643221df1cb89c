"""JSON: "path.to.key: value" lines, in sections per top-level key or group of array items."""

from __future__ import annotations

import json
from collections.abc import Iterator

from askdocs.errors import ParseError
from askdocs.models import ParsedDocument
from askdocs.parse import media
from askdocs.parse.builder import DocumentBuilder
from askdocs.parse.detect import decode_text
from askdocs.parse.rows import MAX_SECTION_CHARS


def parse(data: bytes) -> ParsedDocument:
    """Parse JSON into readable lines such as ``owner.name: Ada`` and ``tags[0]: math``.

    An object gives one section per top-level key (heading ``(key,)``); an array gives
    sections of consecutive items (heading ``("items 0-9",)``, indexes as in the paths).
    """
    try:
        value = json.loads(decode_text(data))
    except json.JSONDecodeError as exc:
        raise ParseError(
            f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}; fix the file "
            "there (a JSON validator shows the problem) and add it again"
        ) from exc
    except RecursionError as exc:
        raise ParseError("the JSON is nested too deeply to read; flatten it") from exc
    builder = DocumentBuilder(media.JSON)
    try:
        if isinstance(value, dict):
            for key, item in value.items():
                builder.add("\n".join(_lines(item, str(key))), heading=(str(key),))
        elif isinstance(value, list):
            _add_items(builder, value)
        else:
            builder.add(_scalar(value))
    except RecursionError as exc:
        raise ParseError("the JSON is nested too deeply to read; flatten it") from exc
    return builder.build()


def _add_items(builder: DocumentBuilder, items: list[object]) -> None:
    lines: list[str] = []
    first = 0
    for index, item in enumerate(items):
        item_lines = list(_lines(item, f"[{index}]"))
        size = sum(len(line) + 1 for line in lines)
        if lines and size + sum(len(line) + 1 for line in item_lines) > MAX_SECTION_CHARS:
            builder.add("\n".join(lines), heading=(_label(first, index - 1),))
            lines, first = [], index
        lines.extend(item_lines)
    if lines:
        builder.add("\n".join(lines), heading=(_label(first, len(items) - 1),))


def _label(first: int, last: int) -> str:
    return f"item {first}" if first == last else f"items {first}-{last}"


def _lines(value: object, path: str) -> Iterator[str]:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _lines(item, f"{path}.{key}")
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from _lines(item, f"{path}[{index}]")
    else:
        yield f"{path}: {_scalar(value)}"


def _scalar(value: object) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
