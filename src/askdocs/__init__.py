"""askdocs: answers questions about the content of your files, with checkable citations."""

from askdocs.container import Container, build
from askdocs.errors import AskdocsError
from askdocs.models import Answer, Chunk, Citation, Passage, Quote
from askdocs.services.answering import AskOptions
from askdocs.settings import Settings

__all__ = [
    "Answer",
    "AskOptions",
    "AskdocsError",
    "Chunk",
    "Citation",
    "Container",
    "Passage",
    "Quote",
    "Settings",
    "build",
]
