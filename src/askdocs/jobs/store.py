"""Ingestion jobs in SQLite under the data dir: they outlive the process that queued them.

A worker claims a job atomically and holds it under a lease it renews as it makes progress.
A job whose worker died (its process is gone, or its lease ran out) is queued again, so a
restart resumes the work. Ingestion's own commits are atomic, so running a job twice is safe:
the second run finds the document unchanged.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from askdocs.storage.sqlite import ThreadLocalSqlite

STATES = ("queued", "running", "succeeded", "failed")
LEASE_SECONDS = 300.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY,
  document_id TEXT NOT NULL,
  collection TEXT NOT NULL,
  source TEXT NOT NULL,
  blob TEXT NOT NULL,
  version INTEGER NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  chunks_done INTEGER NOT NULL DEFAULT 0,
  chunks_total INTEGER NOT NULL DEFAULT 0,
  error TEXT,
  outcome TEXT,
  owner TEXT,
  lease_until REAL,
  not_before REAL NOT NULL DEFAULT 0,
  created REAL NOT NULL,
  updated REAL NOT NULL,
  access TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, not_before, created);
CREATE INDEX IF NOT EXISTS jobs_document ON jobs (document_id, created);
"""

_COLUMNS = (
    "id, document_id, collection, source, blob, version, state, attempts, chunks_done,"
    " chunks_total, error, outcome, created, updated, access"
)


@dataclass(frozen=True, slots=True)
class Job:
    job_id: str
    document_id: str
    collection: str
    source: str
    blob: str
    version: int
    state: str
    attempts: int
    chunks_done: int
    chunks_total: int
    error: str | None
    outcome: str | None  # added | updated | unchanged, once succeeded
    created: float
    updated: float
    # The access list the file gets (and who may see the job); empty: everyone.
    access: tuple[str, ...] = ()


