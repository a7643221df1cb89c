"""Content-addressed blob store: raw bytes stored once, named by their sha256."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """A blob on local disk, for a reader in another process (the parse sandbox) to open."""

    digest: str
    path: Path
    size: int


class LocalBlobStore:
    """Blobs under ``root/ab/cdef...``; writes are atomic (temp file + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest[2:]

    def put(self, data: bytes) -> str:
        """Store ``data`` (a no-op if these bytes are already here); returns the sha256."""
        digest = sha256_hex(data)
        path = self._path(digest)
        if path.exists():
            return digest
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def get(self, digest: str) -> bytes:
        return self._path(digest).read_bytes()

    def stored(self, digest: str) -> StoredBlob:
        """Where the blob ``digest`` lies; raises ``FileNotFoundError`` if it does not."""
        path = self._path(digest)
        return StoredBlob(digest, path, path.stat().st_size)

    def exists(self, digest: str) -> bool:
        return self._path(digest).exists()

    def stats(self) -> tuple[int, int]:
        """(number of blobs, total bytes)."""
        count = size = 0
        for path in self.root.glob("??/*"):
            if not path.name.startswith(".tmp-"):
                count += 1
                size += path.stat().st_size
        return count, size
