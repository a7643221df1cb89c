"""What every request passes before a route reads its body: without API keys, only loopback
callers and loopback names; with them, a valid key within its rate on /v1; and a bound on the
body's bytes, by Content-Length up front and counted as a chunked body streams in.

Pure ASGI, so nothing here reads or buffers a body: a 200 MB body without a key is refused
after its headers, and one over the limit is cut off at the limit, never parsed.
"""

from __future__ import annotations

import ipaddress
import json
import re
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from askdocs.access.keys import Principal
from askdocs.api.deps import PRINCIPAL_HEADER, RateLimiter, authenticate
from askdocs.api.errors import error_body, error_response
from askdocs.container import Container
from askdocs.errors import AskdocsError
from askdocs.settings import ServerSettings

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
# The routes that take multipart uploads; /v1/chat* take whole conversations.
_UPLOAD = re.compile(r"^/v1/files(/[^/]+)?/?$")
_CHAT = re.compile(r"^/v1/chat(/completions)?/?$")
# Room for the multipart framing and form fields around the files' own bytes.
_MULTIPART_SLACK = 1024 * 1024


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, without a port) is this machine."""
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def body_limit(method: str, path: str, server: ServerSettings) -> tuple[int, str]:
    """The most bytes a request's body may have, and the setting that says so."""
    if method in ("POST", "PUT") and _UPLOAD.match(path):
        return server.max_upload_total_bytes + _MULTIPART_SLACK, "server.max_upload_total_bytes"
    if _CHAT.match(path):
        return server.max_chat_bytes, "server.max_chat_bytes"
    return server.max_json_bytes, "server.max_json_bytes"


class BodyTooLargeError(HTTPException):
    """Raised from ``receive`` inside a route, so the app's error mapping answers 413."""

    def __init__(self, limit: int, setting: str) -> None:
        super().__init__(
            413,
            f"the request body is larger than {limit:,} bytes (setting {setting}): "
            "send less in one request",
            headers={"Connection": "close"},
        )


class RequestGuard:
    """The checks above, as ASGI middleware inside the request-id and metrics middleware."""

    def __init__(self, app: ASGIApp, container: Container, rate_limiter: RateLimiter) -> None:
        self.app = app
        self.container = container
        self.rate_limiter = rate_limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        server = self.container.settings.server
        headers = Headers(scope=scope)
        # A refusal before the body is read closes the connection: the rest of an unread body
        # is not worth receiving.
        close = {"connection": "close"} if _has_body(headers) else {}
        if not server.auth:
            refusal = _loopback_refusal(scope, headers)
            if refusal is not None:
                await _respond(send, 403, error_body("forbidden", refusal), close)
                return
        limit, setting = body_limit(scope["method"], scope["path"], server)
        if _declared_length(headers) > limit:
            error = BodyTooLargeError(limit, setting)
            body = error_body("payload_too_large", str(error.detail))
            await _respond(send, 413, body, {"connection": "close"})
            return
        if server.auth and scope["path"].startswith("/v1/"):
            # The key before the body: a caller without one never gets a byte read.
            try:
                caller = self._check_key(headers)
            except AskdocsError as exc:
                response = error_response(exc)
                response.headers.update(close)
                await response(scope, receive, send)
                return
            scope.setdefault("state", {})["principal"] = caller
        await self._call_limited(scope, receive, send, limit, setting)

    def _check_key(self, headers: Headers) -> Principal:
        caller = authenticate(
            self.container, headers.get("authorization", ""), headers.get(PRINCIPAL_HEADER)
        )
        self.rate_limiter.check(caller.key_id)
        return caller

    async def _call_limited(
        self, scope: Scope, receive: Receive, send: Send, limit: int, setting: str
    ) -> None:
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError(limit, setting)  # and never read on
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLargeError as exc:  # raised where no route's error mapping caught it
            if started:
                raise
            body = error_body("payload_too_large", str(exc.detail))
            await _respond(send, 413, body, {"connection": "close"})


def _has_body(headers: Headers) -> bool:
    return _declared_length(headers) > 0 or "transfer-encoding" in headers


def _declared_length(headers: Headers) -> int:
    value = headers.get("content-length", "")
    return int(value) if value.isdigit() else 0


def _loopback_refusal(scope: Scope, headers: Headers) -> str | None:
    """Why a request may not be served without API keys, or None if it may.

    The caller must be this machine, and the request must name it: a page on another site
    that makes the browser call 127.0.0.1 sends its own Origin, and a DNS-rebinding attack
    (evil.example resolving to 127.0.0.1) sends Host: evil.example."""
    client = scope.get("client")
    if client and not is_loopback(str(client[0])):
        return (
            "this server runs without API keys and answers only this machine: "
            "turn auth on (server.auth) to serve other machines"
        )
    host = _hostname(f"//{headers.get('host', '')}")
    if not is_loopback(host):
        return (
            f"this server runs without API keys and answers only requests addressed to "
            f"127.0.0.1, localhost or [::1], not Host {host!r}: open it by that address"
        )
    origin = headers.get("origin")
    if origin is not None:
        scheme = origin.partition("://")[0]
        if scheme not in ("http", "https") or not is_loopback(_hostname(origin)):
            return (
                f"this server runs without API keys and accepts no requests from pages on "
                f"other sites (Origin {origin[:100]!r}): open the UI from the server itself"
            )
    return None


def _hostname(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:  # a malformed address names no host
        return ""


async def _respond(
    send: Send, status: int, body: object, extra: dict[str, str] | None = None
) -> None:
    payload = json.dumps(body, separators=(",", ":")).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
