"""The Embedder protocol: texts in, L2-normalised float32 vectors out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    """An embedding model with its own tokenizer, so chunks can be sized to its limit."""

    model_id: str
    dimension: int
    # Word pieces the model reads, special tokens excluded; the rest would be cut off.
    max_tokens: int

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character span of each token of ``text`` (special tokens excluded)."""
        ...

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One normalised row per text."""
        ...


def normalise(vectors: npt.NDArray[np.floating]) -> Vectors:
    """Scale rows to unit length (zero rows stay zero)."""
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    out: Vectors = (v / np.maximum(norms, 1e-12)).astype(np.float32)
    return out
