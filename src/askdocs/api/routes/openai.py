"""OpenAI-compatible /v1/models and /v1/chat/completions, so existing clients and chat UIs can
use askdocs as a model. Sources go in the message text as a numbered list and, structured, in
an extra ``askdocs`` field."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from askdocs.access.keys import Principal
from askdocs.api import deps, schemas
from askdocs.api.errors import client_message, error_body
from askdocs.api.observability import Metrics
from askdocs.api.routes.answers import (
    ThreadsDep,
    answer_events,
    ask_options,
    chat_question,
    final_answer,
)
from askdocs.container import Container
from askdocs.errors import AskdocsError
from askdocs.models import Answer
from askdocs.services.answering import answer_payload
from askdocs.services.chat import ChatTurn

router = APIRouter(prefix="/v1", tags=["openai"], responses=schemas.ERRORS)

ContainerDep = Annotated[Container, Depends(deps.container)]
MetricsDep = Annotated[Metrics, Depends(deps.metrics)]
MODEL = "askdocs"


class OpenAIMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[dict[str, object]] | None = None


class CompletionRequest(BaseModel):
    """The fields askdocs uses; others an OpenAI client sends are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str = MODEL
    messages: list[OpenAIMessage] = Field(min_length=1)
    stream: bool = False
    # askdocs extensions, passed with the client's extra_body.
    collection: str | list[str] | None = None
    k: int | None = Field(None, ge=1, le=50)


def _text(message: OpenAIMessage) -> str:
    if isinstance(message.content, list):  # content parts: keep the text ones
        return " ".join(str(p.get("text", "")) for p in message.content if p.get("type") == "text")
    return message.content or ""


def sources_text(answer: Answer) -> str:
    if not answer.citations:
        return ""
    lines = []
    for citation in answer.citations:
        chunk = citation.passage.chunk
        where = f", page {chunk.page}" if chunk.page else ""
        heading = f" ({' > '.join(chunk.heading)})" if chunk.heading else ""
        lines.append(f"[{citation.n}] {chunk.source}{where}{heading}")
    return "\n\nSources:\n" + "\n".join(lines)


def extra_field(answer: Answer, question: str) -> dict[str, object]:
    payload = answer_payload(answer)
    return {
        "rewritten_question": question,
        "citations": payload["citations"],
        "quotes": payload["quotes"],
        "abstained": answer.abstained,
        "cache": answer.cache,
        "timings_ms": answer.timings_ms,
    }


@router.get("/models", response_model=None, responses=schemas.ok(schemas.ModelList))
def models(c: ContainerDep, caller: Principal = deps.Reader) -> dict[str, object]:
    return {
        "object": "list",
        "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "askdocs"}],
    }


@router.post(
    "/chat/completions",
    response_model=None,
    responses=schemas.ok(schemas.ChatCompletion, stream=True),
)
async def chat_completions(
    body: CompletionRequest,
    c: ContainerDep,
    metrics: MetricsDep,
    threads: ThreadsDep,
    caller: Principal = deps.Reader,
) -> StreamingResponse | dict[str, object]:
    turns = [ChatTurn(m.role, _text(m)) for m in body.messages]
    question = chat_question(turns, c.settings.server)
    options = ask_options(caller, body.collection, body.k, generate=True, cache=True)
    events = answer_events(c, metrics, question, options)
    completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())
    if not body.stream:
        answer = await threads.run(final_answer, events)
        return {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": answer.answer + sources_text(answer),
                    },
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            "askdocs": extra_field(answer, question),
        }
    # The first event before the response starts: an error before any text (a full generation
    # queue, a question too long for the model) is a proper HTTP error, not a 200 stream.
    source = threads.iterate(events)
    first = await source.__anext__()
    return StreamingResponse(
        _chunks(first, source, completion_id, created, question), media_type="text/event-stream"
    )


def _chunk(
    completion_id: str, created: int, delta: dict[str, str], finish: str | None = None
) -> dict[str, object]:
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


async def _chunks(
    first: str | Answer,
    rest: AsyncIterator[str | Answer],
    completion_id: str,
    created: int,
    question: str,
) -> AsyncIterator[str]:
    def data(obj: object) -> str:
        return f"data: {json.dumps(obj)}\n\n"

    async def events() -> AsyncIterator[str | Answer]:
        yield first
        async for event in rest:
            yield event

    yield data(_chunk(completion_id, created, {"role": "assistant", "content": ""}))
    try:
        async for event in events():
            if isinstance(event, Answer):
                # The streamed text was the model's draft; the checked answer may differ
                # (unsupported citations removed), so the sources note says which it cites.
                tail = sources_text(event)
                if tail:
                    yield data(_chunk(completion_id, created, {"content": tail}))
                final = _chunk(completion_id, created, {}, "stop")
                final["askdocs"] = extra_field(event, question)
                yield data(final)
            else:
                yield data(_chunk(completion_id, created, {"content": event}))
    except AskdocsError as exc:
        yield data(error_body(exc.code, client_message(exc)))
    yield "data: [DONE]\n\n"
