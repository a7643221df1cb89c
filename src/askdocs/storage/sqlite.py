"""SQLite connections for askdocs' local files: one per thread, WAL, shared by processes."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path


class ThreadLocalSqlite:
    """Opens ``path`` once per thread (sqlite3 connections must stay on their thread).

    WAL lets readers in other processes go on while one writes; ``setup`` runs on every new
    connection (per-connection temp tables and the like).
    """

    def __init__(self, path: Path, setup: str = "") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._setup = setup
        self._local = threading.local()

    def __call__(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            if self._setup:
                db.executescript(self._setup)
            self._local.db = db
        return db
