"""The one error mapping of the HTTP API: every error is ``{"error": {"code", "message"}}``
with the right status, and no stack trace ever reaches a client."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from askdocs.api.observability import request_id_var
from askdocs.errors import AskdocsError, OverloadedError

log = logging.getLogger("askdocs.api")

_STATUS = {
    "invalid_request": 400,
    "configuration_error": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "embedding_model_mismatch": 409,
    "payload_too_large": 413,
    "quota_exceeded": 413,
    "unsupported_file_type": 415,
    "parse_error": 422,
    "too_long": 422,
    "rate_limited": 429,
    "overloaded": 503,
    "generation_error": 503,
    "model_not_available": 503,
}

_HTTP_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_file_type",
    422: "invalid_request",
    429: "rate_limited",
    503: "unavailable",
}


# Errors about the server rather than the request: their text can hold a generator's URL, the
# error body it sent, a model's path. The client gets a fixed message and the request id; the
# log gets the text.
_SERVER_SIDE = {
    "generation_error": "the answer generator failed or could not be reached: retry later",
    "model_not_available": "a model this server needs is not available",
    "configuration_error": "the server is misconfigured",
}


class ApiError(AskdocsError):
    """An error raised by a route, with its code chosen there."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def status_of(exc: AskdocsError) -> int:
    return _STATUS.get(exc.code, 400)


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


def client_message(exc: AskdocsError) -> str:
    """What a client is told about ``exc``: its message, unless it is about the server."""
    fixed = _SERVER_SIDE.get(exc.code)
    if fixed is None:
        return str(exc)
    request_id = request_id_var.get()
    log.warning("%s: %s", exc.code, exc, extra={"request_id": request_id})
    return f"{fixed} (request id {request_id}; the server log says why)"


def error_response(exc: AskdocsError) -> JSONResponse:
    headers = {}
    if isinstance(exc, OverloadedError):
        headers["Retry-After"] = str(exc.retry_after)
    if exc.code == "unauthorized":
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(error_body(exc.code, client_message(exc)), status_of(exc), headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(AskdocsError)
    async def domain_error(request: Request, exc: AskdocsError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return JSONResponse(error_body(code, message), exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: {e['msg']}"
            for e in exc.errors()
        )
        return JSONResponse(error_body("invalid_request", problems or "invalid request"), 422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = getattr(request.state, "request_id", "-")
        log.exception("unhandled error", extra={"request_id": request_id})
        return JSONResponse(
            error_body("internal_error", f"internal error; quote request id {request_id}"), 500
        )
