"""Embedding cache in SQLite: one vector per (model, text sha256), shared by all documents."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from askdocs.embed.base import Vectors
from askdocs.storage.sqlite import ThreadLocalSqlite


class SqliteEmbeddingCache:
    """Vectors by (model id, text sha256); WAL mode, so several processes can share it."""

    def __init__(self, path: Path) -> None:
        self._db = ThreadLocalSqlite(path)
        self._db().execute(
            "CREATE TABLE IF NOT EXISTS embeddings (model TEXT NOT NULL, sha256 TEXT NOT NULL,"
            " vector BLOB NOT NULL, PRIMARY KEY (model, sha256)) WITHOUT ROWID"
        )

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
