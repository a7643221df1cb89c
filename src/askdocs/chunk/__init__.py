"""Chunking: structure-aware passages bounded by the embedder's own token limit."""

from askdocs.chunk.chunker import ChunkSpan, chunk_document, embedding_text

__all__ = ["ChunkSpan", "chunk_document", "embedding_text"]
