"""Embedding cache in SQLite: one vector per (model, text sha256), shared by all documents."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from askdocs.embed.base import Vectors


class SqliteEmbeddingCache:
    """Vectors by (model id, text sha256); WAL mode, so several processes can share it."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._local = threading.local()
        self._db().execute(
            "CREATE TABLE IF NOT EXISTS embeddings (model TEXT NOT NULL, sha256 TEXT NOT NULL,"
            " vector BLOB NOT NULL, PRIMARY KEY (model, sha256)) WITHOUT ROWID"
        )

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self._path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    def get_many(self, model: str, digests: Sequence[str]) -> dict[str, Vectors]:
        found: dict[str, Vectors] = {}
        db = self._db()
        for start in range(0, len(digests), 500):
            part = list(digests[start : start + 500])
            rows = db.execute(
                "SELECT sha256, vector FROM embeddings WHERE model = ? AND sha256 IN"
                f" ({','.join('?' * len(part))})",
                [model, *part],
            )
            for digest, blob in rows:
                found[digest] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, model: str, items: dict[str, Vectors]) -> None:
        if not items:
            return
        db = self._db()
        db.execute("BEGIN")
        db.executemany(
            "INSERT OR REPLACE INTO embeddings (model, sha256, vector) VALUES (?, ?, ?)",
            [(model, d, np.asarray(v, dtype=np.float32).tobytes()) for d, v in items.items()],
        )
        db.execute("COMMIT")

    def count(self) -> int:
        return int(self._db().execute("SELECT count(*) FROM embeddings").fetchone()[0])