def owner_id() -> str:
    """This process, as the owner of the jobs it runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


class JobStore:
    """Queue and history of ingestion jobs."""

    def __init__(self, path: Path, *, lease_seconds: float = LEASE_SECONDS) -> None:
        self._db = ThreadLocalSqlite(path)
        self._db().executescript(_SCHEMA)
        columns = {row[1] for row in self._db().execute("PRAGMA table_info(jobs)")}
        if "access" not in columns:  # a queue from before document access lists
            self._db().execute("ALTER TABLE jobs ADD COLUMN access TEXT NOT NULL DEFAULT '[]'")
        self._lease = lease_seconds

    def submit(
        self,
        *,
        document_id: str,
        collection: str,
        source: str,
        blob: str,
        version: int,
        access: tuple[str, ...] = (),
    ) -> Job:
        now = time.time()
        job_id = uuid.uuid4().hex[:16]
        self._db().execute(
            "INSERT INTO jobs (id, document_id, collection, source, blob, version, state,"
            " created, updated, access) VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)",
            (
                job_id, document_id, collection, source, blob, version, now, now,
                json.dumps(sorted(set(access))),
            ),
        )  # fmt: skip
        job = self.get(job_id)
        assert job is not None
        return job

    def claim(self, max_attempts: int = 3) -> Job | None:
        """The oldest runnable job, now owned by this process; None if there is none.

        A running job whose lease ran out (its worker hung or vanished) is taken over, unless
        it has had ``max_attempts`` already: then it fails, so that a file which kills its
        worker cannot do so forever.
        """
        now = time.time()
        self._db().execute(
            "UPDATE jobs SET state = 'failed', error = ?, owner = NULL, lease_until = NULL,"
            " updated = ? WHERE state = 'running' AND lease_until < ? AND attempts >= ?",
            (_gave_up(max_attempts), now, now, max_attempts),
        )
        row = (
            self._db()
            .execute(
                "UPDATE jobs SET state = 'running', owner = ?, lease_until = ?, updated = ?,"
                " attempts = attempts + 1, error = NULL"
                " WHERE id = (SELECT id FROM jobs WHERE (state = 'queued' AND not_before <= ?)"
                "   OR (state = 'running' AND lease_until < ?) ORDER BY created LIMIT 1)"
                f" RETURNING {_COLUMNS}",
                (owner_id(), now + self._lease, now, now, now),
            )
            .fetchone()
        )
        return _job(row) if row else None

    def progress(self, job_id: str, done: int, total: int) -> bool:
        """Record progress and renew the lease; False if the job is no longer running
        (cancelled: its file was deleted)."""
        now = time.time()
        cursor = self._db().execute(
            "UPDATE jobs SET chunks_done = ?, chunks_total = ?, lease_until = ?, updated = ?"
            " WHERE id = ? AND state = 'running'",
            (done, total, now + self._lease, now, job_id),
        )
        return cursor.rowcount == 1

    def is_running(self, job_id: str) -> bool:
        row = self._db().execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return row is not None and row[0] == "running"

    def succeed(self, job_id: str, *, outcome: str, version: int, chunks: int) -> bool:
        """Mark done; False if the job was cancelled while it ran (its file was deleted)."""
        cursor = self._db().execute(
            "UPDATE jobs SET state = 'succeeded', outcome = ?, version = ?, chunks_done = ?,"
            " chunks_total = ?, owner = NULL, lease_until = NULL, updated = ?"
            " WHERE id = ? AND state = 'running'",
            (outcome, version, chunks, chunks, time.time(), job_id),
        )
        return cursor.rowcount == 1

    def cancel(self, document_id: str) -> int:
        """The file was deleted: its queued and running jobs must not bring it back."""
        cursor = self._db().execute(
            "UPDATE jobs SET state = 'failed', error = 'cancelled: the file was deleted',"
            " owner = NULL, lease_until = NULL, updated = ?"
            " WHERE document_id = ? AND state IN ('queued', 'running')",
            (time.time(), document_id),
        )
        return cursor.rowcount

    def set_access(self, document_id: str, access: tuple[str, ...]) -> None:
        """A file's jobs show its name: they follow the access list it was last given."""
        self._db().execute(
            "UPDATE jobs SET access = ? WHERE document_id = ?",
            (json.dumps(sorted(set(access))), document_id),
        )

    def fail(self, job_id: str, error: str) -> None:
        self._db().execute(
            "UPDATE jobs SET state = 'failed', error = ?, owner = NULL, lease_until = NULL,"
            " updated = ? WHERE id = ?",
            (error, time.time(), job_id),
        )

    def retry(self, job_id: str, error: str, delay: float) -> None:
        """Back in the queue after ``delay`` seconds; the error stays visible meanwhile."""
        now = time.time()
        self._db().execute(
            "UPDATE jobs SET state = 'queued', error = ?, not_before = ?, owner = NULL,"
            " lease_until = NULL, updated = ? WHERE id = ?",
            (error, now + delay, now, job_id),
        )

    def release_mine(self) -> int:
        """On a clean shutdown: this process's running jobs go back to the queue at once."""
        cursor = self._db().execute(
            "UPDATE jobs SET state = 'queued', owner = NULL, lease_until = NULL,"
            " attempts = max(attempts - 1, 0), updated = ? WHERE state = 'running' AND owner = ?",
            (time.time(), owner_id()),
        )
        return cursor.rowcount

    def recover(self, max_attempts: int = 3) -> tuple[int, int]:
        """At startup: jobs left running by a process of this host that no longer exists
        (a crash or kill -9 mid-job) are queued again, unless they have been running each
        of the last ``max_attempts`` times a process died: those fail, so a file that brings
        its process down is not retried first after every restart. Returns (queued, failed).
        """
        host = socket.gethostname()
        orphans: list[str] = []
        hopeless: list[str] = []
        for job_id, owner, attempts in self._db().execute(
            "SELECT id, owner, attempts FROM jobs WHERE state = 'running'"
        ):
            owner_host, _, pid = str(owner).rpartition(":")
            if owner_host == host and pid.isdigit() and not _alive(int(pid)):
                (hopeless if attempts >= max_attempts else orphans).append(job_id)
        self._db().executemany(
            "UPDATE jobs SET state = 'queued', owner = NULL, lease_until = NULL WHERE id = ?",
            [(j,) for j in orphans],
        )
        now = time.time()
        self._db().executemany(
            "UPDATE jobs SET state = 'failed', error = ?, owner = NULL, lease_until = NULL,"
            " updated = ? WHERE id = ?",
            [(_gave_up(max_attempts), now, j) for j in hopeless],
        )
        return len(orphans), len(hopeless)

    def get(self, job_id: str) -> Job | None:
        row = self._db().execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job(row) if row else None

    def find(
        self,
        *,
        state: str | None = None,
        document_id: str | None = None,
        collections: tuple[str, ...] = (),
        principals: tuple[str, ...] | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Job]:
        """Jobs newest first; with ``principals``, only those whose access list is empty or
        names one of them (None: every job)."""
        where, params = _filters(state, document_id, collections, principals)
        rows = self._db().execute(
            f"SELECT {_COLUMNS} FROM jobs {where} ORDER BY created DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [_job(r) for r in rows]

    def pending(self) -> list[Job]:
        """Queued and running jobs, oldest first."""
        rows = self._db().execute(
            f"SELECT {_COLUMNS} FROM jobs WHERE state IN ('queued', 'running') ORDER BY created"
        )
        return [_job(r) for r in rows]

    def counts(self) -> dict[str, int]:
        found = dict(
            self._db().execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall()
        )
        return {state: int(found.get(state, 0)) for state in STATES}


def _filters(
    state: str | None,
    document_id: str | None,
    collections: tuple[str, ...],
    principals: tuple[str, ...] | None = None,
) -> tuple[str, list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    if state:
        clauses.append("state = ?")
        params.append(state)
    if document_id:
        clauses.append("document_id = ?")
        params.append(document_id)
    if collections:
        clauses.append(f"collection IN ({','.join('?' * len(collections))})")
        params.extend(collections)
    if principals is not None:
        marks = ",".join("?" * len(principals))
        named = (
            f" OR EXISTS (SELECT 1 FROM json_each(access) WHERE value IN ({marks}))"
            if principals
            else ""
        )
        clauses.append(f"(access = '[]'{named})")
        params.extend(principals)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params


def _gave_up(attempts: int) -> str:
    return (
        f"the process ingesting this file stopped during each of {attempts} attempts (it "
        "crashed, ran out of memory or was killed); the file is not retried: check it, then "
        "upload it again"
    )


def _job(row: tuple[object, ...]) -> Job:
    *fields, access = row
    return Job(*fields, access=tuple(json.loads(str(access))))  # type: ignore[arg-type, misc]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        return True
    return True
