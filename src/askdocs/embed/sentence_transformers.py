"""Any sentence-transformers model (optional extra `askdocs[torch]`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from askdocs.embed.base import Vectors, normalise
from askdocs.errors import ModelNotAvailableError


class SentenceTransformerEmbedder:
    """Embeds with a local or downloadable sentence-transformers model."""

    def __init__(self, model: str, *, batch_size: int = 32, device: str | None = None) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ModelNotAvailableError(
                "the sentence-transformers backend needs the torch extra: "
                "pip install 'askdocs[torch]'"
            ) from exc
        self._model: Any = SentenceTransformer(model, device=device)
        self.model_id = f"st:{model}"
        self.dimension = int(self._model.get_embedding_dimension() or 0)
        self.max_tokens = int(self._model.max_seq_length or 0) - 2
        self._batch_size = batch_size

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        encoded = self._model.tokenizer(
            text, add_special_tokens=False, return_offsets_mapping=True, truncation=False
        )
        return [(int(s), int(e)) for s, e in encoded["offset_mapping"]]

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            list(texts), batch_size=self._batch_size, convert_to_numpy=True
        )
        return normalise(vectors)
