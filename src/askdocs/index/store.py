"""The passage index: SQLite (rows + FTS5 keyword index) shared by processes, plus an in-memory
vector matrix per process. Both are caught up from the Delta tables by version.

Every search takes the collections and the principals a caller acts for (None: no document
access filter), checked against the in-memory mask of live rows.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from askdocs.errors import EmbeddingModelMismatchError
from askdocs.index.vectors import VectorMatrix
from askdocs.models import Chunk
from askdocs.storage.sqlite import ThreadLocalSqlite
from askdocs.storage.tables import DeltaTables

_SCHEMA = files("askdocs.index").joinpath("schema.sql").read_text(encoding="utf-8")
# Per-connection helpers for keyword queries: a scratch table to stem query words with the
# index's own tokenizer, and views of how many passages hold each term.
_TEMP_SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS temp.probe USING fts5(x, tokenize = 'porter unicode61');
CREATE VIRTUAL TABLE IF NOT EXISTS temp.probe_terms USING fts5vocab(temp, probe, instance);
CREATE VIRTUAL TABLE IF NOT EXISTS temp.fts_terms USING fts5vocab(main, fts, row);
"""
# Always match the rarest term; add rarer-first others while they are not common and the rows
# FTS5 must score stay within the budget (~8 ms at 100k passages on 2 cores; measured with
# benchmarks/query.py, at a cost of under 0.02 MRR on benchmarks/quality.py).
_KEEP = 1
_COMMON = 0.2
_POSTINGS_BUDGET = 8000


@dataclass(frozen=True, slots=True)
class SyncResult:
    documents_version: int
    chunks_version: int
    inserted: int
    deleted: int
    documents_changed: int


