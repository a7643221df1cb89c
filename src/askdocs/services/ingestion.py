"""Ingestion: files -> blob store -> parse -> chunk -> embed -> Delta, skipping unchanged files.

Files are committed in groups: one append of all the group's chunks, then one merge of its
document rows (the atomic switch), then one delete of the versions they replace. A file whose
bytes are unchanged but whose access list changed is a metadata-only update: its documents row
is rewritten in the same merge, at the same version, and nothing is parsed or embedded.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from askdocs.cache.base import AnswerCache, EmbeddingCache
from askdocs.chunk import chunk_document, embedding_text
from askdocs.embed.base import Embedder
from askdocs.errors import (
    AskdocsError,
    DocumentNotFoundError,
    EmbeddingModelMismatchError,
)
from askdocs.models import Chunk, DocumentRecord
from askdocs.parse.sandbox import ParseSandbox
from askdocs.services.sources import discover, document_id_for
from askdocs.services.versions import IngestOutcome, Prepared, rebase, relabel
from askdocs.settings import ChunkSettings, ParseSettings
from askdocs.storage.blobs import LocalBlobStore, StoredBlob, sha256_hex
from askdocs.storage.tables import DeltaTables

__all__ = ["IngestOutcome", "IngestionService", "discover", "document_id_for"]

log = logging.getLogger("askdocs.ingest")

PARSER_VERSION = "2"
_GROUP_CHUNKS = 256
_GROUP_FILES = 64
_PROGRESS_STEP = 64
# Passages embedded and appended to the chunks table at a time.
_APPEND_CHUNKS = 1024

Progress = Callable[["IngestOutcome", int], None]
# Chunks embedded so far and in all, for a job's progress while one big file is embedded.
ChunkProgress = Callable[[int, int], None]
# True once the caller has given up on the file (its job was cancelled).
Cancelled = Callable[[], bool]


class IngestionService:
    """Turns files into live, searchable document versions."""

    def __init__(
        self,
        blobs: LocalBlobStore,
        tables: DeltaTables,
        embedder: Embedder,
        embed_cache: EmbeddingCache,
        chunking: ChunkSettings,
        data_dir: Path,
        answer_cache: AnswerCache | None = None,
        parser: ParseSandbox | None = None,
    ) -> None:
        self.data_dir = data_dir
        self._swept = False
        # Without a sandbox, files are parsed in this process (trusted files, unit tests).
        self._parser = parser or ParseSandbox(ParseSettings(processes=0))
        self._answers = answer_cache
        self._blobs = blobs
        self._tables = tables
        self._embedder = embedder
        self._cache = embed_cache
        self._chunking = chunking
        self.pipeline = hashlib.sha256(
            f"parse{PARSER_VERSION}/{chunking.model_dump_json()}/{embedder.model_id}".encode()
        ).hexdigest()[:16]

    # -- public -----------------------------------------------------------------------------

    def ingest_paths(
        self,
        paths: Sequence[Path],
        *,
        collection: str,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        progress: Progress | None = None,
        access: Mapping[Path, Sequence[str]] | None = None,
    ) -> list[IngestOutcome]:
        files, missing = self.find_files(paths, include=include, exclude=exclude)
        return missing + self.ingest_files(
            files, collection=collection, progress=progress, access=access
        )

    def find_files(
        self, paths: Sequence[Path], *, include: Sequence[str] = (), exclude: Sequence[str] = ()
    ) -> tuple[list[Path], list[IngestOutcome]]:
        """The files ``paths`` name (folders walked), and a failure for each missing path."""
        missing = [
            IngestOutcome(str(p), "failed", error="no such file or folder")
            for p in paths
            if not p.exists()
        ]
        files = discover([p for p in paths if p.exists()], include, exclude, [self.data_dir])
        return files, missing

    def ingest_files(
        self,
        files: Sequence[Path],
        *,
        collection: str,
        progress: Progress | None = None,
        access: Mapping[Path, Sequence[str]] | None = None,
    ) -> list[IngestOutcome]:
        """Ingest files found by ``find_files``. ``access`` gives files their access lists;
        a file it does not name keeps the one it has (a new file: open to everyone)."""
        given = access or {}
        return self._ingest(
            ((str(f), f.read_bytes, _access_of(given.get(f))) for f in files),
            collection=collection,
            progress=progress,
        )

    def ingest_bytes(
        self,
        data: bytes,
        *,
        source: str,
        collection: str,
        chunk_progress: ChunkProgress | None = None,
        cancelled: Cancelled | None = None,
        access: Sequence[str] | None = None,
    ) -> IngestOutcome:
        """Ingest one file; ``cancelled`` is polled while it parses (``ParseCancelled`` ends
        the parse), ``chunk_progress`` may raise to stop it between embedding steps.
        ``access``: its access list (None: keep the one it has)."""
        return self._ingest(
            [(source, lambda: data, _access_of(access))],
            collection=collection,
            chunk_progress=chunk_progress,
            cancelled=cancelled,
        )[0]

    def ingest_blob(
        self,
        digest: str,
        *,
        source: str,
        collection: str,
        chunk_progress: ChunkProgress | None = None,
        cancelled: Cancelled | None = None,
        access: Sequence[str] | None = None,
    ) -> IngestOutcome:
        """``ingest_bytes`` for a file already in the blob store: its bytes go from disk to
        the parse process without passing through this one (an upload job's path)."""
        return self._ingest(
            [(source, lambda: self._blobs.stored(digest), _access_of(access))],
            collection=collection,
            chunk_progress=chunk_progress,
            cancelled=cancelled,
        )[0]

    def delete(self, document_id: str) -> DocumentRecord:
        record = self._tables.get_document(document_id)
        if record is None:
            raise DocumentNotFoundError(
                f"no document {document_id!r}: `askdocs documents` lists the ids"
            )
        self._tables.delete_document(document_id)  # invisible from here on
        self._forget_answers([document_id])
        self._tables.delete_chunks(document_id)
        return record

    def _forget_answers(self, document_ids: list[str]) -> None:
        """Cached answers that quoted these documents go too: their text must not live on."""
        if self._answers is not None and document_ids:
            self._answers.purge_documents(document_ids)

    def delete_source(self, source: str, collection: str) -> DocumentRecord:
        return self.delete(document_id_for(collection, source))

    # -- pipeline ---------------------------------------------------------------------------

    def _ingest(
        self,
        files: Iterable[tuple[str, Callable[[], bytes | StoredBlob], tuple[str, ...] | None]],
        *,
        collection: str,
        progress: Progress | None = None,
        chunk_progress: ChunkProgress | None = None,
        cancelled: Cancelled | None = None,
    ) -> list[IngestOutcome]:
        known = {d.document_id: d for d in self._tables.read_documents()}
        self._check_model(known.values())
        if not self._swept:
            self._sweep(known)
        outcomes: list[IngestOutcome] = []
        group: list[Prepared] = []

        def flush() -> None:
            for outcome in self._commit(group, chunk_progress):
                outcomes.append(outcome)
                if progress:
                    progress(outcome, outcome.chunks)
            group.clear()

        for source, read, access in files:
            try:
                prepared = self._prepare(read(), source, collection, known, cancelled, access)
            except (AskdocsError, OSError) as exc:
                outcome = IngestOutcome(source, "failed", error=_reason(exc))
                outcomes.append(outcome)
                if progress:
                    progress(outcome, 0)
                continue
            if isinstance(prepared, IngestOutcome):
                outcomes.append(prepared)
                if progress:
                    progress(prepared, 0)
                continue
            group.append(prepared)
            known[prepared.record.document_id] = prepared.record
            if len(group) >= _GROUP_FILES or sum(len(p.chunks) for p in group) >= _GROUP_CHUNKS:
                flush()
        if group:
            flush()
        return outcomes

    def _sweep(self, known: dict[str, DocumentRecord]) -> None:
        """Once per process: delete rows of versions a crash left behind after the switch."""
        superseded = self._tables.superseded_chunks({d: r.version for d, r in known.items()})
        if superseded:
            log.info("removing chunk rows of %d superseded document version(s)", len(superseded))
            self._tables.delete_chunks_where(superseded)
        self._swept = True

    def _check_model(self, records: Iterable[DocumentRecord]) -> None:
        for record in records:
            if record.embed_model != self._embedder.model_id:
                raise EmbeddingModelMismatchError(
                    f"this data dir holds vectors of {record.embed_model!r}, and the configured "
                    f"embedder is {self._embedder.model_id!r}; one index cannot mix models. "
                    "Use another data dir (ASKDOCS_DATA_DIR) for the other model."
                )

    def _prepare(
        self,
        content: bytes | StoredBlob,
        source: str,
        collection: str,
        known: dict[str, DocumentRecord],
        cancelled: Cancelled | None = None,
        access: tuple[str, ...] | None = None,
    ) -> Prepared | IngestOutcome:
        document_id = document_id_for(collection, source)
        previous = known.get(document_id)
        if isinstance(content, StoredBlob):
            digest, size = content.digest, content.size
        else:
            digest, size = sha256_hex(content), len(content)
        if previous and previous.sha256 == digest and previous.pipeline == self.pipeline:
            if access is None or access == previous.access:
                return IngestOutcome(
                    source, "unchanged", document_id, previous.version, previous.chunk_count
                )
            return relabel(previous, access)
        readable = content.path if isinstance(content, StoredBlob) else content
        parsed = self._parser.parse(readable, Path(source).name, cancelled)
        if not isinstance(content, StoredBlob):
            self._blobs.put(content)
        version = previous.version + 1 if previous else 1
        spans = chunk_document(
            parsed, self._embedder.token_spans, self._embedder.max_tokens, self._chunking
        )
        chunks = []
        for ordinal, span in enumerate(spans):
            text = parsed.text[span.start : span.end]
            chunks.append(
                Chunk(
                    chunk_id=f"{document_id}-{version}-{ordinal}",
                    document_id=document_id,
                    version=version,
                    collection=collection,
                    source=source,
                    ordinal=ordinal,
                    text=text,
                    text_sha256=sha256_hex(embedding_text(text, span.heading).encode()),
                    start=span.start,
                    end=span.end,
                    page=span.page,
                    heading=span.heading,
                )
            )
        now = datetime.now(UTC).isoformat(timespec="seconds")
        record = DocumentRecord(
            document_id=document_id,
            collection=collection,
            source=source,
            version=version,
            sha256=digest,
            media_type=parsed.media_type,
            size=size,
            chunk_count=len(chunks),
            status="ready",
            pipeline=self.pipeline,
            embed_model=self._embedder.model_id,
            created_at=previous.created_at if previous else now,
            updated_at=now,
            access=(previous.access if previous else ()) if access is None else access,
        )
        return Prepared(record, chunks, "updated" if previous else "added")

    def _embed(self, chunks: list[Chunk], progress: ChunkProgress | None = None) -> np.ndarray:
        model = self._embedder.model_id
        digests = [c.text_sha256 for c in chunks]
        cached = self._cache.get_many(model, list(dict.fromkeys(digests)))
        todo = {c.text_sha256: c for c in chunks if c.text_sha256 not in cached}
        texts = [embedding_text(c.text, c.heading) for c in todo.values()]
        # With a progress callback, embed in steps so a job can report chunks done.
        step = max(1, len(texts) if progress is None else _PROGRESS_STEP)
        total, keys = len(cached) + len(texts), list(todo)
        for start in range(0, len(texts), step):
            fresh = self._embedder.embed(texts[start : start + step])
            new = dict(zip(keys[start : start + step], fresh, strict=True))
            self._cache.put_many(model, new)
            cached.update(new)
            if progress is not None:
                progress(len(cached), total)
        out = np.zeros((len(chunks), self._embedder.dimension), dtype=np.float32)
        for i, digest in enumerate(digests):
            out[i] = cached[digest]
        return out

    def _commit(
        self, group: list[Prepared], progress: ChunkProgress | None = None
    ) -> list[IngestOutcome]:
        # One writer at a time per data dir, across processes (two `askdocs ingest` runs, the
        # server's workers): each group re-reads the documents it would replace under the lock.
        with self._writer_lock():
            settled: list[IngestOutcome] = []
            pending: list[Prepared] = []
            current = {d.document_id: d for d in self._tables.read_documents()}
            for prepared in group:
                rebased = rebase(prepared, current.get(prepared.record.document_id))
                if isinstance(rebased, IngestOutcome):
                    settled.append(rebased)
                else:
                    pending.append(rebased)
            return settled + self._write(pending, progress)

    @contextmanager
    def _writer_lock(self) -> Iterator[None]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with (self.data_dir / "ingest.lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _write(
        self, group: list[Prepared], progress: ChunkProgress | None = None
    ) -> list[IngestOutcome]:
        if not group:
            return []
        chunks = [c for p in group for c in p.chunks]
        ids = [p.record.document_id for p in group]
        try:
            # Rows of a crashed earlier attempt at the same version must not come back to life
            # (a relabelled document keeps its version and its rows).
            self._tables.delete_chunks_where(
                [
                    (d, p.record.version, ">=")
                    for d, p in zip(ids, group, strict=True)
                    if p.status != "relabelled"
                ]
            )
            # A big file is embedded and appended a slice at a time, so its vectors are never
            # all in memory; the slices stay invisible until the documents' rows switch below.
            for start in range(0, len(chunks), _APPEND_CHUNKS):
                part = chunks[start : start + _APPEND_CHUNKS]
                vectors = self._embed(part, _offset(progress, start, len(chunks)))
                self._tables.append_chunks(part, vectors, self._embedder.model_id)
            self._tables.commit_documents([p.record for p in group])  # the atomic switch
            # Answers built on a document's old text, or under its old access list, go.
            self._forget_answers([p.record.document_id for p in group if p.status != "added"])
        except (AskdocsError, OSError) as exc:
            return [
                IngestOutcome(
                    p.record.source,
                    "failed",
                    p.record.document_id,
                    error=_reason(exc),
                    retryable=isinstance(exc, OSError),
                )
                for p in group
            ]
        superseded = [
            (d, p.record.version, "<")
            for d, p in zip(ids, group, strict=True)
            if p.status == "updated"
        ]
        try:
            self._tables.delete_chunks_where(superseded)
        except (AskdocsError, OSError) as exc:
            # The new versions are live; the old rows are invisible and the next sweep goes.
            log.warning("could not remove superseded chunk rows yet: %s", exc)
        return [
            IngestOutcome(
                p.record.source,
                "updated" if p.status == "relabelled" else p.status,
                p.record.document_id,
                p.record.version,
                p.record.chunk_count,
            )
            for p in group
        ]


def _access_of(access: Sequence[str] | None) -> tuple[str, ...] | None:
    return None if access is None else tuple(sorted(set(access)))


def _offset(progress: ChunkProgress | None, done: int, total: int) -> ChunkProgress | None:
    """A slice's progress as progress through the whole file."""
    if progress is None:
        return None
    return lambda slice_done, _: progress(done + slice_done, total)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, AskdocsError):
        return str(exc)
    if isinstance(exc, OSError):
        return f"could not read the file: {exc.strerror or exc}"
    return str(exc)
