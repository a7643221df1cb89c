"""Storage quotas per collection and per API key, checked before an upload is stored.

What a collection holds is read from the documents table (each live version's size) plus the
files still waiting to be ingested; what a key holds is the same, counting the versions that
key uploaded. Uploads are recorded per document version in a small SQLite ledger, so the
count follows deletions and replacements without bookkeeping of its own.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from askdocs.errors import QuotaExceededError
from askdocs.jobs.store import JobStore
from askdocs.settings import ServerSettings
from askdocs.storage.sqlite import ThreadLocalSqlite
from askdocs.storage.tables import DeltaTables

_SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
  document_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  key_id TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  PRIMARY KEY (document_id, version)
);
CREATE INDEX IF NOT EXISTS uploads_key ON uploads (key_id);
"""


@dataclass(frozen=True, slots=True)
class StoredVersion:
    """One stored version of a document: live, or waiting to be ingested."""

    document_id: str
    version: int
    collection: str
    size: int


class UploadLedger:
    """Which key uploaded each document version, and its bytes."""

    def __init__(self, path: Path) -> None:
        self._db = ThreadLocalSqlite(path)
        self._db().executescript(_SCHEMA)

    def record(self, document_id: str, version: int, key_id: str, size: int) -> None:
        self._db().execute(
            "INSERT OR REPLACE INTO uploads (document_id, version, key_id, bytes)"
            " VALUES (?, ?, ?, ?)",
            (document_id, version, key_id, size),
        )

    def by_key(self, key_id: str) -> set[tuple[str, int]]:
        rows = self._db().execute(
            "SELECT document_id, version FROM uploads WHERE key_id = ?", (key_id,)
        )
        return {(r[0], int(r[1])) for r in rows}

    def sizes(self) -> dict[tuple[str, int], int]:
        rows = self._db().execute("SELECT document_id, version, bytes FROM uploads")
        return {(r[0], int(r[1])): int(r[2]) for r in rows}


class StorageQuotas:
    """``server.collection_quota_bytes`` and ``server.key_quota_bytes``, enforced."""

    def __init__(
        self, settings: ServerSettings, tables: DeltaTables, jobs: JobStore, ledger: UploadLedger
    ) -> None:
        self._settings = settings
        self._tables = tables
        self._jobs = jobs
        self.ledger = ledger
        # Check and store under one lock, so two uploads in this process cannot both pass on
        # the same free space (replicas may still overshoot by one upload each).
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        s = self._settings
        return s.collection_quota_bytes is not None or s.key_quota_bytes is not None

    def stored(self) -> list[StoredVersion]:
        """Every stored version: the live ones, and the ones queued or being ingested."""
        found = {
            (r.document_id, r.version): StoredVersion(
                r.document_id, r.version, r.collection, r.size
            )
            for r in self._tables.read_documents()
        }
        pending = [j for j in self._jobs.pending() if (j.document_id, j.version) not in found]
        if pending:
            sizes = self.ledger.sizes()
            for job in pending:
                key = (job.document_id, job.version)
                found[key] = StoredVersion(*key, job.collection, sizes.get(key, 0))
        return list(found.values())

    @contextmanager
    def reserve(self, *, collection: str, key_id: str, incoming: int) -> Iterator[None]:
        """Raise QuotaExceededError if ``incoming`` more bytes would pass a quota; else hold
        the check until the block has stored them."""
        if not self.enabled:
            yield
            return
        with self._lock:
            self._check(collection, key_id, incoming)
            yield

    def _check(self, collection: str, key_id: str, incoming: int) -> None:
        stored = self.stored()
        limit = self._settings.collection_quota_bytes
        if limit is not None:
            used = sum(v.size for v in stored if v.collection == collection)
            if used + incoming > limit:
                raise QuotaExceededError(
                    f"collection {collection!r} holds {used:,} bytes of its {limit:,}-byte "
                    f"quota; this upload ({incoming:,} bytes) would pass it. Delete files "
                    "from it, or ask the operator to raise server.collection_quota_bytes"
                )
        limit = self._settings.key_quota_bytes
        if limit is not None:
            mine = self.ledger.by_key(key_id)
            used = sum(v.size for v in stored if (v.document_id, v.version) in mine)
            if used + incoming > limit:
                raise QuotaExceededError(
                    f"the files this API key uploaded hold {used:,} bytes of its "
                    f"{limit:,}-byte quota; this upload ({incoming:,} bytes) would pass it. "
                    "Delete files, or ask the operator to raise server.key_quota_bytes"
                )