class PassageIndex:
    """Keyword and vector search over the live chunks of the Delta tables."""

    def __init__(
        self, path: Path, tables: DeltaTables, *, dimension: int, ann_threshold: int = 100_000
    ) -> None:
        self.path = path
        self._tables = tables
        self._db = ThreadLocalSqlite(path, _TEMP_SCHEMA)
        self._lock = threading.RLock()
        self._vectors = VectorMatrix(dimension, ann_threshold=ann_threshold)
        self._db().executescript(_SCHEMA)
        self._add_access_column()
        self._seen = (-2, -2)  # (documents, chunks) versions this process has loaded
        self._term_counts: dict[str, int] = {}

    def _add_access_column(self) -> None:
        """An index built before document access lists: add the column, and read the documents
        table again so every document gets its list."""
        columns = {row[1] for row in self._db().execute("PRAGMA table_info(docs)")}
        if "access" in columns:
            return
        with self._write() as db:
            db.execute("ALTER TABLE docs ADD COLUMN access TEXT NOT NULL DEFAULT '[]'")
            self._set_meta(db, "documents_version", -1)

    # -- connections ------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        # IMMEDIATE takes the write lock up front, so two processes never sync the same
        # versions at once; the loser waits and then finds nothing left to do.
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _meta(self, db: sqlite3.Connection, key: str, default: str) -> str:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else default

    def _set_meta(self, db: sqlite3.Connection, key: str, value: object) -> None:
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, str(value)))

    # -- sync -------------------------------------------------------------------------------

    def versions(self) -> tuple[int, int]:
        """The Delta versions the shared index has caught up to."""
        db = self._db()
        return int(self._meta(db, "documents_version", "-1")), int(
            self._meta(db, "chunks_version", "-1")
        )

    @property
    def embed_model(self) -> str | None:
        value = self._meta(self._db(), "embed_model", "")
        return value or None

    def sync(self) -> SyncResult | None:
        """Catch up with the Delta tables if they moved; cheap (two stats) when they did not."""
        with self._lock:
            dv_known, cv_known = self.versions()
            dv = self._tables.documents_version(dv_known)
            cv = self._tables.chunks_version(cv_known)
            result = None
            if (dv, cv) != (dv_known, cv_known):
                result = self._catch_up()
                dv_known, cv_known = result.documents_version, result.chunks_version
            self._load_vectors((dv_known, cv_known))
            return result

    def _catch_up(self) -> SyncResult:
        with self._write() as db:
            dv_known = int(self._meta(db, "documents_version", "-1"))
            cv_known = int(self._meta(db, "chunks_version", "-1"))
            # Documents first: chunks are committed before the document row that shows them,
            # so chunks read after this snapshot include every version it names.
            dv = self._tables.documents_version()
            cv = self._tables.chunks_version()
            inserted = deleted = 0
            if cv != cv_known:
                changes = (
                    self._tables.read_chunks(cv)
                    if cv_known < 0
                    else self._tables.chunk_changes(cv_known, cv)
                )
                inserted, deleted = self._apply_chunk_changes(db, changes)
            changed = self._apply_documents(db, dv) if dv != dv_known else 0
            self._set_meta(db, "documents_version", dv)
            self._set_meta(db, "chunks_version", cv)
        return SyncResult(dv, cv, inserted, deleted, changed)

    def _apply_chunk_changes(self, db: sqlite3.Connection, changes: pa.Table) -> tuple[int, int]:
        inserted = deleted = 0
        kinds = (
            changes.column("_change_type").to_pylist()
            if "_change_type" in changes.column_names
            else ["insert"] * changes.num_rows
        )
        models = set(changes.column("embed_model").to_pylist()) if changes.num_rows else set()
        current = self._meta(db, "embed_model", "")
        for model in models:
            if current and model != current:
                raise EmbeddingModelMismatchError(
                    f"the index holds vectors of {current!r} and the tables now hold vectors of "
                    f"{model!r}; one index cannot mix embedding models. Use a separate data dir "
                    "per model, or delete and re-ingest the documents with one model."
                )
            current = model
        if current:
            self._set_meta(db, "embed_model", current)
        vectors = changes.column("vector").combine_chunks() if changes.num_rows else None
        flat = (
            np.asarray(vectors.flatten().to_numpy(zero_copy_only=False), dtype=np.float32)
            if vectors is not None
            else np.zeros(0, np.float32)
        )
        dim = self._vectors.dimension
        rows = changes.drop_columns(["vector"]).to_pylist()
        # The change feed is not ordered: replay it commit by commit, deletes first, since a
        # retried ingest deletes a crashed attempt's rows and re-adds the same chunk ids.
        order = sorted(
            range(len(rows)),
            key=lambda i: (rows[i].get("_commit_version", 0), kinds[i] != "delete"),
        )
        for i in order:
            row = rows[i]
            if kinds[i] == "insert":
                heading = row["heading"] or []
                cur = db.execute(
                    "INSERT OR IGNORE INTO passages (chunk_id, document_id, version, collection,"
                    ' source, ordinal, text, text_sha256, start, "end", page, heading, vector)'
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        row["chunk_id"], row["document_id"], row["version"], row["collection"],
                        row["source"], row["ordinal"], row["text"], row["text_sha256"],
                        row["start"], row["end"], row["page"], json.dumps(heading),
                        flat[i * dim : (i + 1) * dim].tobytes(),
                    ),
                )  # fmt: skip
                if cur.rowcount:
                    db.execute(
                        "INSERT INTO fts (rowid, heading, body) VALUES (?, ?, ?)",
                        (cur.lastrowid, " ".join(heading), row["text"]),
                    )
                    inserted += 1
            elif kinds[i] == "delete":
                found = db.execute(
                    "SELECT rowid, live FROM passages WHERE chunk_id = ?", (row["chunk_id"],)
                ).fetchone()
                # A row still live in the last documents snapshot goes when the snapshot moves.
                if found and not found[1]:
                    db.execute("DELETE FROM passages WHERE rowid = ?", (found[0],))
                    db.execute("DELETE FROM fts WHERE rowid = ?", (found[0],))
                    deleted += 1
        return inserted, deleted

    def _apply_documents(self, db: sqlite3.Connection, version: int) -> int:
        current = {
            r.document_id: (r.version, r.collection, json.dumps(sorted(r.access)))
            for r in self._tables.read_documents(version)
        }
        known = {
            doc: (ver, col, access)
            for doc, ver, col, access in db.execute(
                "SELECT document_id, version, collection, access FROM docs"
            )
        }
        changed = [
            doc for doc in current.keys() | known.keys() if current.get(doc) != known.get(doc)
        ]
        for doc in changed:
            if doc in current:
                ver, col, access = current[doc]
                db.execute(
                    "INSERT OR REPLACE INTO docs (document_id, version, collection, access)"
                    " VALUES (?, ?, ?, ?)",
                    (doc, ver, col, access),
                )
                db.execute(
                    "UPDATE passages SET live = (version = ?) WHERE document_id = ?", (ver, doc)
                )
                # Older versions can never come back: drop them now.
                stale = [
                    r[0]
                    for r in db.execute(
                        "SELECT rowid FROM passages WHERE document_id = ? AND version < ?",
                        (doc, ver),
                    )
                ]
            else:
                db.execute("DELETE FROM docs WHERE document_id = ?", (doc,))
                stale = [
                    r[0]
                    for r in db.execute("SELECT rowid FROM passages WHERE document_id = ?", (doc,))
                ]
            for rowid in stale:
                db.execute("DELETE FROM passages WHERE rowid = ?", (rowid,))
                db.execute("DELETE FROM fts WHERE rowid = ?", (rowid,))
        return len(changed)

    def _load_vectors(self, versions: tuple[int, int]) -> None:
        """Bring this process's vectors to the shared index's state at ``versions``."""
        if versions == self._seen:
            return
        self._term_counts.clear()
        db = self._db()
        # One read transaction, so rows and live flags come from the same committed state.
        db.execute("BEGIN")
        try:
            self._vectors.refresh(db)
        finally:
            db.execute("COMMIT")
        self._seen = versions

    def rebuild(self) -> SyncResult:
        """Drop every derived row and reload from the latest table versions."""
        with self._lock:
            with self._write() as db:
                for table in ("passages", "docs", "meta", "fts"):
                    db.execute(f"DELETE FROM {table}")
            self._vectors.clear()
            self._seen = (-2, -2)
            result = self._catch_up()
            self._load_vectors((result.documents_version, result.chunks_version))
            return result

    # -- search -----------------------------------------------------------------------------

    def dense(
        self,
        query: npt.NDArray[np.float32],
        collections: Sequence[str] | None,
        n: int,
        *,
        length_prior: float = 0.0,
        principals: Sequence[str] | None = None,
    ) -> list[tuple[int, float]]:
        return self._vectors.search(
            query, collections, n, length_prior=length_prior, principals=principals
        )

    def dense_scores(self, query: npt.NDArray[np.float32], rowids: Sequence[int]) -> list[float]:
        return self._vectors.scores(query, rowids)

    def document_adjustments(
        self,
        query: npt.NDArray[np.float32],
        rowids: Sequence[int],
        *,
        document_weight: float,
        length_prior: float,
    ) -> list[float]:
        """What each row's whole document adds to its score (see VectorMatrix)."""
        return self._vectors.document_adjustments(
            query, rowids, document_weight=document_weight, length_prior=length_prior
        )

    def keyword(
        self,
        terms: Sequence[str],
        collections: Sequence[str] | None,
        n: int,
        *,
        principals: Sequence[str] | None = None,
    ) -> list[tuple[int, float]]:
        """BM25 over heading + text; ``terms`` are OR-ed. Higher score is better.

        FTS5 scores every row that matches any term, so common terms (low IDF, little effect
        on the ranking) made queries 10x slower: only the rarest terms are matched. Liveness
        and collections are checked against the in-memory mask, not joined in SQL (4x faster).
        """
        terms = self._selective_terms(terms)
        if not terms:
            return []
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
        limit = 4 * n
        while True:
            rows = (
                self._db()
                .execute(
                    "SELECT rowid, -bm25(fts, 0.5, 1.0) FROM fts WHERE fts MATCH ?"
                    " ORDER BY bm25(fts, 0.5, 1.0) LIMIT ?",
                    (match, limit),
                )
                .fetchall()
            )
            allowed = self._vectors.allowed([int(r) for r, _ in rows], collections, principals)
            hits = [(int(r), float(s)) for (r, s), ok in zip(rows, allowed, strict=True) if ok]
            if len(hits) >= n or len(rows) < limit:
                return hits[:n]
            limit *= 4

    def mentions(
        self,
        name: str,
        collections: Sequence[str] | None,
        *,
        principals: Sequence[str] | None = None,
    ) -> bool:
        """Whether a live passage (in ``collections``, when given, and visible to
        ``principals``, when not None) contains ``name`` as written,
        case aside (any white space between its words), as a whole word: not inside a longer
        name (``lock_timeout`` is not ``SQLITE_FCNTL_LOCK_TIMEOUT``, Rust is not "trust").
        FTS5 finds the passages holding its words in order, then their text is checked."""
        needle = name.lower()
        if not any(c.isalnum() for c in needle):
            return True  # nothing FTS5 could look up
        words = r"\s+".join(re.escape(word) for word in needle.split())
        pattern = re.compile(rf"(?<!\w){words}(?!\w)")
        phrase = '"' + name.replace('"', '""') + '"'
        # Pages, so that a name in thousands of passages costs one small query.
        offset, page = 0, 64
        while True:
            rows = (
                self._db()
                .execute(
                    "SELECT fts.rowid, lower(p.text), lower(p.heading) FROM fts"
                    " JOIN passages p ON p.rowid = fts.rowid WHERE fts MATCH ? LIMIT ? OFFSET ?",
                    (phrase, page, offset),
                )
                .fetchall()
            )
            found = [int(r) for r, text, heading in rows if pattern.search(text + "\n" + heading)]
            if any(self._vectors.allowed(found, collections, principals)):
                return True
            if len(rows) < page:
                return False
            offset, page = offset + page, page * 4

    def _selective_terms(self, terms: Sequence[str]) -> list[str]:
        """The terms worth matching, rarest first: always the ``_KEEP`` rarest, then others
        while they are not common (in more than ``_COMMON`` of passages) and the rows to score
        stay within ``_POSTINGS_BUDGET``, which bounds the query's cost on large indexes."""
        counts = {w: c for w in terms if (c := self._passage_count(w))}
        ranked = sorted(counts, key=counts.__getitem__)
        total = max(self._vectors.size, 1)
        kept: list[str] = []
        postings = 0
        for i, word in enumerate(ranked):
            postings += counts[word]
            if i >= _KEEP and (counts[word] > _COMMON * total or postings > _POSTINGS_BUDGET):
                break
            kept.append(word)
        return kept

    def _passage_count(self, word: str) -> int:
        """How many passages hold ``word`` (as FTS5 stems it); cached until the index moves."""
        if word in self._term_counts:
            return self._term_counts[word]
        db = self._db()
        # Stem with FTS5's own tokenizer, via a scratch table, then read the stem's count.
        db.execute("DELETE FROM temp.probe")
        db.execute("INSERT INTO temp.probe (rowid, x) VALUES (1, ?)", (word,))
        stem = db.execute("SELECT term FROM temp.probe_terms LIMIT 1").fetchone()
        found = (
            db.execute("SELECT doc FROM temp.fts_terms WHERE term = ?", (stem[0],)).fetchone()
            if stem
            else None
        )
        count = int(found[0]) if found and found[0] else 0
        if len(self._term_counts) > 100_000:
            self._term_counts.clear()
        self._term_counts[word] = count
        return count

    def chunks(self, rowids: Sequence[int]) -> dict[int, Chunk]:
        if not rowids:
            return {}
        rows = self._db().execute(
            "SELECT rowid, chunk_id, document_id, version, collection, source, ordinal, text,"
            ' text_sha256, start, "end", page, heading FROM passages'
            f" WHERE rowid IN ({','.join('?' * len(rowids))})",
            list(rowids),
        )
        return {
            int(r[0]): Chunk(
                chunk_id=r[1], document_id=r[2], version=r[3], collection=r[4], source=r[5],
                ordinal=r[6], text=r[7], text_sha256=r[8], start=r[9], end=r[10], page=r[11],
                heading=tuple(json.loads(r[12])),
            )
            for r in rows
        }  # fmt: skip

    def document_access(self, document_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """The access lists of the live documents among ``document_ids`` (others are absent)."""
        if not document_ids:
            return {}
        rows = self._db().execute(
            "SELECT document_id, access FROM docs"
            f" WHERE document_id IN ({','.join('?' * len(document_ids))})",
            list(document_ids),
        )
        return {str(r[0]): tuple(json.loads(r[1])) for r in rows}

    def passage_context(self, chunk_id: str, neighbours: int = 1) -> list[Chunk]:
        """A live passage with up to ``neighbours`` passages either side, in document order;
        empty if the passage is unknown or no longer live."""
        self.sync()
        db = self._db()
        row = db.execute(
            "SELECT document_id, version, ordinal FROM passages WHERE chunk_id = ? AND live = 1",
            (chunk_id,),
        ).fetchone()
        if row is None:
            return []
        rowids = [
            int(r[0])
            for r in db.execute(
                "SELECT rowid FROM passages WHERE document_id = ? AND version = ? AND live = 1"
                " AND ordinal BETWEEN ? AND ? ORDER BY ordinal",
                (row[0], row[1], row[2] - neighbours, row[2] + neighbours),
            )
        ]
        found = self.chunks(rowids)
        return [found[r] for r in rowids]

    def stats(self) -> dict[str, int]:
        db = self._db()
        total, live = db.execute("SELECT count(*), coalesce(sum(live), 0) FROM passages").fetchone()
        documents = db.execute("SELECT count(*) FROM docs").fetchone()[0]
        return {
            "passages": int(total),
            "live_passages": int(live),
            "documents": int(documents),
            "vectors_in_memory": self._vectors.size,
        }
