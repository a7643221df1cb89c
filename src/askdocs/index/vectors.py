"""Exact vector search over an in-memory float32 matrix, refreshed from the SQLite index."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from askdocs.index.ann import IvfIndex

# The access list of a row without a document: no principal is the empty string.
_NOBODY = frozenset({""})
# Rows summed at once when building document centroids (~25 MB of float32 at 384 dimensions).
_CENTROID_BLOCK = 16_384


class VectorMatrix:
    """Rows appended in rowid order; live rows, their collections and their documents' access
    lists are re-read on refresh.

    Past ``ann_threshold`` live rows, searches go through an IVF index built on first use.
    """

    def __init__(self, dimension: int, *, ann_threshold: int = 100_000) -> None:
        self.dimension = dimension
        self.ann_threshold = ann_threshold
        self.clear()

    def clear(self) -> None:
        self._matrix = np.zeros((0, self.dimension), dtype=np.float32)
        self._rowids = np.zeros(0, dtype=np.int64)
        self._n = 0
        self._live = np.zeros(0, dtype=bool)
        self._collection = np.zeros(0, dtype=np.int32)
        self._codes: dict[str, int] = {}
        # Row -> its document's access list, as a code into ``_lists`` (-1: not live).
        self._access = np.zeros(0, dtype=np.int32)
        self._lists: dict[str, int] = {}
        self._list_members: list[frozenset[str]] = []
        self._penalty = np.zeros(0, dtype=np.float32)  # log(1 + passages in the document)
        self._document = np.full(0, -1, dtype=np.int64)  # row -> its document's centroid
        # (the row -> document array they were built for, document centroids), on first use
        self._centroids: tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]] | None = None
        self._ann: IvfIndex | None = None

    @property
    def size(self) -> int:
        return int(self._live[: self._n].sum()) if self._n else 0

    def refresh(self, db: sqlite3.Connection) -> None:
        """Load rows added since the last refresh and re-read which rows are live."""
        last = int(self._rowids[self._n - 1]) if self._n else 0
        new = db.execute(
            "SELECT rowid, vector FROM passages WHERE rowid > ? ORDER BY rowid", (last,)
        ).fetchall()
        if new:
            self._append(new)
        live_rows = db.execute(
            "SELECT p.rowid, p.collection, p.document_id, d.access FROM passages p"
            " LEFT JOIN docs d ON d.document_id = p.document_id WHERE p.live = 1"
        ).fetchall()
        live = np.zeros(self._n, dtype=bool)
        collection = np.full(self._n, -1, dtype=np.int32)
        access = np.full(self._n, -1, dtype=np.int32)
        document = np.full(self._n, -1, dtype=np.int64)
        penalty = np.zeros(self._n, dtype=np.float32)
        if live_rows:
            ids = np.fromiter((r[0] for r in live_rows), dtype=np.int64, count=len(live_rows))
            pos = np.searchsorted(self._rowids[: self._n], ids)
            live[pos] = True
            collection[pos] = [self._codes.setdefault(r[1], len(self._codes)) for r in live_rows]
            access[pos] = [self._list_code(r[3]) for r in live_rows]
            documents: dict[str, int] = {}
            document[pos] = [documents.setdefault(r[2], len(documents)) for r in live_rows]
            penalty[pos] = np.log1p(np.bincount(document[pos])[document[pos]])
        self._live, self._collection, self._access = live, collection, access
        self._penalty, self._document = penalty, document
        # Rows deleted from the index stay in memory until they are a third of it.
        if self._n > 1000 and live.sum() < self._n * 2 / 3:
            self.clear()
            self.refresh(db)

    def _append(self, rows: list[tuple[int, bytes]]) -> None:
        need = self._n + len(rows)
        if need > len(self._matrix):
            grown = np.zeros((max(need, 2 * len(self._matrix), 1024), self.dimension), np.float32)
            grown[: self._n] = self._matrix[: self._n]
            ids = np.zeros(len(grown), dtype=np.int64)
            ids[: self._n] = self._rowids[: self._n]
            self._matrix, self._rowids = grown, ids
        block = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
        self._matrix[self._n : need] = block.reshape(len(rows), self.dimension)
        self._rowids[self._n : need] = [r[0] for r in rows]
        if self._ann is not None:
            self._ann.add(self._matrix[self._n : need], self._rowids[self._n : need])
        self._n = need

    def _list_code(self, access: str | None) -> int:
        """The code of an access list (JSON text, as the index stores it). A row whose
        document has no row yet (None) is visible to no one who acts for principals."""
        key = "null" if access is None else access
        code = self._lists.get(key)
        if code is None:
            code = self._lists[key] = len(self._list_members)
            members = frozenset(json.loads(access)) if access is not None else _NOBODY
            self._list_members.append(members)
        return code

    def _mask(
        self, collections: Sequence[str] | None, principals: Sequence[str] | None = None
    ) -> npt.NDArray[np.bool_]:
        mask = self._live
        if collections:
            codes = [self._codes[c] for c in collections if c in self._codes]
            mask = mask & np.isin(self._collection, codes)
        if principals is not None:
            # One flag per distinct access list (few), then one gather over the rows.
            acting = frozenset(principals)
            members = self._list_members
            visible = np.fromiter(
                (not m or not m.isdisjoint(acting) for m in members), bool, count=len(members)
            )
            access = self._access
            mask = mask & np.append(visible, False)[access]  # -1 (not live) reads False
        return mask

    def allowed(
        self,
        rowids: Sequence[int],
        collections: Sequence[str] | None,
        principals: Sequence[str] | None = None,
    ) -> list[bool]:
        """Whether each row is live (and in one of ``collections``, when given, and visible to
        ``principals``, when not None)."""
        if not rowids or not self._n:
            return [False] * len(rowids)
        ids = np.asarray(rowids, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self._rowids[: self._n], ids), self._n - 1)
        found = self._rowids[pos] == ids
        return [bool(b) for b in found & self._mask(collections, principals)[pos]]

    def search(
        self,
        query: npt.NDArray[np.float32],
        collections: Sequence[str] | None,
        n: int,
        *,
        length_prior: float = 0.0,
        principals: Sequence[str] | None = None,
    ) -> list[tuple[int, float]]:
        """The ``n`` best rows with their cosine, best first. With ``length_prior``, rows are
        chosen by cosine minus ``length_prior * log(1 + passages in their document)``, so short
        documents are not crowded out of the candidates by long ones; the row with the best
        plain cosine is always kept (abstention reads it)."""
        if not self._n:
            return []
        mask = self._mask(collections, principals)
        if int(mask.sum()) > self.ann_threshold:
            found = self._search_ann(query, mask, n, length_prior)
            if found is not None:
                return found
        scores = self._matrix[: self._n] @ query
        scores = np.where(mask, scores, -np.inf)
        keys = scores - length_prior * self._penalty[: self._n] if length_prior else scores
        n = min(n, self._n)
        top = np.argpartition(-keys, n - 1)[:n]
        top = top[np.argsort(-keys[top])]
        if length_prior and (best := int(np.argmax(scores))) not in top:
            top = np.append(top, best)
        return [(int(self._rowids[i]), float(scores[i])) for i in top if np.isfinite(scores[i])]

    def _search_ann(
        self,
        query: npt.NDArray[np.float32],
        mask: npt.NDArray[np.bool_],
        n: int,
        length_prior: float,
    ) -> list[tuple[int, float]] | None:
        if self._ann is None:
            self._ann = IvfIndex(self._matrix[: self._n], self._rowids[: self._n])
        # Over-fetch, since dead rows and other collections are filtered out afterwards, and
        # more with the prior, which can only reorder what the IVF index returns.
        share = max(float(mask.sum()) / self._n, 1e-3)
        wanted = n * 4 if length_prior else n
        ids, scores = self._ann.search(query, min(int(wanted / share * 1.5) + 10, self._n))
        pos = np.searchsorted(self._rowids[: self._n], ids)
        keep = mask[pos]
        if int(keep.sum()) < n:
            return None  # too few survivors: let exact search answer
        ids, scores, pos = ids[keep], scores[keep], pos[keep]
        if length_prior:
            # Reorder what the IVF index found; the best plain cosine stays first in line.
            keys = scores - length_prior * self._penalty[pos]
            order = np.argsort(-keys, kind="stable")[:n]
            if 0 not in order:
                order = np.append(order, 0)
            ids, scores = ids[order], scores[order]
        else:
            ids, scores = ids[:n], scores[:n]
        return [(int(r), float(s)) for r, s in zip(ids, scores, strict=True)]

    def scores(self, query: npt.NDArray[np.float32], rowids: Sequence[int]) -> list[float]:
        if not rowids:
            return []
        pos = np.searchsorted(self._rowids[: self._n], np.asarray(rowids, dtype=np.int64))
        return [float(s) for s in self._matrix[pos] @ query]

    def document_adjustments(
        self,
        query: npt.NDArray[np.float32],
        rowids: Sequence[int],
        *,
        document_weight: float,
        length_prior: float,
    ) -> list[float]:
        """What each row's document adds to its score: ``document_weight`` x the query's cosine
        with the document's normalised mean passage, minus ``length_prior`` x log(1 + passages
        in the document); 0.0 for a row that is not live."""
        if not rowids or not self._n:
            return [0.0] * len(rowids)
        codes, penalty = self._document, self._penalty  # a refresh may replace them meanwhile
        pos = np.searchsorted(self._rowids[: len(codes)], np.asarray(rowids, dtype=np.int64))
        pos = np.minimum(pos, len(codes) - 1)
        document = codes[pos]
        live = document >= 0
        out = np.zeros(len(rowids), dtype=np.float32)
        if document_weight:
            centroids = self._document_centroids(codes)
            out[live] = document_weight * (centroids[document[live]] @ query)
        out[live] -= length_prior * penalty[pos[live]]
        return [float(v) for v in out]

    def _document_centroids(self, codes: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """Each document's mean passage vector, normalised, by document code; built once for
        each refresh's ``codes``."""
        built = self._centroids
        if built is not None and built[0] is codes:
            return built[1]
        rows = np.flatnonzero(codes >= 0)
        rows = rows[np.argsort(codes[rows], kind="stable")]
        sums = np.zeros((int(codes.max(initial=-1)) + 1, self.dimension), dtype=np.float32)
        # Sorted by document, summed a block of rows at a time (bounded memory); a document cut
        # by a block boundary gets its two partial sums added.
        for start in range(0, len(rows), _CENTROID_BLOCK):
            block = rows[start : start + _CENTROID_BLOCK]
            block_codes = codes[block]
            firsts = np.flatnonzero(np.r_[True, block_codes[1:] != block_codes[:-1]])
            np.add.at(
                sums, block_codes[firsts], np.add.reduceat(self._matrix[block], firsts, axis=0)
            )
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        centroids: npt.NDArray[np.float32] = (sums / np.maximum(norms, 1e-12)).astype(np.float32)
        self._centroids = (codes, centroids)
        return centroids
