"""Derived indexes (keyword + vector), caught up from the Delta tables and rebuildable."""

from askdocs.index.store import PassageIndex, SyncResult

__all__ = ["PassageIndex", "SyncResult"]
