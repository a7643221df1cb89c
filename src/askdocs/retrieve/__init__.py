"""Retrieval: hybrid keyword + vector search with fusion, over the live passages."""

from askdocs.retrieve.hybrid import HybridRetriever, Retrieval, query_terms

__all__ = ["HybridRetriever", "Retrieval", "query_terms"]
