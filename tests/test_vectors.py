"""Vector search: exact and IVF agree; liveness and collection filters hold for both."""

from __future__ import annotations

import sqlite3
from importlib.resources import files

import numpy as np
import pytest

from askdocs.index import vectors
from askdocs.index.vectors import VectorMatrix

DIM = 32


def database(
    vectors: np.ndarray,
    collections: list[str],
    live: list[bool],
    documents: list[str] | None = None,
) -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.executescript(files("askdocs.index").joinpath("schema.sql").read_text())
    documents = documents or ["d"] * len(vectors)
    rows = zip(vectors, collections, live, documents, strict=True)
    for i, (vector, collection, is_live, document) in enumerate(rows):
        db.execute(
            "INSERT INTO passages (rowid, chunk_id, document_id, version, collection, source,"
            ' ordinal, text, text_sha256, start, "end", heading, live, vector)'
            " VALUES (?, ?, ?, 1, ?, 's', 0, 't', 'h', 0, 1, '[]', ?, ?)",
            (
                i + 1,
                f"c{i}",
                document,
                collection,
                int(is_live),
                vector.astype(np.float32).tobytes(),
            ),
        )
    return db


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, list[str], list[bool]]:
    rng = np.random.default_rng(1)
    centres = rng.standard_normal((40, DIM))
    x = centres[rng.integers(0, 40, 4000)] + 0.4 * rng.standard_normal((4000, DIM))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    collections = ["a" if i % 3 else "b" for i in range(len(x))]
    live = [i % 10 != 0 for i in range(len(x))]
    return x, collections, live


def test_exact_search_honours_liveness_and_collections(data: tuple) -> None:  # type: ignore[type-arg]
    x, collections, live = data
    matrix = VectorMatrix(DIM, ann_threshold=10**9)
    matrix.refresh(database(x, collections, live))
    q = x[0]  # row 1 is dead (i % 10 == 0), so it must not come back
    hits = matrix.search(q, None, 20)
    assert 1 not in [r for r, _ in hits]
    assert all(live[r - 1] for r, _ in hits)
    only_b = matrix.search(q, ["b"], 20)
    assert only_b and all(collections[r - 1] == "b" for r, _ in only_b)
    assert matrix.search(q, ["nope"], 5) == []
    scores = [s for _, s in hits]
    assert scores == sorted(scores, reverse=True)


def test_ivf_recall_against_exact(data: tuple) -> None:  # type: ignore[type-arg]
    x, collections, live = data
    db = database(x, collections, live)
    exact = VectorMatrix(DIM, ann_threshold=10**9)
    exact.refresh(db)
    ann = VectorMatrix(DIM, ann_threshold=100)
    ann.refresh(db)
    rng = np.random.default_rng(2)
    recalls = []
    for i in rng.choice(len(x), 50, replace=False):
        q = x[i] + 0.1 * rng.standard_normal(DIM).astype(np.float32)
        q = (q / np.linalg.norm(q)).astype(np.float32)
        truth = {r for r, _ in exact.search(q, ["a"], 10)}
        got = ann.search(q, ["a"], 10)
        assert all(collections[r - 1] == "a" and live[r - 1] for r, _ in got)
        recalls.append(len(truth & {r for r, _ in got}) / 10)
    assert ann._ann is not None  # the IVF path really ran
    assert float(np.mean(recalls)) >= 0.95


@pytest.mark.parametrize("ann_threshold", [10**9, 10])
def test_length_prior_lets_short_documents_into_the_candidates(ann_threshold: int) -> None:
    """A long document's many near-duplicate passages would take every candidate slot; with the
    prior, the one-passage document gets in, and the best plain cosine is always kept."""
    rng = np.random.default_rng(3)
    q = np.zeros(DIM, dtype=np.float32)
    q[0] = 1.0
    long_rows = [q * 0.9 + 0.1 * rng.standard_normal(DIM) for _ in range(60)]
    rows = np.array([*long_rows, q * 0.5 + 0.5 * np.eye(DIM)[1]], dtype=np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    documents = ["long"] * 60 + ["short"]
    db = database(rows, ["c"] * 61, [True] * 61, documents)
    matrix = VectorMatrix(DIM, ann_threshold=ann_threshold)
    matrix.refresh(db)
    cosine = rows @ q
    plain = matrix.search(q, None, 10)
    assert 61 not in [r for r, _ in plain]
    hits = matrix.search(q, None, 10, length_prior=0.1)
    assert 61 in [r for r, _ in hits]
    best = int(np.argmax(cosine)) + 1
    assert best in [r for r, _ in hits]
    # The scores returned stay plain cosines.
    assert all(s == pytest.approx(float(cosine[r - 1]), abs=1e-5) for r, s in hits)


def document_scores(matrix: VectorMatrix, q: np.ndarray, rowids: list[int]) -> list[float]:
    """The document cosine alone: weight 1, no length prior."""
    return matrix.document_adjustments(q, rowids, document_weight=1.0, length_prior=0.0)


@pytest.mark.parametrize(("ann_threshold", "block"), [(10**9, 16_384), (10, 16_384), (10**9, 2)])
def test_document_scores_use_the_mean_of_live_passages(
    ann_threshold: int, block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A block of 2 rows cuts document "a" in two: its partial sums must add up.
    monkeypatch.setattr(vectors, "_CENTROID_BLOCK", block)
    rng = np.random.default_rng(4)
    rows = rng.standard_normal((6, DIM)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    documents = ["a", "b", "a", "b", "a", "c"]
    live = [True, True, True, True, False, False]
    db = database(rows, ["c"] * 6, live, documents)
    matrix = VectorMatrix(DIM, ann_threshold=ann_threshold)
    matrix.refresh(db)
    q = rows[0]
    mean_a = rows[[0, 2]].sum(axis=0)  # row 5 (index 4) is dead and does not count
    mean_b = rows[[1, 3]].sum(axis=0)
    expected_a = float(mean_a @ q / np.linalg.norm(mean_a))
    expected_b = float(mean_b @ q / np.linalg.norm(mean_b))
    got = document_scores(matrix, q, [1, 2, 3, 5, 6])
    assert got == pytest.approx([expected_a, expected_b, expected_a, 0.0, 0.0], abs=1e-5)
    # A later refresh sees the document change: row 5 comes back to life in document "a".
    db.execute("UPDATE passages SET live = 1 WHERE rowid = 5")
    matrix.refresh(db)
    mean_a = rows[[0, 2, 4]].sum(axis=0)
    (score,) = document_scores(matrix, q, [1])
    assert score == pytest.approx(float(mean_a @ q / np.linalg.norm(mean_a)), abs=1e-5)
    assert document_scores(matrix, q, []) == []
