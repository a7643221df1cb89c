"""Bounded generation: at most N generations at once, at most Q waiting, the rest refused.

llama.cpp uses every core for one generation, so running many at once only makes each slower;
a bounded queue keeps latency predictable and a full one answers at once with "retry later"
instead of piling up threads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

from askdocs.errors import OverloadedError
from askdocs.generate.base import Generator, Message


class GenerationGate:
    def __init__(self, concurrency: int, queue: int) -> None:
        self._slots = threading.BoundedSemaphore(max(1, concurrency))
        self._queue = max(0, queue)
        self._lock = threading.Lock()
        self.waiting = 0
        self.running = 0

    def enter(self) -> None:
        with self._lock:
            if not self._slots.acquire(blocking=False):
                if self.waiting >= self._queue:
                    raise OverloadedError(
                        f"{self.running} generation(s) running and {self.waiting} waiting: "
                        "retry in a few seconds",
                        retry_after=5,
                    )
                self.waiting += 1
                acquired = False
            else:
                acquired = True
        if not acquired:
            try:
                self._slots.acquire()
            finally:
                with self._lock:
                    self.waiting -= 1
        with self._lock:
            self.running += 1

    def leave(self) -> None:
        with self._lock:
            self.running -= 1
        self._slots.release()


class GatedGenerator:
    """A Generator whose streams pass through a GenerationGate."""

    def __init__(self, inner: Generator, gate: GenerationGate) -> None:
        self.inner = inner
        self.gate = gate
        self.model_id = inner.model_id
        self.context_tokens = inner.context_tokens

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def stream(
        self, messages: Sequence[Message], *, max_tokens: int, temperature: float
    ) -> Iterator[str]:
        self.gate.enter()
        try:
            yield from self.inner.stream(messages, max_tokens=max_tokens, temperature=temperature)
        finally:
            self.gate.leave()
