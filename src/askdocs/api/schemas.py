"""Response schemas: what each route returns, for the OpenAPI document and its clients.

Routes declare these with ``responses=`` rather than ``response_model=``: the payloads are
built as they always were and nothing is filtered out, while the OpenAPI document describes
every response, errors included. tests/test_api_fuzz.py holds the two together: schemathesis
checks each real response against its declared schema. Models allow fields beyond those
listed (``additionalProperties``), so a field added later is never a broken contract.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorDetail(_Open):
    code: str
    message: str


class ErrorBody(_Open):
    """Every error: ``{"error": {"code", "message"}}``."""

    error: ErrorDetail


class Health(_Open):
    status: str


class PassageText(_Open):
    document_id: str
    version: int
    source: str
    page: int | None
    heading: str | None
    chunk_id: str
    start: int
    end: int
    text: str


class Passage(PassageText):
    """A passage as an answer shows it: numbered as cited, with its retrieval score."""

    n: int
    score: float


class Quote(_Open):
    n: int
    chunk_id: str
    text: str
    score: float


class AnswerOut(_Open):
    question: str
    answer: str
    citations: list[Passage]
    passages: list[Passage]
    quotes: list[Quote]
    abstained: bool
    answerability: float | None
    answer_mode: str | None
    cache: str
    timings_ms: dict[str, float]


class ChatAnswerOut(AnswerOut):
    rewritten_question: str


class PassageContext(_Open):
    passage: PassageText
    before: list[PassageText]
    after: list[PassageText]
    collection: str
    content_url: str


class JobProgress(_Open):
    chunks_done: int
    chunks_total: int


class JobOut(_Open):
    job_id: str
    document_id: str
    collection: str
    source: str
    version: int
    state: str
    outcome: str | None
    attempts: int
    progress: JobProgress
    error: str | None
    created: float
    updated: float


class JobList(_Open):
    jobs: list[JobOut]
    counts: dict[str, int]


class FileOut(_Open):
    """A document: its live version's record (or, before one exists, its job's state)."""

    document_id: str
    collection: str
    source: str
    version: int | None
    status: str


class FileList(_Open):
    files: list[FileOut]
    total: int


class Accepted(_Open):
    document_id: str
    version: int
    job_id: str
    collection: str
    source: str
    size: int


class UploadOut(_Open):
    files: list[Accepted]


class Deleted(_Open):
    deleted: str
    cancelled_jobs: int
    version: int | None = None


class ModelList(_Open):
    object: str
    data: list[dict[str, Any]]


class ChatCompletion(_Open):
    id: str
    object: str
    created: int
    model: str
    choices: list[dict[str, Any]]


# Statuses a route may answer with an error body; the app's handlers give every error this
# shape, FastAPI's request validation (422) included.
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (400, "invalid request"),
        (401, "missing or unknown API key"),
        (403, "the key may not do this"),
        (404, "not found (or not visible to this key)"),
        (413, "too large, or over a quota"),
        (415, "unsupported file type"),
        (422, "invalid or too long"),
        (429, "rate limited"),
        (503, "overloaded or not ready"),
    )
}


# One server-sent event: its name (token, answer, error; none for OpenAI chunks) and its JSON.
_SSE_EVENT = {
    "type": "object",
    "properties": {"event": {"type": "string"}, "data": {"type": "string"}},
    "required": ["data"],
}


def ok(model: type[BaseModel], *, stream: bool = False) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route answering ``model`` (and server-sent events when asked)."""
    success: dict[str, Any] = {"model": model}
    if stream:
        success["content"] = {"text/event-stream": {"schema": _SSE_EVENT}}
    return {200: success}


def upload_body(*, many: bool) -> dict[str, Any]:
    """``openapi_extra`` for the multipart routes, which read their body as a stream."""
    file = {"type": "string", "format": "binary"}
    properties: dict[str, Any] = {
        "file": file,
        "collection": {"type": "string"},
        "source": {"type": "string"},
        # Principals that may see the file (user:alice,group:eng); empty: the collection's.
        "access": {"type": "string"},
    }
    if many:
        properties["files"] = {"type": "array", "items": file}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": {"type": "object", "properties": properties}}
            },
        }
    }
