"""/v1/files and /v1/jobs: upload, list, read, replace and delete documents; ingestion jobs."""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime
from pathlib import PurePosixPath
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from askdocs.access.keys import ForbiddenError, Principal
from askdocs.access.principals import parse_principals
from askdocs.api import deps, schemas
from askdocs.api.errors import ApiError
from askdocs.api.uploads import UploadedFile, UploadLimits, receive_upload
from askdocs.container import Container
from askdocs.errors import DocumentNotFoundError
from askdocs.jobs.store import STATES, Job
from askdocs.models import DocumentRecord
from askdocs.parse import detect_media_type
from askdocs.services.ingestion import document_id_for

router = APIRouter(prefix="/v1", tags=["files"], responses=schemas.ERRORS)

ContainerDep = Annotated[Container, Depends(deps.container)]


def job_payload(job: Job) -> dict[str, object]:
    return {
        "job_id": job.job_id,
        "document_id": job.document_id,
        "collection": job.collection,
        "source": job.source,
        "version": job.version,
        "state": job.state,
        "outcome": job.outcome,
        "attempts": job.attempts,
        "progress": {"chunks_done": job.chunks_done, "chunks_total": job.chunks_total},
        "error": _public_error(job),
        "created": job.created,
        "updated": job.updated,
        "access": list(job.access),
    }


def _public_error(job: Job) -> str | None:
    """A job's error as a client may read it: an unexpected failure's text is about the
    server (paths, internals), so it stays in the log."""
    if job.error is not None and job.error.startswith("internal error"):
        return f"internal error; the server log has the details (job {job.job_id})"
    return job.error


def file_payload(record: DocumentRecord | None, job: Job | None) -> dict[str, object]:
    """A document as the API shows it: its live version, and its latest job if newer."""
    if record is not None:
        body: dict[str, object] = dataclasses.asdict(record)
        body.pop("pipeline")
    else:
        assert job is not None
        body = {
            "document_id": job.document_id,
            "collection": job.collection,
            "source": job.source,
            "version": None,
            "status": "failed" if job.state == "failed" else "processing",
        }
    if job is not None and job.state in ("queued", "running"):
        body["status"] = "processing" if record is None else "ready"
        body["processing_version"] = job.version
    if job is not None:
        body["job"] = job_payload(job)
        if job.state == "failed":
            body["error"] = _public_error(job)
    return body


# Document ids are hex (sha256 of collection and source, cut). Anything else names nothing:
# 404, the same answer as for an id that does not exist (the tables refuse it with a 500).
# Ids stay derivable: every route answers 404 alike for a file in a collection the key may not
# use and for none at all, so knowing an id reveals nothing.
# The original bytes, in whatever media type the file has; 304 when If-None-Match matches.
_CONTENT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the file's bytes",
        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
    },
    304: {"description": "not modified (ETag)"},
}
# Far past any real listing, and inside SQLite's 64-bit integers (a larger offset was a 500).
MAX_OFFSET = 10_000_000
_DOCUMENT_ID = re.compile(r"^[0-9a-f]{8,64}$")


def _visible_record(c: Container, caller: Principal, document_id: str) -> DocumentRecord | None:
    if not _DOCUMENT_ID.match(document_id):
        return None
    record = c.tables.get_document(document_id)
    if record is not None and not (
        caller.allows(record.collection) and caller.may_see(record.access)
    ):
        return None
    return record


def _visible_job(caller: Principal, job: Job) -> bool:
    """A job shows its file's name: seen by whoever may see the file it would make."""
    return caller.allows(job.collection) and caller.may_see(job.access)


def _access_field(upload_fields: dict[str, str]) -> tuple[str, ...] | None:
    """The form field ``access`` (principals, comma separated; empty: everyone), or None when
    the request has none (a new file: everyone; a replaced one keeps its list)."""
    value = upload_fields.get("access")
    return None if value is None else parse_principals(value)


def _latest_job(c: Container, document_id: str) -> Job | None:
    jobs = c.jobs.find(document_id=document_id, limit=1)
    return jobs[0] if jobs else None


def _not_found(document_id: str) -> DocumentNotFoundError:
    return DocumentNotFoundError(f"no file {document_id!r}: GET /v1/files lists them")


def _accept(
    request: Request,
    c: Container,
    caller: Principal,
    files: list[tuple[UploadedFile, str]],
    collection: str,
    access: tuple[str, ...] | None = None,
) -> list[dict[str, object]]:
    """Check every file's type, then the quotas, then store and queue them: all or none is
    accepted, and only one file's bytes are in memory at a time (blocking: a worker thread)."""
    for upload, _ in files:
        detect_media_type(upload.read(), PurePosixPath(upload.name).name)  # 415 if unsupported
    incoming = sum(upload.size for upload, _ in files)
    with c.quotas.reserve(collection=collection, key_id=caller.key_id, incoming=incoming):
        return [
            _submit(request, c, caller, upload, collection, source, access)
            for upload, source in files
        ]


