"""Embedding cache in SQLite: one vector per (model, text sha256), shared by all documents,
plus a bounded least-recently-used table of question vectors (models named "query:...")."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from askdocs.cache.base import EMBEDDING_LAYERS, QUERY_PREFIX, CacheStats, cache_stats
from askdocs.cache.sqlite import CacheFile
from askdocs.embed.base import Vectors

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
  model TEXT NOT NULL, sha256 TEXT NOT NULL, vector BLOB NOT NULL, PRIMARY KEY (model, sha256)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS queries (
  model TEXT NOT NULL, sha256 TEXT NOT NULL, vector BLOB NOT NULL, last_used REAL NOT NULL,
  PRIMARY KEY (model, sha256)
);
CREATE INDEX IF NOT EXISTS queries_last_used ON queries (last_used);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
"""
_BUMP = (
    "INSERT INTO counters (name, value) VALUES (?, ?)"
    " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value"
)
_BATCH = 500


class SqliteEmbeddingCache:
    """Vectors by (model id, text sha256); WAL mode, so several processes can share it."""

    backend = "sqlite"

    def __init__(self, path: Path, *, max_query_entries: int = 50_000) -> None:
        self._file = CacheFile(path, _SCHEMA, version=1)
        self._max_queries = max_query_entries

    @property
    def path(self) -> Path:
        return self._file.path

    def get_many(self, model: str, digests: Sequence[str]) -> dict[str, Vectors]:
        table = _table(model)

        def read(db: sqlite3.Connection) -> dict[str, Vectors]:
            found: dict[str, Vectors] = {}
            for start in range(0, len(digests), _BATCH):
                part = list(digests[start : start + _BATCH])
                rows = db.execute(
                    f"SELECT sha256, vector FROM {table} WHERE model = ? AND sha256 IN"
                    f" ({','.join('?' * len(part))})",
                    [model, *part],
                )
                for digest, blob in rows:
                    found[digest] = np.frombuffer(blob, dtype=np.float32)
            layer = _layer(model)
            db.execute("BEGIN IMMEDIATE")
            if table == "queries" and found:
                db.executemany(
                    "UPDATE queries SET last_used = ? WHERE model = ? AND sha256 = ?",
                    [(time.time(), model, d) for d in found],
                )
            db.executemany(
                _BUMP,
                [(f"{layer}:hits", len(found)), (f"{layer}:misses", len(digests) - len(found))],
            )
            db.execute("COMMIT")
            return found

        return self._file.run(read, {}) if digests else {}

    def put_many(self, model: str, items: dict[str, Vectors]) -> None:
        if not items:
            return
        table = _table(model)
        rows = [(model, d, np.asarray(v, dtype=np.float32).tobytes()) for d, v in items.items()]

        def write(db: sqlite3.Connection) -> None:
            db.execute("BEGIN IMMEDIATE")
            if table == "queries":
                now = time.time()
                db.executemany(
                    "INSERT OR REPLACE INTO queries (model, sha256, vector, last_used)"
                    " VALUES (?, ?, ?, ?)",
                    [(*row, now) for row in rows],
                )
                self._evict_queries(db)
            else:
                db.executemany(
                    "INSERT OR REPLACE INTO embeddings (model, sha256, vector) VALUES (?, ?, ?)",
                    rows,
                )
            db.execute("COMMIT")

        self._file.run(write, None)

    def count(self) -> int:
        return self._file.run(
            lambda db: int(
                db.execute(
                    "SELECT (SELECT count(*) FROM embeddings) + (SELECT count(*) FROM queries)"
                ).fetchone()[0]
            ),
            0,
        )

    def stats(self) -> CacheStats:
        health = self._file.health

        def read(db: sqlite3.Connection) -> tuple[int, int, dict[str, int]]:
            pending = health.take_pending()
            if pending:
                db.executemany(_BUMP, [(f"health:{k}", v) for k, v in pending.items()])
            entries = size = 0
            for table in ("embeddings", "queries"):
                n, b = db.execute(f"SELECT count(*), total(length(vector)) FROM {table}").fetchone()
                entries, size = entries + int(n), size + int(b)
            return entries, size, dict(db.execute("SELECT name, value FROM counters").fetchall())

        return cache_stats(
            "sqlite", str(self.path), self._file.run(read, None), EMBEDDING_LAYERS, health
        )

    def close(self) -> None:
        self._file.close()

    def clear(self, *, queries_only: bool = False, reset_stats: bool = False) -> int:
        def wipe(db: sqlite3.Connection) -> int:
            db.execute("BEGIN IMMEDIATE")
            n = db.execute("DELETE FROM queries").rowcount
            if not queries_only:
                n += db.execute("DELETE FROM embeddings").rowcount
            if reset_stats:
                db.execute("DELETE FROM counters")
            db.execute("COMMIT")
            return int(n)

        return self._file.run(wipe, 0)

    def _evict_queries(self, db: sqlite3.Connection) -> None:
        over = int(db.execute("SELECT count(*) FROM queries").fetchone()[0]) - self._max_queries
        if over > 0:
            dropped = db.execute(
                "DELETE FROM queries WHERE rowid IN"
                " (SELECT rowid FROM queries ORDER BY last_used LIMIT ?)",
                (over,),
            ).rowcount
            db.execute(_BUMP, ("queries:evictions", dropped))


def _table(model: str) -> str:
    return "queries" if model.startswith(QUERY_PREFIX) else "embeddings"


def _layer(model: str) -> str:
    return "queries" if model.startswith(QUERY_PREFIX) else "embeddings"
