"""Answer cache in SQLite: an answer is served again only while the passages it was generated
from are unchanged, and only in the scope it was asked in.

Each entry keeps the passages that went into its prompt as (document id, text sha256) pairs
and the index versions it was last checked against. When the index has not moved the entry is
served at once; when it has, the caller re-runs retrieval (cheap) and serves the entry only if
the prompt would get the same passages. Deleting or replacing a document purges every entry
that quoted it, so its text does not live on in the cache. Entries are bounded by count and
bytes (least recently used go first) and optionally by age.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from askdocs.cache.base import (
    ANSWER_LAYERS,
    CachedAnswer,
    CacheStats,
    Layer,
    PassageKey,
    cache_stats,
)
from askdocs.cache.keys import cache_key, normalise_question, passage_keys
from askdocs.cache.records import (
    decode_entry,
    encode_answer,
    encode_passages,
    encode_versions,
    entry_size,
)
from askdocs.cache.semantic import ScopeVectors
from askdocs.cache.sqlite import CacheFile
from askdocs.embed.base import Vectors
from askdocs.models import Answer

__all__ = [
    "CachedAnswer",
    "PassageKey",
    "SqliteAnswerCache",
    "cache_key",
    "normalise_question",
    "passage_keys",
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
  key TEXT PRIMARY KEY,
  scope TEXT NOT NULL,
  answer TEXT NOT NULL,
  passages TEXT NOT NULL,
  versions TEXT NOT NULL,
  size INTEGER NOT NULL,
  created REAL NOT NULL,
  last_used REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS answers_last_used ON answers (last_used);
CREATE INDEX IF NOT EXISTS answers_created ON answers (created);
-- Columns in primary key order: SQLite 3.40's quick_check misreads the other order.
CREATE TABLE IF NOT EXISTS answer_documents (
  document_id TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (document_id, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS answer_documents_key ON answer_documents (key);
CREATE TABLE IF NOT EXISTS answer_vectors (
  key TEXT PRIMARY KEY, scope TEXT NOT NULL, vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS answer_vectors_scope ON answer_vectors (scope);
-- A new random token on every change to a scope's vectors: processes reload their copy then.
CREATE TABLE IF NOT EXISTS vector_versions (scope TEXT PRIMARY KEY, version TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
"""
_SCHEMA_VERSION = 3
_BUMP = (
    "INSERT INTO counters (name, value) VALUES (?, ?)"
    " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value"
)


