"""SQLite files of the caches: per-thread connections (WAL, shared by processes), and a file
found corrupt is moved aside and replaced by an empty one instead of failing the request.

A cache is derived data, so every failure is answered as a miss: corruption (checked on open
with ``PRAGMA quick_check``, and caught on any later statement) quarantines the file to
``<name>.corrupt-<timestamp>``; other errors (a lock held too long, a full disk) are logged and
the operation is skipped.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from askdocs.cache.base import BackendHealth, log

T = TypeVar("T")

_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26
# quick_check reads every page (~1.3 s per GiB here); larger files rely on the checks that
# SQLite makes on every read.
_QUICK_CHECK_MAX_BYTES = 1 << 30
# Writers wait for each other this long; beyond it the cache is skipped, not the request.
_BUSY_TIMEOUT_S = 5.0


class CorruptCacheError(sqlite3.DatabaseError):
    """``PRAGMA quick_check`` found damage."""


def is_corrupt(error: BaseException) -> bool:
    if isinstance(error, CorruptCacheError):
        return True
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return (int(code) & 0xFF) in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    text = str(error).lower()
    return "malformed" in text or "not a database" in text


class CacheFile:
    """One cache database; ``run(op, default)`` is how every statement reaches it."""

    def __init__(
        self, path: Path, schema: str, *, version: int, reset_on_upgrade: bool = False
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.health = BackendHealth(f"SQLite ({path.name})", retry_after=1.0)
        self._schema = schema
        self._version = version
        self._reset_on_upgrade = reset_on_upgrade
        self._local = threading.local()
        self._lock = threading.Lock()
        self._generation = 0
        self.run(self._check, None)

    def run(self, op: Callable[[sqlite3.Connection], T], default: T) -> T:
        """``op`` on this thread's connection; ``default`` if the file is unusable."""
        if not self.health.usable():
            return default
        db: sqlite3.Connection | None = None
        try:
            db = self._connection()
            result = op(db)
        except OSError as exc:  # the folder went away, or is not writable
            self.health.failed(exc)
            return default
        except sqlite3.Error as exc:
            if db is not None and db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            if is_corrupt(exc):
                self._quarantine(exc)
            else:
                self.health.failed(exc)
            return default
        self.health.succeeded()
        return result

    def close(self) -> None:
        """Close this thread's connection; the next statement opens a new one."""
        held = getattr(self._local, "db", None)
        if held is not None:
            held[2].close()
            self._local.db = None

    def _connection(self) -> sqlite3.Connection:
        held: tuple[int, int, sqlite3.Connection] | None = getattr(self._local, "db", None)
        if held is not None and held[0] == self._generation:
            return held[2]
        if held is not None:
            held[2].close()
        db = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error:
            db.close()
            raise
        self._local.db = (self._generation, _inode(self.path), db)
        return db

    def _check(self, db: sqlite3.Connection) -> None:
        """Damage is found now, at start, rather than in the middle of a request."""
        found = int(db.execute("PRAGMA user_version").fetchone()[0])
        if found != self._version and self._reset_on_upgrade:
            self._migrate(db)  # an old layout goes first: only the new one is checked
        if self.path.stat().st_size <= _QUICK_CHECK_MAX_BYTES:
            status = db.execute("PRAGMA quick_check").fetchone()[0]
            if status != "ok":
                raise CorruptCacheError(f"quick_check: {status}")
        if found == self._version:
            db.executescript(self._schema)  # a no-op unless a table was dropped by hand
        elif not self._reset_on_upgrade:
            self._migrate(db)

    def _migrate(self, db: sqlite3.Connection) -> None:
        db.execute("BEGIN IMMEDIATE")
        if self._reset_on_upgrade:
            # A cache written by another askdocs version: cheaper to start over than convert.
            tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            for table in tables:
                db.execute(f'DROP TABLE IF EXISTS "{table}"')
        for statement in self._schema.split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {int(self._version)}")
        db.execute("COMMIT")

    def _quarantine(self, error: BaseException) -> None:
        """Move the damaged file aside and start an empty one; never raise."""
        with self._lock:
            held = getattr(self._local, "db", None)
            if held is not None:
                held[2].close()
                self._local.db = None
            self._generation += 1
            # Another process (or thread) may have moved it already: then the file at
            # ``path`` is a fresh one, and moving it would throw away good entries.
            if held is None or held[1] == _inode(self.path):
                stamp = time.strftime("%Y%m%dT%H%M%S")
                target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
                try:
                    self.path.replace(target)
                    for suffix in ("-wal", "-shm"):
                        side = self.path.with_name(self.path.name + suffix)
                        if side.exists():
                            side.replace(target.with_name(target.name + suffix))
                except OSError as exc:
                    self.health.failed(exc)
                    return
                log.warning(
                    "cache file %s is corrupt (%s): moved aside to %s, starting empty",
                    self.path,
                    error,
                    target.name,
                )
        try:
            self._check(self._connection())
        except sqlite3.Error as exc:
            self.health.failed(exc)


def _inode(path: Path) -> int:
    try:
        return path.stat().st_ino
    except OSError:
        return -1
