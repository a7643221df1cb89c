"""Embedders: the protocol and its backends, built from settings."""

from __future__ import annotations

from askdocs.embed.base import Embedder, Vectors, normalise
from askdocs.settings import EmbedSettings

__all__ = ["Embedder", "Vectors", "build_embedder", "normalise"]


def build_embedder(settings: EmbedSettings) -> Embedder:
    """The embedder the settings name; backends import lazily."""
    if settings.backend == "sentence-transformers":
        from askdocs.embed.sentence_transformers import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder(settings.st_model, batch_size=settings.batch_size)
    from askdocs.embed.onnx import OnnxEmbedder

    return OnnxEmbedder(
        settings.onnx_path,
        settings.tokenizer_path,
        model_id=settings.model_id,
        max_tokens=settings.max_tokens,
        batch_size=settings.batch_size,
        threads=settings.threads,
    )
