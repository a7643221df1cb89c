"""kill -9 with real processes: `askdocs ingest` killed at random moments, two ingests over
overlapping folders at once, and a server killed mid-upload. Afterwards no document is
half-visible, a re-run completes, and nothing committed before is lost."""

from __future__ import annotations

import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from askdocs.index import PassageIndex
from askdocs.storage.tables import DeltaTables
from hostile_server import start_server

pytestmark = pytest.mark.integration

TRIALS = 20


def write_corpus(
    folder: Path, files: int, edition: int, rng: random.Random, change: float = 0.34
) -> dict[str, int]:
    """(Re)write ``files`` notes; a random share ``change`` of them change their text to
    ``edition``. Returns the edition each file's text now names."""
    folder.mkdir(exist_ok=True)
    editions: dict[str, int] = {}
    for n in range(files):
        path = folder / f"note-{n:02d}.md"
        current = int(path.read_text().split("edition ")[1].split(".")[0]) if path.exists() else 0
        chosen = edition if (current == 0 or rng.random() < change) else current
        body = "\n\n".join(
            f"## Part {p}\n\nNote {n} part {p}, edition {chosen}. Gauge {n * 13 + p} reads "
            f"{(n * 7 + p * 3) % 97} units when valve {p} of line {n} is open."
            for p in range(12)
        )
        path.write_text(f"# Note {n} edition {chosen}.\n\n{body}\n")
        editions[path.name] = chosen
    return editions


def ingest(data_dir: Path, *folders: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "askdocs", "ingest", *map(str, folders), "--collection", "c"],
        env=os.environ | {"ASKDOCS_DATA_DIR": str(data_dir)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def check_whole(data_dir: Path) -> dict[str, tuple[str, int]]:
    """Every listed document has all the chunks of its one live version, in the tables and in
    a freshly synced index; returns source -> (document id, version)."""
    tables = DeltaTables(data_dir / "tables")
    documents = {d.document_id: d for d in tables.read_documents()}
    chunks = tables.read_chunks().select(["chunk_id", "document_id", "version"]).to_pylist()
    ids = Counter(c["chunk_id"] for c in chunks)
    assert not [i for i, n in ids.items() if n > 1], "a chunk row is duplicated"
    live = Counter(
        c["document_id"]
        for c in chunks
        if c["document_id"] in documents and c["version"] == documents[c["document_id"]].version
    )
    for doc in documents.values():
        assert live[doc.document_id] == doc.chunk_count > 0, f"{doc.source} is not whole"
    probe = Path(tempfile.mkdtemp(dir=data_dir.parent)) / "index.sqlite"
    index = PassageIndex(probe, tables, dimension=384)
    index.rebuild()
    with sqlite3.connect(probe) as db:
        rows = db.execute(
            "SELECT document_id, version, count(*) FROM passages WHERE live = 1"
            " GROUP BY document_id, version"
        ).fetchall()
    seen = Counter(doc for doc, _, _ in rows)
    assert all(n == 1 for n in seen.values()), "one document shows two versions"
    for doc, version, count in rows:
        assert doc in documents and version == documents[doc].version
        assert count == documents[doc].chunk_count
    return {Path(d.source).name: (d.document_id, d.version) for d in documents.values()}


@pytest.mark.timeout(900)
def test_ingest_killed_at_random_moments_never_shows_half_a_document(tmp_path: Path) -> None:
    rng = random.Random(7)
    data_dir, folder = tmp_path / "data", tmp_path / "notes"
    # A whole run first, timed: the kills land at random moments of runs about as long.
    write_corpus(folder, files=24, edition=1, rng=rng)
    started = time.monotonic()
    assert ingest(data_dir, folder).wait(300) == 0
    whole_run = time.monotonic() - started
    committed = check_whole(data_dir)
    kills = 0
    for trial in range(TRIALS):
        write_corpus(folder, files=24, edition=trial + 2, rng=rng, change=0.8)
        process = ingest(data_dir, folder)
        # The kills spread over model loading, parsing, embedding and the Delta commits that
        # follow each group of files.
        time.sleep(rng.uniform(0.1, 0.9) * whole_run)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait(30)
        now = check_whole(data_dir)
        for name, (_, version) in committed.items():
            assert name in now and now[name][1] >= version, f"{name} lost its committed version"
        committed = now
    assert kills >= TRIALS // 2, f"only {kills} runs were killed: the timing is off"
    editions = write_corpus(folder, files=24, edition=TRIALS + 2, rng=rng)
    assert ingest(data_dir, folder).wait(300) == 0
    final = check_whole(data_dir)
    assert set(final) == set(editions)
    tables = DeltaTables(data_dir / "tables")
    texts = tables.read_chunks().select(["source", "version", "text"]).to_pylist()
    for name, (_, version) in final.items():
        live = [
            t["text"] for t in texts if Path(t["source"]).name == name and t["version"] == version
        ]
        assert live and f"edition {editions[name]}." in " ".join(live), name
    # Rows of versions a kill left behind after the switch are gone after a completed run.
    versions = {(Path(t["source"]).name, t["version"]) for t in texts}
    assert all(final[name][1] <= version for name, version in versions), "stale rows remain"


@pytest.mark.timeout(600)
def test_two_ingests_over_overlapping_folders_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    """Both runs ingest ``shared`` (the same files, so the same documents) and a folder of
    their own, at the same time."""
    rng = random.Random(11)
    data_dir = tmp_path / "data"
    shared, only_a, only_b = tmp_path / "shared", tmp_path / "only-a", tmp_path / "only-b"
    for folder in (shared, only_a, only_b):
        write_corpus(folder, files=8, edition=1, rng=rng)
    a, b = ingest(data_dir, shared, only_a), ingest(data_dir, shared, only_b)
    assert a.wait(300) == 0 and b.wait(300) == 0
    check_whole(data_dir)
    records = DeltaTables(data_dir / "tables").read_documents()
    assert Counter(Path(d.source).parent.name for d in records) == {
        "shared": 8, "only-a": 8, "only-b": 8}  # fmt: skip
    assert {d.version for d in records if Path(d.source).parent.name == "shared"} == {1}


def send_half_an_upload(url: str, authorization: str, name: str) -> socket.socket:
    """Start a multipart upload of 2 MB and send a tenth of it; the socket stays open."""
    host, port = url.removeprefix("http://").split(":")
    boundary = "x" * 16
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: text/markdown\r\n\r\n"
    ).encode()
    body_length = 2_000_000
    conn = socket.create_connection((host, int(port)))
    conn.sendall(
        f"POST /v1/files HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: {authorization}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {body_length}\r\n\r\n".encode()
        + head
        + b"# Half\n\n"
        + b"words " * 30_000
    )
    return conn


