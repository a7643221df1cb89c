"""/v1/ask, /v1/chat and /v1/passages: answers with citations, streamed or whole."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from askdocs.access.keys import Principal
from askdocs.api import deps, schemas
from askdocs.api.errors import client_message, error_body, status_of
from askdocs.api.observability import Metrics
from askdocs.api.threads import AnswerThreads
from askdocs.container import Container
from askdocs.errors import AskdocsError, DocumentNotFoundError, TooLongError
from askdocs.models import Answer, Chunk, Passage
from askdocs.services.answering import AskOptions, answer_payload, passage_payload
from askdocs.services.chat import ChatTurn, standalone_question
from askdocs.settings import ServerSettings

router = APIRouter(prefix="/v1", tags=["answers"], responses=schemas.ERRORS)

ContainerDep = Annotated[Container, Depends(deps.container)]
MetricsDep = Annotated[Metrics, Depends(deps.metrics)]
ThreadsDep = Annotated[AnswerThreads, Depends(deps.answer_threads)]


class AskRequest(BaseModel):
    # Lengths are bounded by settings (server.max_question_chars and the chat limits), checked
    # in the routes, and the body's bytes before it is parsed (api/guards.py).
    question: str = Field(min_length=1)
    collection: str | list[str] | None = None
    k: int | None = Field(None, ge=1, le=50)
    stream: bool = False
    generate: bool = True
    cache: bool = True


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class ChatRequest(BaseModel):
    messages: list[ChatMessage] = Field(min_length=1)
    collection: str | list[str] | None = None
    k: int | None = Field(None, ge=1, le=50)
    stream: bool = False
    cache: bool = True


def collections_of(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def ask_options(
    caller: Principal, collection: str | list[str] | None, k: int | None, *, generate: bool,
    cache: bool,
) -> AskOptions:  # fmt: skip
    return AskOptions(
        collections=caller.visible(collections_of(collection)),
        k=k,
        generate=generate,
        use_cache=cache,
        scope=caller.access_digest,
        principals=caller.principals,
    )


def check_question(question: str, server: ServerSettings, what: str = "the question") -> None:
    """Refuse a retrieval question longer than the server takes: refused, never cut, so the
    answer is never to a question the caller did not ask."""
    if len(question) > server.max_question_chars:
        raise TooLongError(
            f"{what} is {len(question):,} characters long; at most "
            f"{server.max_question_chars:,} are taken (setting server.max_question_chars): "
            "shorten it"
        )


def chat_question(turns: Sequence[ChatTurn], server: ServerSettings) -> str:
    """The standalone question of a chat, once the chat is within the server's limits."""
    if len(turns) > server.max_chat_messages:
        raise TooLongError(
            f"the chat has {len(turns):,} messages; at most {server.max_chat_messages:,} are "
            "taken (setting server.max_chat_messages): send only the recent turns"
        )
    total = 0
    for n, turn in enumerate(turns, 1):
        if len(turn.content) > server.max_message_chars:
            raise TooLongError(
                f"message {n} is {len(turn.content):,} characters long; at most "
                f"{server.max_message_chars:,} are taken (setting server.max_message_chars): "
                "shorten it"
            )
        total += len(turn.content)
    if total > server.max_chat_chars:
        raise TooLongError(
            f"the chat's messages have {total:,} characters together; at most "
            f"{server.max_chat_chars:,} are taken (setting server.max_chat_chars): "
            "drop the earliest turns"
        )
    question = standalone_question(turns)
    check_question(
        question, server, "the question to answer (the last user message, with the subject "
        "of the one before it when it refers back)",
    )  # fmt: skip
    return question


def answer_events(
    c: Container, metrics: Metrics, question: str, options: AskOptions
) -> Iterator[str | Answer]:
    """The answering stream, with its figures recorded once it is done."""
    pieces = 0
    for event in c.answering.stream(question, options):
        if isinstance(event, Answer):
            record(metrics, event, pieces)
        else:
            pieces += 1
        yield event


def record(metrics: Metrics, answer: Answer, pieces: int) -> None:
    timings = answer.timings_ms
    if "retrieve" in timings:
        metrics.retrieval.observe((timings.get("embed", 0) + timings["retrieve"]) / 1000)
    if "generate" in timings:
        metrics.generation.observe(timings["generate"] / 1000)
        metrics.tokens.inc(pieces)
    metrics.answers.labels(answer.cache, str(answer.abstained).lower()).inc()


