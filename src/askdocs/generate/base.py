"""The Generator protocol: a chat model that streams text and counts its own tokens."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message; ``role`` is ``system``, ``user`` or ``assistant``."""

    role: str
    content: str


class Generator(Protocol):
    """A chat model backend.

    ``context_tokens`` is the window the prompt plus the answer must fit in;
    ``count_tokens`` must never undercount, since prompt building trusts it to avoid overflow.
    """

    model_id: str
    context_tokens: int

    def count_tokens(self, text: str) -> int: ...

    def stream(
        self, messages: Sequence[Message], *, max_tokens: int, temperature: float
    ) -> Iterator[str]:
        """Yield the answer's text pieces as the model produces them."""
        ...
