"""OpenAICompatGenerator: any server speaking the OpenAI chat completions API, streamed."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import httpx

from askdocs.errors import GenerationError
from askdocs.generate.base import Message

_MAX_ERROR_CHARS = 500


class OpenAICompatGenerator:
    """Streams chat completions from an OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp
    server, Azure OpenAI, Databricks serving).

    ``base_url`` is the API root, such as ``http://localhost:8000/v1``. The server's tokenizer is
    unknown here, so ``count_tokens`` over-estimates rather than risk overflowing its context.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        context_tokens: int = 8192,
        timeout_s: float = 120,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.model_id = model
        self.context_tokens = context_tokens
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout_s, transport=transport, headers=headers)

    def close(self) -> None:
        """Close the pooled HTTP connections."""
        self._client.close()

    def count_tokens(self, text: str) -> int:
        """Over-estimate: ~3 characters per token for ASCII, one token per other character."""
        ascii_chars = sum(1 for c in text if c < "\x80")
        return ascii_chars // 3 + (len(text) - ascii_chars) + 1

    def stream(
        self, messages: Sequence[Message], *, max_tokens: int, temperature: float
    ) -> Iterator[str]:
        """Yield the answer's text pieces as the server sends them."""
        url = f"{self.base_url}/chat/completions"
        body = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
        }
        try:
            with self._client.stream("POST", url, json=body) as response:
                if response.status_code >= 400:
                    response.read()
                    raise GenerationError(
                        f"The generator at {url} answered HTTP {response.status_code}: "
                        f"{_error_message(response)}"
                    )
                if response.headers.get("content-type", "").startswith("application/json"):
                    # A server that ignores "stream" answers with one JSON completion.
                    response.read()
                    yield from _contents(_parse_json(response.text, url), url)
                    return
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue  # blank separators, ": keep-alive" comments, "event:" lines
                    data = line[len("data:") :].strip()
                    if data == "[DONE]":
                        return
                    yield from _contents(_parse_json(data, url), url)
        except httpx.TimeoutException as exc:
            raise GenerationError(
                f"The generator at {url} did not answer in time ({type(exc).__name__}); "
                "check the server or raise the timeout setting."
            ) from exc
        except httpx.HTTPError as exc:
            raise GenerationError(
                f"Could not reach the generator at {url}: {str(exc) or type(exc).__name__}; "
                "check the base URL and that the server is running."
            ) from exc


def _parse_json(data: str, url: str) -> Any:
    try:
        return json.loads(data)
    except json.JSONDecodeError as exc:
        raise GenerationError(
            f"The generator at {url} sent something that is not JSON: {data[:_MAX_ERROR_CHARS]!r}"
        ) from exc


def _contents(event: Any, url: str) -> Iterator[str]:
    """Text pieces of one streamed chunk (``delta``) or one whole completion (``message``)."""
    if not isinstance(event, dict):
        raise GenerationError(f"The generator at {url} sent an unexpected event: {event!r:.200}")
    if "error" in event:
        raise GenerationError(f"The generator at {url} reported: {_describe(event['error'])}")
    for choice in event.get("choices") or []:
        part = choice.get("delta") or choice.get("message") or {}
        content = part.get("content")
        if content:
            yield str(content)


def _error_message(response: httpx.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:_MAX_ERROR_CHARS] or response.reason_phrase
    if isinstance(payload, dict):
        for key in ("error", "detail", "message"):
            if key in payload:
                return _describe(payload[key])
    return str(payload)[:_MAX_ERROR_CHARS]


def _describe(error: Any) -> str:
    if isinstance(error, dict) and "message" in error:
        return str(error["message"])[:_MAX_ERROR_CHARS]
    return str(error)[:_MAX_ERROR_CHARS]
