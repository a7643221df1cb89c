"""Answer cache (exact layer) in SQLite: an answer is served again only while the passages it
was generated from are unchanged, and only to the same scope.

Each entry keeps the passages that went into its prompt as (document id, text sha256) pairs
and the index versions it was last checked against. When the index has not moved the entry is
served at once; when it has, the caller re-runs retrieval (cheap) and serves the entry only if
the prompt would get the same passages. Deleting or replacing a document purges every entry
that quoted it, so its text does not live on in the cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from askdocs.models import Answer, Chunk, Citation, Passage, Quote
from askdocs.storage.sqlite import ThreadLocalSqlite

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
  key TEXT PRIMARY KEY,
  answer TEXT NOT NULL,
  passages TEXT NOT NULL,
  versions TEXT NOT NULL,
  last_used REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS answer_documents (
  key TEXT NOT NULL, document_id TEXT NOT NULL, PRIMARY KEY (document_id, key)
);
"""

PassageKey = tuple[str, str]  # (document id, text sha256)


def normalise_question(question: str) -> str:
    """Case, spacing and trailing punctuation do not make a different question."""
    return re.sub(r"\s+", " ", question.strip().lower()).rstrip(" ?!.")


def cache_key(question: str, scope: Sequence[str], settings: dict[str, object]) -> str:
    """Key of an answer: the normalised question, the scope it was asked in, and every
    setting that shapes the answer (models, prompt version, k, ...)."""
    material = json.dumps(
        [normalise_question(question), sorted(scope), settings], sort_keys=True, default=str
    )
    return hashlib.sha256(material.encode()).hexdigest()


def passage_keys(passages: Iterable[Passage]) -> list[PassageKey]:
    return sorted((p.chunk.document_id, p.chunk.text_sha256) for p in passages)


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    answer: Answer
    passages: list[PassageKey]
    versions: tuple[int, int]


class SqliteAnswerCache:
    """Bounded (LRU) answer cache in the data dir; WAL, so processes can share it."""

    def __init__(self, path: Path, *, max_entries: int = 10_000) -> None:
        self._db = ThreadLocalSqlite(path)
        self._db().executescript(_SCHEMA)
        self._max_entries = max_entries

    def get(self, key: str) -> CachedAnswer | None:
        row = (
            self._db()
            .execute("SELECT answer, passages, versions FROM answers WHERE key = ?", (key,))
            .fetchone()
        )
        if row is None:
            return None
        versions = json.loads(row[2])
        return CachedAnswer(
            _answer_from_json(json.loads(row[0])),
            [(d, s) for d, s in json.loads(row[1])],
            (int(versions[0]), int(versions[1])),
        )

    def put(
        self, key: str, answer: Answer, passages: list[PassageKey], versions: tuple[int, int]
    ) -> None:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "INSERT OR REPLACE INTO answers (key, answer, passages, versions, last_used)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    key,
                    json.dumps(dataclasses.asdict(answer)),
                    json.dumps(passages),
                    json.dumps(list(versions)),
                    time.time(),
                ),
            )
            db.execute("DELETE FROM answer_documents WHERE key = ?", (key,))
            db.executemany(
                "INSERT OR IGNORE INTO answer_documents (key, document_id) VALUES (?, ?)",
                [(key, doc) for doc in {d for d, _ in passages}],
            )
            self._evict(db)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def touch(self, key: str, versions: tuple[int, int]) -> None:
        """Record a hit, and the index versions the entry is now known to be valid at."""
        self._db().execute(
            "UPDATE answers SET last_used = ?, versions = ? WHERE key = ?",
            (time.time(), json.dumps(list(versions)), key),
        )

    def purge_documents(self, document_ids: Sequence[str]) -> int:
        """Remove every answer that quoted one of these documents; returns how many."""
        if not document_ids:
            return 0
        db = self._db()
        marks = ",".join("?" * len(document_ids))
        db.execute("BEGIN IMMEDIATE")
        keys = [
            r[0]
            for r in db.execute(
                f"SELECT DISTINCT key FROM answer_documents WHERE document_id IN ({marks})",
                list(document_ids),
            )
        ]
        for key in keys:
            db.execute("DELETE FROM answers WHERE key = ?", (key,))
            db.execute("DELETE FROM answer_documents WHERE key = ?", (key,))
        db.execute("COMMIT")
        return len(keys)

    def count(self) -> int:
        return int(self._db().execute("SELECT count(*) FROM answers").fetchone()[0])

    def _evict(self, db: sqlite3.Connection) -> None:
        over = int(db.execute("SELECT count(*) FROM answers").fetchone()[0]) - self._max_entries
        if over <= 0:
            return
        oldest = db.execute("SELECT key FROM answers ORDER BY last_used LIMIT ?", (over,))
        for (key,) in oldest.fetchall():
            db.execute("DELETE FROM answers WHERE key = ?", (key,))
            db.execute("DELETE FROM answer_documents WHERE key = ?", (key,))


def _passage_from_json(data: dict[str, object]) -> Passage:
    chunk = dict(data["chunk"])  # type: ignore[call-overload]
    chunk["heading"] = tuple(chunk["heading"])
    return Passage(Chunk(**chunk), float(data["score"]))  # type: ignore[arg-type]


def _answer_from_json(data: dict[str, object]) -> Answer:
    passages = [_passage_from_json(p) for p in data["passages"]]  # type: ignore[attr-defined]
    return Answer(
        question=str(data["question"]),
        answer=str(data["answer"]),
        citations=[
            Citation(int(c["n"]), _passage_from_json(c["passage"]))
            for c in data["citations"]  # type: ignore[attr-defined]
        ],
        passages=passages,
        abstained=bool(data["abstained"]),
        quotes=[Quote(**q) for q in data["quotes"]],  # type: ignore[attr-defined]
        cache=str(data["cache"]),
        timings_ms=dict(data["timings_ms"]),  # type: ignore[call-overload]
    )