def _submit(
    request: Request,
    c: Container,
    caller: Principal,
    upload: UploadedFile,
    collection: str,
    source: str,
    access: tuple[str, ...] | None = None,
) -> dict[str, object]:
    document_id = document_id_for(collection, source)
    previous = c.tables.get_document(document_id)
    if previous is not None and not caller.may_see(previous.access):
        # The name is taken by a file this key may not see: it may neither replace it nor
        # learn more than that the name is taken.
        raise ForbiddenError(f"{source!r} names a file this key may not change: use another name")
    blob = c.blobs.put(upload.read())
    if previous is not None and previous.sha256 == blob:
        version = previous.version
    else:
        version = (previous.version if previous else 0) + 1
    if access is None:
        access = previous.access if previous else ()
    job = c.jobs.submit(
        document_id=document_id,
        collection=collection,
        source=source,
        blob=blob,
        version=version,
        access=access,
    )
    c.jobs.set_access(document_id, access)
    c.quotas.ledger.record(document_id, version, caller.key_id, upload.size)
    request.app.state.runner.wake()
    return {
        "document_id": document_id,
        "version": version,
        "job_id": job.job_id,
        "collection": collection,
        "source": source,
        "size": upload.size,
        "access": list(access),
    }


@router.post(
    "/files",
    status_code=202,
    responses={202: {"model": schemas.UploadOut}},
    openapi_extra=schemas.upload_body(many=True),
)
async def upload_files(
    request: Request, c: ContainerDep, caller: Principal = deps.Writer
) -> JSONResponse:
    """Store one or many files (multipart) and queue their ingestion."""
    async with receive_upload(request, UploadLimits.of(c.settings.server)) as upload:
        collection = upload.fields.get("collection") or (
            caller.collections[0] if caller.collections else c.settings.collection
        )
        caller.require_collection(collection)
        source = upload.fields.get("source")
        if source and len(upload.files) > 1:
            raise ApiError(
                "invalid_request", "'source' names one file: upload the files one by one"
            )
        files = [(f, source or f.name) for f in upload.files]
        access = _access_field(upload.fields)
        accepted = await run_in_threadpool(_accept, request, c, caller, files, collection, access)
    return JSONResponse({"files": accepted}, status_code=202)


@router.get("/files", response_model=None, responses=schemas.ok(schemas.FileList))
def list_files(
    c: ContainerDep,
    caller: Principal = deps.Reader,
    collection: str | None = None,
    status: str | None = Query(None, pattern="^(ready|processing|failed)$"),
    q: str | None = Query(None, description="substring of the source path"),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, object]:
    scope = caller.visible([collection] if collection else [])
    records = {
        r.document_id: r
        for r in c.tables.read_documents()
        if (not scope or r.collection in scope) and caller.may_see(r.access)
    }
    latest: dict[str, Job] = {}
    for found in c.jobs.pending()[::-1] + c.jobs.find(state="failed", collections=scope, limit=500):
        if _cancelled(found):
            continue
        if not caller.may_see(found.access):
            continue
        if (not scope or found.collection in scope) and found.document_id not in latest:
            latest[found.document_id] = found
    items = []
    for document_id in sorted(set(records) | set(latest)):
        record = records.get(document_id)
        job: Job | None = latest.get(document_id)
        if (
            record is not None
            and job is not None
            and job.state == "failed"
            and (job.updated < _timestamp(record.updated_at))
        ):
            job = None  # an old failure, superseded by a later success
        items.append(file_payload(record, job))
    if status:
        items = [i for i in items if i["status"] == status]
    if q:
        items = [i for i in items if q.lower() in str(i["source"]).lower()]
    items.sort(key=lambda i: str(i.get("updated_at") or ""), reverse=True)
    return {"files": items[offset : offset + limit], "total": len(items)}


@router.get("/files/{document_id}", response_model=None, responses=schemas.ok(schemas.FileOut))
def get_file(
    c: ContainerDep, document_id: str, caller: Principal = deps.Reader
) -> dict[str, object]:
    record = _visible_record(c, caller, document_id)
    jobs = [j for j in c.jobs.find(document_id=document_id, limit=100) if _visible_job(caller, j)]
    # Without a live version, the file exists only while its first ingestion is queued,
    # running, or failed; after a delete its old jobs do not bring it back.
    if record is None and (not jobs or jobs[0].state == "succeeded" or _cancelled(jobs[0])):
        raise _not_found(document_id)
    body = file_payload(record, jobs[0] if jobs else None)
    body["versions"] = [
        {"version": j.version, "job_id": j.job_id, "state": j.state, "outcome": j.outcome,
         "created": j.created}
        for j in jobs
    ]  # fmt: skip
    return body


