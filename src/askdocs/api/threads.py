"""A thread pool of its own for answering, so askers waiting for a generation slot never hold
the threads every other route runs on.

A generation waits for its slot (generate/gate.py) inside the thread that runs the answer. In
the shared pool (40 threads) 40 waiting askers would leave /v1/files, /v1/jobs and every other
sync route with none. This pool has a thread for every generation the gate lets run or wait,
plus a few for answers that need no slot (cache hits, retrieval only); askers beyond it wait
for a thread without holding one, and the gate refuses the ones past its queue with 503.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")
# Threads for answers that never wait for a generation slot.
SPARE_THREADS = 8


class _Exhausted(Exception):
    """StopIteration cannot cross a thread boundary into a coroutine."""


def _next(iterator: Iterator[T]) -> T:
    try:
        return next(iterator)
    except StopIteration:
        raise _Exhausted from None


class AnswerThreads:
    def __init__(self, generation_concurrency: int, generation_queue: int) -> None:
        size = max(1, generation_concurrency) + max(0, generation_queue) + SPARE_THREADS
        self.limiter = anyio.CapacityLimiter(size)

    async def run(self, function: Callable[..., T], *args: object) -> T:
        return await anyio.to_thread.run_sync(function, *args, limiter=self.limiter)

    async def iterate(self, iterable: Iterable[T]) -> AsyncIterator[T]:
        """``iterable``'s items, each taken in this pool."""
        iterator = iter(iterable)
        while True:
            try:
                yield await anyio.to_thread.run_sync(_next, iterator, limiter=self.limiter)
            except _Exhausted:
                return
