"""What routes get injected: the container, the metrics, and the caller's key."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Awaitable, Callable

from fastapi import Depends, Request

from askdocs.access.keys import ANONYMOUS_ADMIN, Principal
from askdocs.api.observability import Metrics
from askdocs.api.threads import AnswerThreads
from askdocs.container import Container
from askdocs.errors import RateLimitedError

# The dependencies are async on purpose: FastAPI runs sync ones in the thread pool, a hop that
# costs more than what they do (a key lookup is one indexed SQLite read).


async def container(request: Request) -> Container:
    found: Container = request.app.state.container
    return found


async def metrics(request: Request) -> Metrics:
    found: Metrics = request.app.state.metrics
    return found


async def answer_threads(request: Request) -> AnswerThreads:
    found: AnswerThreads = request.app.state.answer_threads
    return found


# A front end that authenticates its own users names, with an admin key, whom it asks for.
PRINCIPAL_HEADER = "x-askdocs-principal"


def authenticate(
    app_container: Container, authorization: str, acting_for: str | None = None
) -> Principal:
    """The caller of a request with this Authorization header (anyone, with auth off), acting
    for the principals of the X-Askdocs-Principal header when it has one (admin keys only)."""
    if not app_container.settings.server.auth:
        caller = ANONYMOUS_ADMIN
    else:
        scheme, _, token = authorization.partition(" ")
        secret = token.strip() if scheme.lower() == "bearer" else None
        caller = app_container.keys.verify(secret)
    return caller if acting_for is None else caller.acting_for(acting_for)


async def principal(request: Request) -> Principal:
    """The caller, checked once a request: the guard middleware checks /v1 routes before their
    body is read; other routes (/metrics) are checked here."""
    checked: Principal | None = getattr(request.state, "principal", None)
    if checked is not None:
        return checked
    app_container: Container = request.app.state.container
    caller = authenticate(
        app_container,
        request.headers.get("authorization", ""),
        request.headers.get(PRINCIPAL_HEADER),
    )
    limiter: RateLimiter = request.app.state.rate_limiter
    limiter.check(caller.key_id)
    request.state.principal = caller
    return caller


class RateLimiter:
    """A token bucket per key: ``per_minute`` requests a minute, bursts up to that many."""

    def __init__(self, per_minute: int) -> None:
        self._rate = per_minute / 60.0
        self._capacity = float(per_minute)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, key_id: str) -> None:
        if self._rate <= 0:
            return
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (self._capacity, now))
            tokens = min(self._capacity, tokens + (now - last) * self._rate)
            if tokens < 1:
                self._buckets[key_id] = (tokens, now)
                wait = math.ceil((1 - tokens) / self._rate)
                raise RateLimitedError(
                    f"more than {int(self._capacity)} requests a minute with this key: "
                    f"retry in {wait} s",
                    retry_after=wait,
                )
            self._buckets[key_id] = (tokens - 1, now)


def requires(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller's key, checked to have ``scope`` or higher, within its rate."""

    async def check(caller: Principal = Depends(principal)) -> Principal:  # noqa: B008
        caller.require(scope)
        return caller

    return check


Reader = Depends(requires("read"))
Writer = Depends(requires("write"))
Admin = Depends(requires("admin"))
