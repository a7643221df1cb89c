"""Ingestion: added / unchanged / updated / failed, atomic version switches, deletes."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from askdocs.container import Container
from askdocs.errors import DocumentNotFoundError, EmbeddingModelMismatchError

from conftest import fake_container
from fakes import FakeEmbedder

GUIDE = """# Guide

## Install

Run the installer and choose a folder. The installer needs 2 GB of free disk space.

## Colours

The default colour of the widget is teal. You can change it in the settings file.
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def sources(container: Container, question: str) -> list[str]:
    retrieval = container.retriever.retrieve(question, k=10)
    return [Path(p.chunk.source).name for p in retrieval.passages]


def test_ingest_then_unchanged_does_no_work(container: Container, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write(docs, "guide.md", GUIDE)
    write(docs, "notes/other.txt", "Bananas are yellow and grow in bunches.")
    first = container.ingestion.ingest_paths([docs], collection="c")
    assert sorted(o.status for o in first) == ["added", "added"]
    embedder = container.embedder
    assert isinstance(embedder, FakeEmbedder)
    calls_before = embedder.embedded
    second = container.ingestion.ingest_paths([docs], collection="c")
    assert [o.status for o in second] == ["unchanged", "unchanged"]
    assert embedder.embedded == calls_before
    assert "guide.md" in sources(container, "default colour of the widget")


def test_changed_file_is_new_version_and_reembeds_only_changed_chunks(
    container: Container, tmp_path: Path
) -> None:
    path = write(tmp_path, "guide.md", GUIDE)
    container.ingestion.ingest_paths([path], collection="c")
    embedder = container.embedder
    assert isinstance(embedder, FakeEmbedder)
    before = embedder.embedded
    write(tmp_path, "guide.md", GUIDE.replace("teal", "orange"))
    (outcome,) = container.ingestion.ingest_paths([path], collection="c")
    assert outcome.status == "updated" and outcome.version == 2
    assert embedder.embedded - before == 1  # only the "Colours" chunk changed
    retrieval = container.retriever.retrieve("default colour widget", k=10)
    texts = " ".join(p.chunk.text for p in retrieval.passages)
    assert "orange" in texts and "teal" not in texts
    assert {p.chunk.version for p in retrieval.passages} == {2}
    (record,) = container.tables.read_documents()
    assert record.version == 2 and record.document_id == outcome.document_id


def test_one_bad_file_does_not_stop_the_batch(container: Container, tmp_path: Path) -> None:
    write(tmp_path, "good.md", GUIDE)
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "fake.pdf").write_bytes(b"this is not a pdf at all")
    (tmp_path / "picture.bmp").write_bytes(b"BM\x00\x00")
    outcomes = {
        Path(o.source).name: o for o in container.ingestion.ingest_paths([tmp_path], collection="c")
    }
    assert outcomes["good.md"].status == "added"
    for name in ("empty.txt", "fake.pdf", "picture.bmp"):
        assert outcomes[name].status == "failed"
        assert outcomes[name].error
    assert "empty" in (outcomes["empty.txt"].error or "")
    assert ".pdf" in (outcomes["picture.bmp"].error or "")  # names the supported types


def test_missing_path_is_a_failure_not_a_crash(container: Container, tmp_path: Path) -> None:
    (outcome,) = container.ingestion.ingest_paths([tmp_path / "nope"], collection="c")
    assert outcome.status == "failed" and "no such file" in (outcome.error or "")


def test_include_and_exclude(container: Container, tmp_path: Path) -> None:
    write(tmp_path, "a.md", GUIDE)
    write(tmp_path, "b.txt", "Plain text about apples.")
    write(tmp_path, ".git/config.txt", "hidden folder content")
    got = container.ingestion.ingest_paths([tmp_path], collection="c", include=["*.md"])
    assert [Path(o.source).name for o in got] == ["a.md"]
    got = container.ingestion.ingest_paths([tmp_path], collection="c", exclude=["*.md"])
    assert [Path(o.source).name for o in got] == ["b.txt"]


def test_delete_removes_from_retrieval_at_once(container: Container, tmp_path: Path) -> None:
    path = write(tmp_path, "guide.md", GUIDE)
    write(tmp_path, "other.txt", "Bananas are yellow.")
    (outcome, _) = container.ingestion.ingest_paths([path, tmp_path / "other.txt"], collection="c")
    assert "guide.md" in sources(container, "installer disk space")
    assert outcome.document_id is not None
    container.ingestion.delete(outcome.document_id)
    assert "guide.md" not in sources(container, "installer disk space")
    with pytest.raises(DocumentNotFoundError):
        container.ingestion.delete(outcome.document_id)
    # The same file can come back, as a new document life.
    (again,) = container.ingestion.ingest_paths([path], collection="c")
    assert again.status == "added"
    assert "guide.md" in sources(container, "installer disk space")


