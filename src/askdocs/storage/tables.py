"""The Delta tables `documents` and `chunks` (with vectors): askdocs' source of truth.

A document version becomes visible in one commit: its chunks are appended first (invisible,
because the `documents` row still names the old version), then the `documents` row is
upserted in a single merge. Readers resolve visibility from one `documents` snapshot, so they
see the old version or the new one, never both or half.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError

from askdocs.embed.base import Vectors
from askdocs.models import Chunk, DocumentRecord

DOCUMENTS_SCHEMA = pa.schema(
    [
        ("document_id", pa.string()),
        ("collection", pa.string()),
        ("source", pa.string()),
        ("version", pa.int64()),
        ("sha256", pa.string()),
        ("media_type", pa.string()),
        ("size", pa.int64()),
        ("chunk_count", pa.int64()),
        ("status", pa.string()),
        ("pipeline", pa.string()),
        ("embed_model", pa.string()),
        ("created_at", pa.string()),
        ("updated_at", pa.string()),
        ("access", pa.list_(pa.string())),
    ]
)
# Columns added since the first release, added to an older table when it is opened.
_ADDED_DOCUMENT_COLUMNS = ("access",)

CHUNKS_SCHEMA = pa.schema(
    [
        ("chunk_id", pa.string()),
        ("document_id", pa.string()),
        ("version", pa.int64()),
        ("collection", pa.string()),
        ("source", pa.string()),
        ("ordinal", pa.int64()),
        ("text", pa.string()),
        ("text_sha256", pa.string()),
        ("start", pa.int64()),
        ("end", pa.int64()),
        ("page", pa.int64()),
        ("heading", pa.list_(pa.string())),
        ("embed_model", pa.string()),
        ("vector", pa.list_(pa.float32())),
    ]
)

_ID = re.compile(r"^[0-9a-f]{8,64}$")
T = TypeVar("T")


def _check_id(document_id: str) -> str:
    # Ids go into Delta predicates; only hex ids exist, so anything else is a bug or an attack.
    if not _ID.match(document_id):
        raise ValueError(f"not a document id: {document_id!r}")
    return document_id


def _retry_commit(action: Callable[[], T], attempts: int = 8) -> T:
    """Run a Delta write, retrying when another writer committed the same version first."""
    for attempt in range(attempts):
        try:
            return action()
        except CommitFailedError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.02 * 2**attempt)
    raise AssertionError("unreachable")


def _record(row: dict[str, object]) -> DocumentRecord:
    """A documents row as a record; rows written before a column existed read it as null."""
    access = row.get("access") or []
    assert isinstance(access, list)
    return DocumentRecord(**(row | {"access": tuple(str(p) for p in access)}))  # type: ignore[arg-type]


class DeltaTables:
    """The two tables under one folder, plus cheap probes for new table versions."""

    def __init__(self, root: Path) -> None:
        self.documents_path = root / "documents"
        self.chunks_path = root / "chunks"
        for path, schema in (
            (self.documents_path, DOCUMENTS_SCHEMA),
            (self.chunks_path, CHUNKS_SCHEMA),
        ):
            if not DeltaTable.is_deltatable(str(path)):
                path.mkdir(parents=True, exist_ok=True)
                DeltaTable.create(
                    str(path),
                    schema,
                    mode="ignore",
                    configuration={"delta.enableChangeDataFeed": "true"},
                )
        self._evolve_documents()

    def _evolve_documents(self) -> None:
        """Add the columns a data dir from an earlier askdocs lacks (schema evolution): old
        rows read them as null, which means the default (an empty access list)."""
        table = DeltaTable(str(self.documents_path))
        present = set(table.schema().to_arrow().names)
        missing = [
            DOCUMENTS_SCHEMA.field(name) for name in _ADDED_DOCUMENT_COLUMNS if name not in present
        ]
        if missing:
            from deltalake.schema import Field

            fields = [Field.from_arrow(f) for f in missing]
            _retry_commit(lambda: DeltaTable(str(self.documents_path)).alter.add_columns(fields))

    # -- versions ---------------------------------------------------------------------------

    @staticmethod
    def probe_version(path: Path, known: int) -> int:
        """Latest committed version at or after ``known``, by looking for the next log files.

        One stat per step, so a reader can ask on every query whether the table moved.
        """
        log = path / "_delta_log"
        while (log / f"{known + 1:020d}.json").exists():
            known += 1
        return known

    def documents_version(self, known: int = -1) -> int:
        if known < 0:
            return DeltaTable(str(self.documents_path)).version()
        return self.probe_version(self.documents_path, known)

    def chunks_version(self, known: int = -1) -> int:
        if known < 0:
            return DeltaTable(str(self.chunks_path)).version()
        return self.probe_version(self.chunks_path, known)

    # -- documents --------------------------------------------------------------------------

    def read_documents(self, version: int | None = None) -> list[DocumentRecord]:
        table = DeltaTable(str(self.documents_path), version=version).to_pyarrow_table()
        return [_record(row) for row in table.to_pylist()]

    def get_document(self, document_id: str) -> DocumentRecord | None:
        _check_id(document_id)
        # The table has one small row per document: a full read beats a filtered scan.
        return next((r for r in self.read_documents() if r.document_id == document_id), None)

    def commit_documents(self, records: Sequence[DocumentRecord]) -> None:
        """Make each record the current state of its document, all in one commit."""
        if not records:
            return
        rows = [dataclasses.asdict(r) | {"access": list(r.access)} for r in records]
        source = pa.Table.from_pylist(rows, DOCUMENTS_SCHEMA)

        def merge() -> None:
            (
                DeltaTable(str(self.documents_path))
                .merge(source, "t.document_id = s.document_id", source_alias="s", target_alias="t")
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute()
            )

        _retry_commit(merge)

    def delete_document(self, document_id: str) -> None:
        predicate = f"document_id = '{_check_id(document_id)}'"
        _retry_commit(lambda: DeltaTable(str(self.documents_path)).delete(predicate))

    # -- chunks -----------------------------------------------------------------------------

    def append_chunks(self, chunks: Sequence[Chunk], vectors: Vectors, embed_model: str) -> None:
        if not chunks:
            return
        table = pa.table(
            {
                "chunk_id": [c.chunk_id for c in chunks],
                "document_id": [c.document_id for c in chunks],
                "version": [c.version for c in chunks],
                "collection": [c.collection for c in chunks],
                "source": [c.source for c in chunks],
                "ordinal": [c.ordinal for c in chunks],
                "text": [c.text for c in chunks],
                "text_sha256": [c.text_sha256 for c in chunks],
                "start": [c.start for c in chunks],
                "end": [c.end for c in chunks],
                "page": [c.page for c in chunks],
                "heading": [list(c.heading) for c in chunks],
                "embed_model": [embed_model] * len(chunks),
                "vector": pa.FixedSizeListArray.from_arrays(
                    pa.array(np.ascontiguousarray(vectors, dtype=np.float32).ravel()),
                    vectors.shape[1],
                ).cast(pa.list_(pa.float32())),
            },
            schema=CHUNKS_SCHEMA,
        )
        _retry_commit(lambda: write_deltalake(str(self.chunks_path), table, mode="append"))

    def delete_chunks(self, document_id: str) -> None:
        predicate = f"document_id = '{_check_id(document_id)}'"
        _retry_commit(lambda: DeltaTable(str(self.chunks_path)).delete(predicate))

    def delete_chunks_where(self, versions: Sequence[tuple[str, int, str]]) -> None:
        """Delete chunks of (document id, version, op) triples, op one of < >= <>; one commit."""
        if not versions:
            return
        clauses = []
        for document_id, version, op in versions:
            if op not in ("<", ">=", "<>"):
                raise ValueError(op)
            clauses.append(
                f"(document_id = '{_check_id(document_id)}' AND version {op} {int(version)})"
            )
        predicate = " OR ".join(clauses)
        _retry_commit(lambda: DeltaTable(str(self.chunks_path)).delete(predicate))

    def superseded_chunks(self, live: dict[str, int]) -> list[tuple[str, int, str]]:
        """(document id, live version, "<") for each document that still has rows of an older
        version: a process killed between the version switch and the old rows' delete leaves
        them behind (invisible, since the documents row names the new version)."""
        table = DeltaTable(str(self.chunks_path)).to_pyarrow_table(
            columns=["document_id", "version"]
        )
        if table.num_rows == 0:
            return []
        oldest = table.group_by("document_id").aggregate([("version", "min")]).to_pylist()
        return [
            (row["document_id"], live[row["document_id"]], "<")
            for row in oldest
            if row["document_id"] in live and row["version_min"] < live[row["document_id"]]
        ]

    def chunk_changes(self, after_version: int, to_version: int) -> pa.Table:
        """Rows inserted or deleted in versions (after_version, to_version], with _change_type."""
        reader = DeltaTable(str(self.chunks_path)).load_cdf(
            starting_version=after_version + 1, ending_version=to_version
        )
        return pa.table(reader)

    def read_chunks(self, version: int | None = None) -> pa.Table:
        return DeltaTable(str(self.chunks_path), version=version).to_pyarrow_table()