@pytest.mark.timeout(600)
def test_a_server_killed_mid_upload_comes_back_whole(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    url, server, key = start_server(data_dir)
    headers = {"Authorization": f"Bearer {key}"}
    book = "\n\n".join(
        f"## Section {i}\n\nSection {i} sets pump {i * 3} to {i % 40} bar." for i in range(3000)
    ).encode()
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            first = client.post("/v1/files", files={"file": ("first.md", b"# First\n\nKept.\n")})
            job = first.json()["files"][0]["job_id"]
            deadline = time.monotonic() + 60
            while client.get(f"/v1/jobs/{job}").json()["state"] != "succeeded":
                assert time.monotonic() < deadline
                time.sleep(0.1)
            # An upload whose body is still arriving, and a big file being ingested, when the
            # server is killed.
            half = send_half_an_upload(url, headers["Authorization"], "half.md")
            client.post("/v1/files", files={"file": ("book.md", book)})
            time.sleep(1.5)
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(30)
    check_whole(data_dir)
    url, server, _ = start_server(data_dir)
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            deadline = time.monotonic() + 300
            while True:
                files = {f["source"]: f for f in client.get("/v1/files").json()["files"]}
                if files.get("book.md", {}).get("status") == "ready":
                    break
                assert time.monotonic() < deadline, files
                time.sleep(0.5)
            assert files["first.md"]["status"] == "ready"
            assert "half.md" not in files
            jobs = client.get("/v1/jobs").json()["jobs"]
            assert not [j for j in jobs if j["source"] == "half.md"]
        check_whole(data_dir)
        half.close()
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(60)


# A process that kills itself with SIGKILL at one chosen point of a commit, then `askdocs ingest`.
CRASHING_INGEST = """
import os, signal, sys
from askdocs.storage.tables import DeltaTables

point = sys.argv[1]
if point == "before the switch":  # the new version's chunks are appended, its row is not
    DeltaTables.commit_documents = lambda self, records: os.kill(os.getpid(), signal.SIGKILL)
else:  # "after the switch": the new version is live, the old version's rows are not deleted
    delete = DeltaTables.delete_chunks_where
    def killing_delete(self, versions):
        if any(op == "<" for _, _, op in versions):
            os.kill(os.getpid(), signal.SIGKILL)
        delete(self, versions)
    DeltaTables.delete_chunks_where = killing_delete
from askdocs.cli.app import main
sys.argv = ["askdocs", "ingest", sys.argv[2], "--collection", "c"]
main()
"""


@pytest.mark.timeout(600)
@pytest.mark.parametrize("point", ["before the switch", "after the switch"])
def test_a_kill_at_each_point_of_a_commit_leaves_one_whole_version(
    tmp_path: Path, point: str
) -> None:
    rng = random.Random(3)
    data_dir, folder = tmp_path / "data", tmp_path / "notes"
    write_corpus(folder, files=6, edition=1, rng=rng)
    assert ingest(data_dir, folder).wait(300) == 0
    before = check_whole(data_dir)
    for path in folder.iterdir():  # every file changes: each commit is an update
        path.write_text(path.read_text().replace("edition 1.", "edition 2."))
    crashed = subprocess.run(
        [sys.executable, "-c", CRASHING_INGEST, point, str(folder)],
        env=os.environ | {"ASKDOCS_DATA_DIR": str(data_dir)},
        capture_output=True,
        timeout=300,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    during = check_whole(data_dir)
    expected = 1 if point == "before the switch" else 2
    assert {version for _, version in during.values()} == {expected}
    assert set(during) == set(before)
    left = DeltaTables(data_dir / "tables").read_chunks().column("version").to_pylist()
    assert set(left) == {1, 2}  # the dead run's rows: unswitched (v2) or superseded (v1)
    assert ingest(data_dir, folder).wait(300) == 0
    after = check_whole(data_dir)
    assert {version for _, version in after.values()} == {2}
    rows = DeltaTables(data_dir / "tables").read_chunks().select(["version", "text"]).to_pylist()
    assert {r["version"] for r in rows} == {2}, "rows of version 1 were left behind"
    assert all("edition 2." in r["text"] or "edition" not in r["text"] for r in rows)