class SqliteAnswerCache:
    """Bounded answer cache in the data dir; WAL, so server workers can share it."""

    backend = "sqlite"

    def __init__(
        self,
        path: Path,
        *,
        max_entries: int = 10_000,
        max_bytes: int = 256 * 1024 * 1024,
        ttl_seconds: float | None = None,
    ) -> None:
        self._file = CacheFile(path, _SCHEMA, version=_SCHEMA_VERSION, reset_on_upgrade=True)
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._ttl = ttl_seconds
        self._vectors = ScopeVectors()

    @property
    def path(self) -> Path:
        return self._file.path

    def get(self, key: str) -> CachedAnswer | None:
        row = self._file.run(
            lambda db: db.execute(
                "SELECT answer, passages, versions, created FROM answers WHERE key = ?", (key,)
            ).fetchone(),
            None,
        )
        if row is None:
            return None
        if self._ttl is not None and row[3] < time.time() - self._ttl:
            self._file.run(lambda db: self._drop_expired(db, [key]), None)
            return None
        return decode_entry(row[0], row[1], row[2])

    def put(
        self,
        key: str,
        answer: Answer,
        passages: list[PassageKey],
        versions: tuple[int, int],
        *,
        scope: str = "",
        vector: Vectors | None = None,
    ) -> None:
        answer_json, passages_json = encode_answer(answer), encode_passages(passages)
        blob = None if vector is None else np.asarray(vector, dtype=np.float32).tobytes()
        size = entry_size(key, answer_json, passages_json, len(blob or b""))

        def write(db: sqlite3.Connection) -> None:
            now = time.time()
            db.execute("BEGIN IMMEDIATE")
            _delete(db, [key])
            db.execute(
                "INSERT INTO answers (key, scope, answer, passages, versions, size, created,"
                " last_used) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (key, scope, answer_json, passages_json, encode_versions(versions), size, now, now),
            )
            db.executemany(
                "INSERT OR IGNORE INTO answer_documents (key, document_id) VALUES (?, ?)",
                [(key, doc) for doc in sorted({d for d, _ in passages})],
            )
            if blob is not None:
                db.execute(
                    "INSERT INTO answer_vectors (key, scope, vector) VALUES (?, ?, ?)",
                    (key, scope, blob),
                )
                _bump_versions(db, [scope])
            if self._ttl is not None:
                old = db.execute(
                    "SELECT key FROM answers WHERE created < ?", (now - self._ttl,)
                ).fetchall()
                self._drop_expired(db, [k for (k,) in old], in_transaction=True)
            self._evict(db)
            db.execute("COMMIT")

        self._file.run(write, None)

    def touch(self, key: str, versions: tuple[int, int], *, layer: Layer = "exact") -> None:
        def write(db: sqlite3.Connection) -> None:
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "UPDATE answers SET last_used = ?, versions = ? WHERE key = ?",
                (time.time(), encode_versions(versions), key),
            )
            db.execute(_BUMP, (f"{layer}:hits", 1))
            db.execute("COMMIT")

        self._file.run(write, None)

    def similar(
        self, scope: str, vector: Vectors, threshold: float, limit: int = 3
    ) -> list[tuple[str, float]]:
        def search(db: sqlite3.Connection) -> list[tuple[str, float]]:
            row = db.execute("SELECT version FROM vector_versions WHERE scope = ?", (scope,))
            version = (row.fetchone() or (None,))[0]

            def load() -> list[tuple[str, bytes]]:
                query = "SELECT key, vector FROM answer_vectors WHERE scope = ?"
                return db.execute(query, (scope,)).fetchall()

            return self._vectors.search(scope, version, load, vector, threshold, limit)

        return self._file.run(search, [])

    def record(self, counts: Mapping[str, int]) -> None:
        def write(db: sqlite3.Connection) -> None:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(_BUMP, [(name, n) for name, n in counts.items() if n])
            db.execute("COMMIT")

        if any(counts.values()):
            self._file.run(write, None)

    def purge_documents(self, document_ids: Sequence[str]) -> int:
        if not document_ids:
            return 0

        def purge(db: sqlite3.Connection) -> int:
            marks = ",".join("?" * len(document_ids))
            db.execute("BEGIN IMMEDIATE")
            keys = [
                r[0]
                for r in db.execute(
                    f"SELECT DISTINCT key FROM answer_documents WHERE document_id IN ({marks})",
                    list(document_ids),
                )
            ]
            _delete(db, keys)
            db.execute("COMMIT")
            return len(keys)

        return self._file.run(purge, 0)

    def count(self) -> int:
        return self._file.run(
            lambda db: int(db.execute("SELECT count(*) FROM answers").fetchone()[0]), 0
        )

    def stats(self) -> CacheStats:
        health = self._file.health
        pending = health.take_pending()
        if pending:
            self.record({f"health:{k}": v for k, v in pending.items()})

        def read(db: sqlite3.Connection) -> tuple[int, int, dict[str, int]]:
            entries, size = db.execute("SELECT count(*), total(size) FROM answers").fetchone()
            counters = dict(db.execute("SELECT name, value FROM counters").fetchall())
            return int(entries), int(size), counters

        return cache_stats(
            "sqlite", str(self.path), self._file.run(read, None), ANSWER_LAYERS, health
        )

    def close(self) -> None:
        self._file.close()

    def clear(self, *, reset_stats: bool = False) -> int:
        def wipe(db: sqlite3.Connection) -> int:
            db.execute("BEGIN IMMEDIATE")
            n = int(db.execute("SELECT count(*) FROM answers").fetchone()[0])
            for table in ("answers", "answer_documents", "answer_vectors", "vector_versions"):
                db.execute(f"DELETE FROM {table}")
            if reset_stats:
                db.execute("DELETE FROM counters")
            db.execute("COMMIT")
            return n

        return self._file.run(wipe, 0)

    # -- bounds -----------------------------------------------------------------------------

    def _drop_expired(
        self, db: sqlite3.Connection, keys: list[str], *, in_transaction: bool = False
    ) -> None:
        if not keys:
            return
        if not in_transaction:
            db.execute("BEGIN IMMEDIATE")
        # Another process may have replaced the entry since it was read: only old rows go.
        if self._ttl is not None:
            cutoff = time.time() - self._ttl
            keys = [
                k
                for k in keys
                if db.execute(
                    "SELECT 1 FROM answers WHERE key = ? AND created < ?", (k, cutoff)
                ).fetchone()
            ]
        _, dropped = _delete(db, keys)
        db.execute(_BUMP, ("exact:expired", dropped))
        if not in_transaction:
            db.execute("COMMIT")

    def _evict(self, db: sqlite3.Connection) -> None:
        entries, size = db.execute("SELECT count(*), total(size) FROM answers").fetchone()
        entries, size = int(entries), int(size)
        if entries <= self._max_entries and size <= self._max_bytes:
            return
        victims: list[str] = []
        for key, row_size in db.execute("SELECT key, size FROM answers ORDER BY last_used, key"):
            if entries <= self._max_entries and size <= self._max_bytes:
                break
            victims.append(key)
            entries, size = entries - 1, size - int(row_size)
        with_vectors, dropped = _delete(db, victims)
        db.executemany(_BUMP, [("exact:evictions", dropped), ("semantic:evictions", with_vectors)])


def _delete(db: sqlite3.Connection, keys: Sequence[str]) -> tuple[int, int]:
    """Remove entries everywhere; returns (how many had a question vector, how many existed)."""
    existed = 0
    scopes: list[str] = []
    for key in keys:
        existed += db.execute("DELETE FROM answers WHERE key = ?", (key,)).rowcount
        db.execute("DELETE FROM answer_documents WHERE key = ?", (key,))
        found = db.execute("DELETE FROM answer_vectors WHERE key = ? RETURNING scope", (key,))
        scopes.extend(r[0] for r in found.fetchall())
    _bump_versions(db, scopes)
    return len(scopes), existed


def _bump_versions(db: sqlite3.Connection, scopes: Sequence[str]) -> None:
    db.executemany(
        "INSERT INTO vector_versions (scope, version) VALUES (?, ?)"
        " ON CONFLICT (scope) DO UPDATE SET version = excluded.version",
        [(scope, os.urandom(8).hex()) for scope in set(scopes)],
    )
