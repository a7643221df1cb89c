"""The parse stage: turn a file's bytes into text with its structure (pages, headings, rows)."""

from __future__ import annotations

from askdocs.parse.detect import detect_media_type
from askdocs.parse.media import SUPPORTED_SUFFIXES
from askdocs.parse.registry import parse_document

__all__ = ["SUPPORTED_SUFFIXES", "detect_media_type", "parse_document"]