@router.get("/files/{document_id}/content", response_model=None, responses=_CONTENT)
def get_content(
    request: Request, c: ContainerDep, document_id: str, caller: Principal = deps.Reader
) -> Response:
    record = _visible_record(c, caller, document_id)
    if record is None:
        raise _not_found(document_id)
    etag = f'"{record.sha256}"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    headers["Content-Disposition"] = content_disposition(PurePosixPath(record.source).name)
    headers["X-Content-Type-Options"] = "nosniff"
    return Response(c.blobs.get(record.sha256), media_type=record.media_type, headers=headers)


@router.put(
    "/files/{document_id}",
    status_code=202,
    responses={202: {"model": schemas.Accepted}},
    openapi_extra=schemas.upload_body(many=False),
)
async def replace_file(
    request: Request, c: ContainerDep, document_id: str, caller: Principal = deps.Writer
) -> JSONResponse:
    """A new version of the file, under the same id."""
    record = await run_in_threadpool(_visible_record, c, caller, document_id)
    if record is None:  # checked before a byte of the body is read
        raise _not_found(document_id)
    async with receive_upload(request, UploadLimits.of(c.settings.server)) as upload:
        if len(upload.files) != 1:
            raise ApiError("invalid_request", "replace one file at a time")
        files = [(upload.files[0], record.source)]
        access = _access_field(upload.fields)
        accepted = await run_in_threadpool(
            _accept, request, c, caller, files, record.collection, access
        )
    return JSONResponse(accepted[0], status_code=202)


@router.delete("/files/{document_id}", response_model=None, responses=schemas.ok(schemas.Deleted))
def delete_file(
    c: ContainerDep, document_id: str, caller: Principal = deps.Writer
) -> dict[str, object]:
    if not _DOCUMENT_ID.match(document_id):
        raise _not_found(document_id)
    record = c.tables.get_document(document_id)
    latest = _latest_job(c, document_id)
    # The file's collection, from its live version or its jobs: checked before anything is
    # cancelled, so a key never touches, nor learns of, a file in a collection it may not use.
    collection = record.collection if record else latest.collection if latest else None
    access = record.access if record else latest.access if latest else ()
    if collection is None or not caller.allows(collection) or not caller.may_see(access):
        raise _not_found(document_id)
    cancelled = c.jobs.cancel(document_id)
    if record is None:
        if cancelled:
            return {"deleted": document_id, "cancelled_jobs": cancelled}
        raise _not_found(document_id)
    c.ingestion.delete(document_id)
    return {"deleted": document_id, "version": record.version, "cancelled_jobs": cancelled}


@router.get("/jobs", response_model=None, responses=schemas.ok(schemas.JobList))
def list_jobs(
    c: ContainerDep,
    caller: Principal = deps.Reader,
    state: str | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, object]:
    if state is not None and state not in STATES:
        raise ApiError("invalid_request", f"state must be one of {', '.join(STATES)}")
    jobs = c.jobs.find(
        state=state,
        collections=caller.collections,
        principals=caller.principals,
        limit=limit,
        offset=offset,
    )
    counts = _job_counts(c, caller.collections, caller.principals)
    return {"jobs": [job_payload(j) for j in jobs], "counts": counts}


@router.get("/jobs/{job_id}", response_model=None, responses=schemas.ok(schemas.JobOut))
def get_job(c: ContainerDep, job_id: str, caller: Principal = deps.Reader) -> dict[str, object]:
    job = c.jobs.get(job_id)
    if job is None or not _visible_job(caller, job):
        raise DocumentNotFoundError(f"no job {job_id!r}: GET /v1/jobs lists them")
    return job_payload(job)


def _job_counts(
    c: Container, collections: tuple[str, ...], principals: tuple[str, ...] | None = None
) -> dict[str, int]:
    """Jobs by state, over the collections (none: all of them) and files a key may see."""
    if not collections and principals is None:
        return c.jobs.counts()
    counts = dict.fromkeys(STATES, 0)
    page = 1000
    for state in STATES:
        offset = 0
        while found := len(
            c.jobs.find(
                state=state,
                collections=collections,
                principals=principals,
                limit=page,
                offset=offset,
            )
        ):
            counts[state] += found
            offset += page
            if found < page:
                break
    return counts


def content_disposition(name: str) -> str:
    """An attachment header for any file name: an ASCII fallback, and the name itself as
    UTF-8 (RFC 6266, RFC 8187), which every current browser uses."""
    name = "".join(ch for ch in name if ch.isprintable()) or "download"
    fallback = "".join(ch if ch.isascii() and ch not in '"\\' else "_" for ch in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _cancelled(job: Job) -> bool:
    return job.state == "failed" and (job.error or "").startswith("cancelled")


def _timestamp(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()
