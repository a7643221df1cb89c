"""Document access lists: who may see a document, set at upload, on replace and by
`askdocs ingest`; keys acting for principals; old data dirs opened with the new schema."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from askdocs.access.keys import KeyStore
from askdocs.access.principals import InvalidPrincipalError, may_see, parse_principals
from askdocs.api.app import create_app
from askdocs.cli.app import access_lists
from askdocs.cli.app import app as cli
from askdocs.container import Container
from askdocs.jobs.store import JobStore
from askdocs.services.ingestion import document_id_for
from askdocs.storage.tables import DOCUMENTS_SCHEMA, DeltaTables
from test_api import bearer, upload, wait_for_job

from conftest import fake_container

SECRET = "# Salaries\n\nThe salary band for staff engineers is zeta91 thousand.\n"
PUBLIC = "# Holidays\n\nThe office closes for holidays on the first monday.\n"


def test_principals_parse_and_match() -> None:
    assert parse_principals("group:eng, user:alice user:alice") == ("group:eng", "user:alice")
    assert parse_principals(["user:a", "group:b,group:c"]) == ("group:b", "group:c", "user:a")
    assert parse_principals("") == ()
    for bad in ("alice", "User:alice", "user:", "user:a:b"):
        with pytest.raises(InvalidPrincipalError):
            parse_principals(bad)
    assert may_see((), ())
    assert may_see(("user:a",), None)
    assert may_see(("user:a", "group:x"), ("group:x",))
    assert not may_see(("user:a",), ())
    assert not may_see(("user:a",), ("user:b",))


def key(container: Container, scope: str, *principals: str) -> dict[str, str]:
    secret, _ = container.keys.create(f"k-{scope}", scope, (), principals)
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[TestClient, Container]]:
    container = fake_container(tmp_path / "data", answer="The band is zeta91 thousand [1].")
    with TestClient(create_app(container, warm_up=False)) as client:
        yield client, container


def test_access_lists_through_the_http_api(app: tuple[TestClient, Container]) -> None:
    client, container = app
    admin = bearer(container)
    alice, bob, nobody = (
        key(container, "write", "user:alice"),
        key(container, "write", "user:bob"),
        key(container, "read"),
    )
    secret = upload(client, alice, "salaries.md", SECRET.encode(), access="user:alice,group:hr")
    assert secret["access"] == ["group:hr", "user:alice"]
    wait_for_job(client, str(secret["job_id"]), admin)
    wait_for_job(
        client, str(upload(client, admin, "holidays.md", PUBLIC.encode())["job_id"]), admin
    )
    doc = str(secret["document_id"])
    as_hr = admin | {"X-Askdocs-Principal": "group:hr"}
    question = {"question": "What is the salary band for staff engineers?"}
    seen = client.post("/v1/ask", headers=alice, json=question).json()
    assert "zeta91" in json.dumps(seen["passages"])
    chunk = next(p["chunk_id"] for p in seen["passages"] if "zeta91" in p["text"])
    assert client.post("/v1/ask", headers=as_hr, json=question).json()["cache"] == "miss"
    for caller in (bob, nobody, admin | {"X-Askdocs-Principal": "user:bob"}):
        for _ in range(2):  # a miss, then whatever the cache holds for this caller
            body = client.post("/v1/ask", headers=caller, json=question).json()
            assert "zeta91" not in json.dumps(body)
        named = client.post("/v1/ask", headers=caller, json={"question": "What is zeta91?"})
        assert "never mention `zeta91`" in named.json()["answer"]
        listing = client.get("/v1/files", headers=caller).json()
        assert [f["source"] for f in listing["files"]] == ["holidays.md"]
        assert "salaries" not in json.dumps(client.get("/v1/jobs", headers=caller).json())
        missing = "0" * 24
        for path in (f"/v1/files/{doc}", f"/v1/files/{doc}/content", f"/v1/passages/{chunk}"):
            hidden = client.get(path, headers=caller)
            absent = client.get(
                path.replace(doc, missing).replace(chunk, f"{missing}-1-0"), headers=caller
            )
            assert hidden.status_code == absent.status_code == 404
        assert client.delete(f"/v1/files/{doc}", headers=caller).status_code in (403, 404)
    # The admin key without a principal sees everything; with one, what that principal sees.
    assert client.get(f"/v1/files/{doc}", headers=admin).json()["access"] == [
        "group:hr",
        "user:alice",
    ]
    assert client.get(f"/v1/passages/{chunk}", headers=as_hr).status_code == 200
    # Only an admin key may name a principal.
    forbidden = client.get("/v1/files", headers=bob | {"X-Askdocs-Principal": "user:alice"})
    assert forbidden.status_code == 403
    # Bob may not take over the name of a file he cannot see.
    taken = client.post(
        "/v1/files",
        headers=key(container, "write", "user:bob"),
        files={"file": ("salaries.md", b"# mine\n\nbob's text here.\n")},
    )
    assert taken.status_code == 403 and "zeta91" not in taken.text
    # The same bytes with a new access list: a metadata-only update, no new version.
    replaced = client.put(
        f"/v1/files/{doc}",
        headers=alice,
        files={"file": ("salaries.md", SECRET.encode())},
        data={"access": "user:alice,user:bob"},
    ).json()
    assert replaced["version"] == 1
    assert wait_for_job(client, str(replaced["job_id"]), admin)["state"] == "succeeded"
    body = client.post("/v1/ask", headers=bob, json=question).json()
    assert "zeta91" in json.dumps(body["passages"])
    assert client.get(f"/v1/passages/{chunk}", headers=bob).status_code == 200
    # HR lost access: its cached answer is not served, exactly or to a paraphrase.
    for q in (question, {"question": "Please, what is the salary band for staff engineers?"}):
        assert "zeta91" not in json.dumps(client.post("/v1/ask", headers=as_hr, json=q).json())
    # A replace without the field keeps the list.
    kept = client.put(
        f"/v1/files/{doc}",
        headers=bob,
        files={"file": ("salaries.md", (SECRET + "More.\n").encode())},
    ).json()
    assert kept["access"] == ["user:alice", "user:bob"] and kept["version"] == 2
    wait_for_job(client, str(kept["job_id"]), admin)
    assert container.tables.get_document(doc).access == ("user:alice", "user:bob")  # type: ignore[union-attr]
    bad = client.post(
        "/v1/files",
        headers=admin,
        files={"file": ("x.md", b"# x\n\nx y z\n")},
        data={"access": "alice"},
    )
    assert bad.status_code == 400


def test_ingest_sidecars_and_the_run_access_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.md").write_text(SECRET, encoding="utf-8")
    (folder / "a.md.access").write_text("user:alice\ngroup:hr\n", encoding="utf-8")
    (folder / "b.md").write_text(PUBLIC, encoding="utf-8")
    (folder / "c.md").write_text(PUBLIC + "c\n", encoding="utf-8")
    (folder / "c.md.access").write_text("", encoding="utf-8")  # empty: everyone
    container = fake_container(tmp_path / "data")
    found, _ = container.ingestion.find_files([folder])
    files, lists = access_lists(found, ["group:eng"])
    assert sorted(p.name for p in files) == ["a.md", "b.md", "c.md"]
    assert lists[folder / "a.md"] == ("group:hr", "user:alice")
    assert lists[folder / "b.md"] == ("group:eng",)
    assert lists[folder / "c.md"] == ()
    assert access_lists(found, None)[1].get(folder / "b.md") is None
    outcomes = container.ingestion.ingest_files(files, collection="c", access=lists)
    assert {o.status for o in outcomes} == {"added"}
    # The CLI: the same bytes with a new list take effect without re-embedding.
    embedded = container.embedder.embedded  # type: ignore[attr-defined]
    (folder / "a.md.access").write_text("user:bob", encoding="utf-8")
    monkeypatch.setattr("askdocs.cli.app._container", lambda: container)
    result = CliRunner().invoke(cli, ["ingest", str(folder), "--collection", "c"])
    assert result.exit_code == 0, result.output
    record = container.tables.get_document(document_id_for("c", str(folder / "a.md")))
    assert record is not None and record.access == ("user:bob",) and record.version == 1
    assert container.embedder.embedded == embedded  # type: ignore[attr-defined]
    outcome = container.ingestion.ingest_files(
        [folder / "a.md"], collection="c", access={folder / "a.md": ("group:ops",)}
    )[0]
    assert (outcome.status, outcome.version) == ("updated", 1)
    assert container.embedder.embedded == embedded  # type: ignore[attr-defined]
    passages = container.retriever.retrieve(
        "salary band staff engineers", principals=("group:ops",)
    ).passages
    assert any("zeta91" in p.chunk.text for p in passages)
    hidden = container.retriever.retrieve("salary band staff engineers", principals=("user:bob",))
    assert not any("zeta91" in p.chunk.text for p in hidden.passages)


def test_an_old_data_dir_gains_the_access_column(tmp_path: Path) -> None:
    root = tmp_path / "data"
    old_schema = pa.schema([f for f in DOCUMENTS_SCHEMA if f.name != "access"])
    row = {
        "document_id": "ab" * 12,
        "collection": "c",
        "source": "old.md",
        "version": 1,
        "sha256": "0" * 64,
        "media_type": "text/markdown",
        "size": 3,
        "chunk_count": 0,
        "status": "ready",
        "pipeline": "p",
        "embed_model": "m",
        "created_at": "2025-01-01T00:00:00+00:00",
        "updated_at": "2025-01-01T00:00:00+00:00",
    }
    (root / "documents").mkdir(parents=True)
    write_deltalake(
        str(root / "documents"),
        pa.Table.from_pylist([row], old_schema),
        configuration={"delta.enableChangeDataFeed": "true"},
    )
    # Key store and job queue as written before access lists.
    db = sqlite3.connect(root / "keys.sqlite")
    db.execute(
        "CREATE TABLE api_keys (id TEXT PRIMARY KEY, name TEXT NOT NULL, scope TEXT NOT NULL,"
        " collections TEXT NOT NULL, digest TEXT NOT NULL, created REAL NOT NULL,"
        " last_used REAL, revoked REAL)"
    )
    db.commit()
    tables = DeltaTables(root)
    assert "access" in DeltaTable(str(root / "documents")).schema().to_arrow().names
    (old,) = tables.read_documents()
    assert old.access == () and old.source == "old.md"
    tables.commit_documents([old.__class__(**{**row, "access": ("user:a",)})])
    assert tables.read_documents()[0].access == ("user:a",)
    DeltaTables(root)  # opening again adds nothing
    keys = KeyStore(root / "keys.sqlite")
    secret, info = keys.create("k", "read", (), ["user:a"])
    assert keys.verify(secret).principals == ("user:a",) and info.principals == ("user:a",)
    jobs = sqlite3.connect(root / "jobs.sqlite")
    jobs.execute(
        "CREATE TABLE jobs (id TEXT PRIMARY KEY, document_id TEXT NOT NULL, collection TEXT"
        " NOT NULL, source TEXT NOT NULL, blob TEXT NOT NULL, version INTEGER NOT NULL, state"
        " TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, chunks_done INTEGER NOT NULL"
        " DEFAULT 0, chunks_total INTEGER NOT NULL DEFAULT 0, error TEXT, outcome TEXT, owner"
        " TEXT, lease_until REAL, not_before REAL NOT NULL DEFAULT 0, created REAL NOT NULL,"
        " updated REAL NOT NULL)"
    )
    jobs.execute(
        "INSERT INTO jobs (id, document_id, collection, source, blob, version, state, created,"
        " updated) VALUES ('j', 'd', 'c', 's', 'b', 1, 'queued', 0, 0)"
    )
    jobs.commit()
    store = JobStore(root / "jobs.sqlite")
    assert store.get("j").access == ()  # type: ignore[union-attr]
    assert [j.job_id for j in store.find(principals=())] == ["j"]


def test_an_old_index_reads_the_access_lists(tmp_path: Path) -> None:
    container = fake_container(tmp_path / "data")
    (tmp_path / "a.md").write_text(SECRET, encoding="utf-8")
    container.ingestion.ingest_paths(
        [tmp_path / "a.md"], collection="c", access={(tmp_path / "a.md").resolve(): ["user:a"]}
    )
    container.index.sync()
    path = container.index.path
    # The index as an earlier askdocs built it: no access column.
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE docs2 (document_id TEXT PRIMARY KEY, version INTEGER NOT NULL,"
        " collection TEXT NOT NULL); INSERT INTO docs2 SELECT document_id, version, collection"
        " FROM docs; DROP TABLE docs; ALTER TABLE docs2 RENAME TO docs;"
    )
    db.commit()
    db.close()
    reopened = fake_container(tmp_path / "data")
    hidden = reopened.retriever.retrieve("salary band staff engineers", principals=("user:b",))
    seen = reopened.retriever.retrieve("salary band staff engineers", principals=("user:a",))
    assert not hidden.passages and seen.passages
