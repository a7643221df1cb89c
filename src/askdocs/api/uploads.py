"""Multipart uploads read as a stream, with the size limit enforced per file while the body
arrives: a 2 GB upload is refused after the first 100 MB, not after it is all on disk."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from askdocs.api.errors import ApiError

MAX_FILES = 1000


class _LimitedParser(MultiPartParser):
    """Starlette's streaming parser, counting each file part's bytes as they arrive."""

    def __init__(self, request: Request, limit: int) -> None:
        super().__init__(request.headers, request.stream(), max_files=MAX_FILES)
        self._limit = limit
        self._part_bytes = 0

    def on_part_begin(self) -> None:
        super().on_part_begin()
        self._part_bytes = 0

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._current_part.file is not None:
            self._part_bytes += end - start
            if self._part_bytes > self._limit:
                name = self._current_part.file.filename or "a file"
                raise ApiError(
                    "payload_too_large",
                    f"{name} is larger than the upload limit of {self._limit:,} bytes "
                    "(setting server.max_upload_bytes)",
                )
        super().on_part_data(data, start, end)


@dataclass(frozen=True, slots=True)
class UploadedFile:
    name: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Upload:
    files: list[UploadedFile]
    fields: dict[str, str]


async def read_upload(request: Request, limit: int) -> Upload:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise ApiError(
            "invalid_request",
            "send the files as multipart/form-data, one part per file named 'file' or 'files'",
        )
    try:
        form = await _LimitedParser(request, limit).parse()
    except MultiPartException as exc:
        raise ApiError("invalid_request", f"could not read the upload: {exc.message}") from exc
    files: list[UploadedFile] = []
    fields: dict[str, str] = {}
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            data = await value.read()
            await value.close()
            files.append(UploadedFile(value.filename or key, data))
        else:
            fields[key] = value
    if not files:
        raise ApiError("invalid_request", "the upload has no file part: add one named 'file'")
    return Upload(files, fields)
