"""Multipart uploads read as a stream, with their limits enforced while the body arrives: bytes
per file, bytes and files per request. A 2 GB upload is refused after the first 100 MB, not
after it is all on disk.

Each file part goes to its own temporary file as it arrives (kept in memory only while it is
small), so a request's files are never in memory together: the route reads them back one at a
time (``UploadedFile.read``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from askdocs.api.errors import ApiError
from askdocs.settings import ServerSettings

# A file part past this many bytes moves from memory to a temporary file on disk: a hundred
# small files in one request hold at most a few MB of memory.
_SPOOL_BYTES = 64 * 1024
# Form fields askdocs reads are short ("collection", "source"); more is not an upload of ours.
_MAX_FIELDS = 16
_MAX_FIELD_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class UploadLimits:
    file_bytes: int
    total_bytes: int
    files: int

    @classmethod
    def of(cls, server: ServerSettings) -> UploadLimits:
        return cls(server.max_upload_bytes, server.max_upload_total_bytes, server.max_upload_files)


class _LimitedParser(MultiPartParser):
    """Starlette's streaming parser, counting files and their bytes as they arrive."""

    spool_max_size = _SPOOL_BYTES

    def __init__(self, request: Request, limits: UploadLimits) -> None:
        super().__init__(
            request.headers,
            request.stream(),
            max_files=float("inf"),  # counted below, to name the setting when refusing
            max_fields=_MAX_FIELDS,
            max_part_size=_MAX_FIELD_BYTES,
        )
        self._limits = limits
        self._part_bytes = 0
        self._total_bytes = 0
        self._files = 0

    def on_part_begin(self) -> None:
        super().on_part_begin()
        self._part_bytes = 0

    def on_headers_finished(self) -> None:
        super().on_headers_finished()
        if self._current_part.file is not None:
            self._files += 1
            if self._files > self._limits.files:
                raise ApiError(
                    "payload_too_large",
                    f"more than {self._limits.files:,} files in one upload (setting "
                    "server.max_upload_files): send them in several requests",
                )

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._current_part.file is not None:
            self._part_bytes += end - start
            self._total_bytes += end - start
            if self._part_bytes > self._limits.file_bytes:
                name = self._current_part.file.filename or "a file"
                raise ApiError(
                    "payload_too_large",
                    f"{name} is larger than the upload limit of {self._limits.file_bytes:,} "
                    "bytes (setting server.max_upload_bytes)",
                )
            if self._total_bytes > self._limits.total_bytes:
                raise ApiError(
                    "payload_too_large",
                    f"the files of this upload are larger than {self._limits.total_bytes:,} "
                    "bytes together (setting server.max_upload_total_bytes): send them in "
                    "several requests",
                )
        super().on_part_data(data, start, end)


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """One file of an upload, in its temporary file until read."""

    name: str
    part: UploadFile

    @property
    def size(self) -> int:
        return self.part.size or 0

    def read(self) -> bytes:
        """The file's bytes (blocking: call it in a worker thread)."""
        self.part.file.seek(0)
        return self.part.file.read()


@dataclass(frozen=True, slots=True)
class Upload:
    files: list[UploadedFile]
    fields: dict[str, str]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


@asynccontextmanager
async def receive_upload(request: Request, limits: UploadLimits) -> AsyncIterator[Upload]:
    """The upload's files and fields; its temporary files are removed when the block ends."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise ApiError(
            "invalid_request",
            "send the files as multipart/form-data, one part per file named 'file' or 'files'",
        )
    try:
        form = await _LimitedParser(request, limits).parse()
    except MultiPartException as exc:
        raise ApiError("invalid_request", f"could not read the upload: {exc.message}") from exc
    try:
        files: list[UploadedFile] = []
        fields: dict[str, str] = {}
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                files.append(UploadedFile(value.filename or key, value))
            else:
                fields[key] = value
        if not files:
            raise ApiError("invalid_request", "the upload has no file part: add one named 'file'")
        yield Upload(files, fields)
    finally:
        await form.close()