def sse(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


async def stream_response(
    threads: AnswerThreads,
    events: Iterator[str | Answer],
    extra: dict[str, object] | None = None,
) -> StreamingResponse:
    """Server-sent events: ``token`` events, then one ``answer`` event with the citations.

    The first event is awaited before the response starts, so an error before any text (an
    unknown collection, a full generation queue) is still a proper HTTP error."""
    source = threads.iterate(events)
    first = await source.__anext__()

    async def body() -> AsyncIterator[str]:
        pending: list[str | Answer] = [first]
        try:
            while True:
                event = pending.pop() if pending else await source.__anext__()
                if isinstance(event, Answer):
                    yield sse("answer", answer_payload(event) | (extra or {}))
                else:
                    yield sse("token", {"text": event})
        except StopAsyncIteration:
            return
        except AskdocsError as exc:
            body = error_body(exc.code, client_message(exc))
            yield sse("error", body | {"status": status_of(exc)})

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def final_answer(events: Iterator[str | Answer]) -> Answer:
    result = None
    for event in events:
        if isinstance(event, Answer):
            result = event
    assert result is not None
    return result


@router.post("/ask", response_model=None, responses=schemas.ok(schemas.AnswerOut, stream=True))
async def ask(
    body: AskRequest,
    c: ContainerDep,
    metrics: MetricsDep,
    threads: ThreadsDep,
    caller: Principal = deps.Reader,
) -> StreamingResponse | JSONResponse:
    """Answer a question from the documents, with numbered citations."""
    check_question(body.question, c.settings.server)
    options = ask_options(caller, body.collection, body.k, generate=body.generate, cache=body.cache)
    events = answer_events(c, metrics, body.question, options)
    if body.stream:
        return await stream_response(threads, events)
    # A plain JSONResponse skips FastAPI's generic encoder: a cache hit is ~1 ms faster.
    return JSONResponse(answer_payload(await threads.run(final_answer, events)))


@router.post("/chat", response_model=None, responses=schemas.ok(schemas.ChatAnswerOut, stream=True))
async def chat(
    body: ChatRequest,
    c: ContainerDep,
    metrics: MetricsDep,
    threads: ThreadsDep,
    caller: Principal = deps.Reader,
) -> StreamingResponse | JSONResponse:
    """Multi-turn: the last user message, rewritten into a standalone question, answered."""
    turns = [ChatTurn(m.role, m.content) for m in body.messages]
    question = chat_question(turns, c.settings.server)
    options = ask_options(caller, body.collection, body.k, generate=True, cache=body.cache)
    events = answer_events(c, metrics, question, options)
    extra: dict[str, object] = {"rewritten_question": question}
    if body.stream:
        return await stream_response(threads, events, extra)
    return JSONResponse(answer_payload(await threads.run(final_answer, events)) | extra)


@router.get(
    "/passages/{chunk_id}", response_model=None, responses=schemas.ok(schemas.PassageContext)
)
def passage(
    chunk_id: str, c: ContainerDep, caller: Principal = deps.Reader, neighbours: int = 1
) -> dict[str, object]:
    """A cited passage with its neighbours and its location in the file."""
    chunks = c.index.passage_context(chunk_id, max(0, min(neighbours, 5)))
    target = next((ch for ch in chunks if ch.chunk_id == chunk_id), None)
    access = c.index.document_access([target.document_id]) if target is not None else {}
    if (
        target is None
        or not caller.allows(target.collection)
        or target.document_id not in access
        or not caller.may_see(access[target.document_id])
    ):
        raise DocumentNotFoundError(
            f"no live passage {chunk_id!r}: its file may have been replaced or deleted"
        )

    def shown(ch: Chunk) -> dict[str, object]:
        body = passage_payload(Passage(ch, 0.0), 0)
        body.pop("n")
        body.pop("score")
        return body

    return {
        "passage": shown(target),
        "before": [shown(ch) for ch in chunks if ch.ordinal < target.ordinal],
        "after": [shown(ch) for ch in chunks if ch.ordinal > target.ordinal],
        "collection": target.collection,
        "content_url": f"/v1/files/{target.document_id}/content",
    }
