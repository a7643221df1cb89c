"""What one file's ingestion produced, and how it is rebased on what another writer committed
since it was prepared (under the data dir's writer lock, services/ingestion.py)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime

from askdocs.models import Chunk, DocumentRecord

MOVED = "the file changed while its access list was being set: send it again"


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    """What happened to one file."""

    source: str
    status: str  # added | updated | unchanged | failed
    document_id: str | None = None
    version: int | None = None
    chunks: int = 0
    error: str | None = None
    # A storage hiccup (disk full, lock timeout) that may pass; a parse error never does.
    retryable: bool = False


@dataclass(slots=True)
class Prepared:
    record: DocumentRecord
    chunks: list[Chunk]
    status: str  # added | updated | relabelled (same version, a new access list)


def relabel(current: DocumentRecord, access: tuple[str, ...]) -> Prepared:
    """A metadata-only update: the live version under a new access list."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    return Prepared(dataclasses.replace(current, access=access, updated_at=now), [], "relabelled")


def rebase(prepared: Prepared, current: DocumentRecord | None) -> Prepared | IngestOutcome:
    """``prepared`` against the document's state now: another writer may have committed it
    since it was read. The same content is then unchanged; other content becomes the version
    after the one now live."""
    record = prepared.record
    if prepared.status == "relabelled":
        if current is None or (current.sha256, current.pipeline) != (
            record.sha256,
            record.pipeline,
        ):
            # Deleted or replaced meanwhile: the access list goes with the bytes it was for.
            return IngestOutcome(record.source, "failed", record.document_id, error=MOVED)
        if current.access == record.access:
            return IngestOutcome(
                record.source, "unchanged", record.document_id, current.version,
                current.chunk_count,
            )  # fmt: skip
        return relabel(current, record.access)
    if current is None:
        return (
            prepared if prepared.status == "added" else renumber(prepared, record.version, "added")
        )
    if current.version < record.version:
        return prepared
    if current.sha256 == record.sha256 and current.pipeline == record.pipeline:
        if current.access != record.access:
            return relabel(current, record.access)
        return IngestOutcome(
            record.source, "unchanged", record.document_id, current.version, current.chunk_count
        )
    rebased = renumber(prepared, current.version + 1, "updated")
    rebased.record = dataclasses.replace(rebased.record, created_at=current.created_at)
    return rebased


def renumber(prepared: Prepared, version: int, status: str) -> Prepared:
    document_id = prepared.record.document_id
    chunks = [
        dataclasses.replace(c, version=version, chunk_id=f"{document_id}-{version}-{c.ordinal}")
        for c in prepared.chunks
    ]
    return Prepared(dataclasses.replace(prepared.record, version=version), chunks, status)