def test_delete_by_source(container: Container, tmp_path: Path) -> None:
    path = write(tmp_path, "guide.md", GUIDE)
    container.ingestion.ingest_paths([path], collection="c")
    record = container.ingestion.delete_source(str(path.resolve()), "c")
    assert record.source == str(path.resolve())
    assert container.tables.read_documents() == []


def test_crash_before_switch_leaves_old_version_whole(
    container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "guide.md", GUIDE)
    container.ingestion.ingest_paths([path], collection="c")
    write(tmp_path, "guide.md", GUIDE.replace("teal", "crimson").replace("2 GB", "9 GB"))

    def crash(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(container.tables, "commit_documents", crash)
    (outcome,) = container.ingestion.ingest_paths([path], collection="c")
    assert outcome.status == "failed" and "No space" in (outcome.error or "")
    retrieval = container.retriever.retrieve("colour installer", k=10)
    assert {p.chunk.version for p in retrieval.passages} == {1}
    assert "crimson" not in " ".join(p.chunk.text for p in retrieval.passages)
    monkeypatch.undo()
    (outcome,) = container.ingestion.ingest_paths([path], collection="c")
    assert outcome.status == "updated" and outcome.version == 2
    retrieval = container.retriever.retrieve("colour installer", k=10)
    assert {p.chunk.version for p in retrieval.passages} == {2}
    assert len({p.chunk.chunk_id for p in retrieval.passages}) == len(retrieval.passages)


def test_concurrent_reader_sees_one_version(container: Container, tmp_path: Path) -> None:
    body = "\n\n".join(
        f"Paragraph {i} about the widget colour and the installer." for i in range(30)
    )
    path = write(tmp_path, "big.txt", body + " version one")
    container.ingestion.ingest_paths([path], collection="c")
    reader = fake_container(container.settings.data_dir)  # a second process's view
    mixed: list[set[int]] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            passages = reader.retriever.retrieve("widget colour installer", k=50).passages
            versions = {p.chunk.version for p in passages}
            if len(versions) != 1:
                mixed.append(versions)

    thread = threading.Thread(target=read)
    thread.start()
    try:
        for n in range(2, 6):
            write(tmp_path, "big.txt", body + f" version {n}" + " extra" * n)
            (outcome,) = container.ingestion.ingest_paths([path], collection="c")
            assert outcome.version == n
    finally:
        stop.set()
        thread.join()
    assert mixed == []
    final = reader.retriever.retrieve("widget colour installer", k=50).passages
    assert {p.chunk.version for p in final} == {5}


def test_other_embedding_model_is_refused(container: Container, tmp_path: Path) -> None:
    path = write(tmp_path, "guide.md", GUIDE)
    container.ingestion.ingest_paths([path], collection="c")
    other = fake_container(container.settings.data_dir)
    other.__dict__["embedder"] = FakeEmbedder(model_id="another-model")
    with pytest.raises(EmbeddingModelMismatchError, match="another-model"):
        other.ingestion.ingest_paths([write(tmp_path, "x.txt", "more text")], collection="c")
    with pytest.raises(EmbeddingModelMismatchError):
        other.retriever.retrieve("installer")


def test_second_process_catches_up_and_reindex_rebuilds(
    container: Container, tmp_path: Path
) -> None:
    write(tmp_path, "guide.md", GUIDE)
    container.ingestion.ingest_paths([tmp_path], collection="c")
    other = fake_container(container.settings.data_dir)
    assert "guide.md" in sources(other, "installer disk space")
    write(tmp_path, "apples.txt", "Apples grow on trees in orchards.")
    container.ingestion.ingest_paths([tmp_path], collection="c")
    assert sources(other, "apples orchards")[0] == "apples.txt"
    before = sources(other, "installer disk space")
    result = other.index.rebuild()
    assert result.inserted == other.index.stats()["live_passages"] == 4
    after = sources(other, "installer disk space")
    assert after[0] == before[0] == "guide.md" and sorted(after) == sorted(before)
    # A lost index file loses time, never data.
    for path in other.index.path.parent.iterdir():
        path.unlink()
    fresh = fake_container(container.settings.data_dir)
    assert sorted(sources(fresh, "installer disk space")) == sorted(before)


def test_collections_filter(container: Container, tmp_path: Path) -> None:
    a = write(tmp_path / "a", "guide.md", GUIDE)
    b = write(tmp_path / "b", "other.md", GUIDE.replace("teal", "violet"))
    container.ingestion.ingest_paths([a], collection="alpha")
    container.ingestion.ingest_paths([b], collection="beta")
    only_b = container.retriever.retrieve("widget colour", collections=["beta"], k=10).passages
    assert only_b and {p.chunk.collection for p in only_b} == {"beta"}
    both = container.retriever.retrieve("widget colour", k=10).passages
    assert {p.chunk.collection for p in both} == {"alpha", "beta"}


def test_a_big_file_is_appended_in_slices_and_shows_only_when_whole(
    container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import askdocs.services.ingestion as ingestion

    monkeypatch.setattr(ingestion, "_APPEND_CHUNKS", 8)
    body = "\n\n".join(
        f"## Part {i}\n\nPart {i} explains how valve {i * 3} is sealed and tested."
        for i in range(60)
    )
    path = write(tmp_path, "book.md", body)
    appended: list[int] = []
    real_append = container.tables.append_chunks

    def append(chunks: list[object], *args: object) -> None:
        appended.append(len(chunks))
        real_append(chunks, *args)  # type: ignore[arg-type]

    def crash_on_third(chunks: list[object], *args: object) -> None:
        appended.append(len(chunks))
        if len(appended) == 3:
            raise OSError(28, "No space left on device")
        real_append(chunks, *args)  # type: ignore[arg-type]

    # A crash after two slices: nothing of the file is visible.
    monkeypatch.setattr(container.tables, "append_chunks", crash_on_third)
    (outcome,) = container.ingestion.ingest_paths([path], collection="c")
    assert outcome.status == "failed"
    assert container.retriever.retrieve("valve sealed", k=5).passages == []
    # The rerun appends every slice, then the whole document appears once.
    appended.clear()
    monkeypatch.setattr(container.tables, "append_chunks", append)
    progress: list[tuple[int, int]] = []
    (outcome,) = container.ingestion._ingest(
        [(str(path), path.read_bytes, None)],
        collection="c",
        chunk_progress=lambda done, total: progress.append((done, total)),
    )
    assert outcome.status == "added" and outcome.chunks > 8
    assert max(appended) <= 8 and sum(appended) == outcome.chunks
    assert len(appended) == -(-outcome.chunks // 8)
    done = [d for d, _ in progress]
    assert done == sorted(done) and progress[-1] == (outcome.chunks, outcome.chunks)
    passages = container.retriever.retrieve("valve sealed tested", k=100).passages
    assert len({p.chunk.chunk_id for p in passages}) == len(passages) == outcome.chunks


def test_rows_of_an_old_version_left_by_a_crash_are_swept_by_the_next_run(
    container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "guide.md", GUIDE)
    container.ingestion.ingest_paths([path], collection="c")
    write(tmp_path, "guide.md", GUIDE.replace("teal", "crimson"))
    real_delete = container.tables.delete_chunks_where

    def killed_before_cleanup(versions: list[tuple[str, int, str]]) -> None:
        if any(op == "<" for _, _, op in versions):
            raise OSError(5, "killed")
        real_delete(versions)

    monkeypatch.setattr(container.tables, "delete_chunks_where", killed_before_cleanup)
    (outcome,) = container.ingestion.ingest_paths([path], collection="c")
    assert outcome.status == "updated" and outcome.version == 2  # the switch happened
    assert set(container.tables.read_chunks().column("version").to_pylist()) == {1, 2}
    monkeypatch.undo()
    restarted = fake_container(tmp_path / "data")  # data dir of the `container` fixture
    other = write(tmp_path / "other", "notes.md", "# Notes\n\nUnrelated text about boats.\n")
    restarted.ingestion.ingest_paths([other], collection="c")
    versions = restarted.tables.read_chunks().to_pydict()
    guide = [v for d, v in zip(versions["document_id"], versions["version"], strict=True)
             if d == outcome.document_id]  # fmt: skip
    assert guide and set(guide) == {2}


def test_a_group_rebases_on_what_another_writer_committed_meanwhile(tmp_path: Path) -> None:
    """Two processes over one data dir: what one prepared is checked again under the lock."""
    first, second = fake_container(tmp_path / "data"), fake_container(tmp_path / "data")
    source = str(tmp_path / "guide.md")

    def prepared(container: Container, text: str) -> object:
        known = {d.document_id: d for d in container.tables.read_documents()}
        return container.ingestion._prepare(text.encode(), source, "c", known)

    same = prepared(first, GUIDE)
    second.ingestion.ingest_bytes(GUIDE.encode(), source=source, collection="c")
    (outcome,) = first.ingestion._commit([same])  # type: ignore[list-item]
    assert (outcome.status, outcome.version) == ("unchanged", 1)
    other = prepared(first, GUIDE.replace("teal", "amber"))
    second.ingestion.ingest_bytes(
        GUIDE.replace("teal", "olive").encode(), source=source, collection="c"
    )
    (outcome,) = first.ingestion._commit([other])  # type: ignore[list-item]
    assert (outcome.status, outcome.version) == ("updated", 3)
    rows = first.tables.read_chunks().select(["chunk_id", "version", "text"]).to_pylist()
    assert len({r["chunk_id"] for r in rows}) == len(rows)
    assert {r["version"] for r in rows} == {3}
    assert "amber" in " ".join(r["text"] for r in rows)
