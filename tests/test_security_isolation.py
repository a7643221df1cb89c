"""Tenant isolation: a key limited to collection A can never cancel, delete, replace, read, or
learn of anything in collection B, through any route. A file in B answers exactly as a file
that does not exist (404, the same message but for the id), and nothing in B changes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from askdocs.api.app import create_app
from askdocs.container import Container
from askdocs.services.ingestion import document_id_for
from test_api import GUIDE, bearer, upload

from conftest import fake_container

QUEUED = "# Queued\n\nThis file waits in collection b's queue.\n"


@dataclass(frozen=True)
class World:
    client: TestClient
    container: Container
    admin: dict[str, str]
    key_a: dict[str, str]
    live_id: str  # in collection b, ingested
    queued_id: str  # in collection b, its first version still queued
    queued_job: str
    chunk_id: str  # a passage of the live file


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    container = fake_container(tmp_path / "data")
    (tmp_path / "guide.md").write_text(GUIDE, encoding="utf-8")
    container.ingestion.ingest_paths([tmp_path / "guide.md"], collection="b")
    live = container.tables.read_documents()[0]
    # No workers: the upload stays queued, as the file whose job a foreign key once cancelled.
    with TestClient(create_app(container, warm_up=False, workers=False)) as client:
        admin = bearer(container)
        queued = upload(client, admin, name="queued.md", body=QUEUED.encode(), collection="b")
        answer = client.post(
            "/v1/ask",
            headers=admin,
            json={"question": "answer cache passages", "generate": False, "collection": "b"},
        ).json()
        yield World(
            client=client,
            container=container,
            admin=admin,
            key_a=bearer(container, "write", "a"),
            live_id=live.document_id,
            queued_id=str(queued["document_id"]),
            queued_job=str(queued["job_id"]),
            chunk_id=answer["passages"][0]["chunk_id"],
        )


def attempts(document_id: str) -> list[tuple[str, str, dict[str, object]]]:
    """Every route that takes a document id, as (method, path, request arguments)."""
    replacement = {"files": {"file": ("guide.md", b"# Replaced\n\nby someone else\n")}}
    return [
        ("GET", f"/v1/files/{document_id}", {}),
        ("GET", f"/v1/files/{document_id}/content", {}),
        ("PUT", f"/v1/files/{document_id}", replacement),
        ("DELETE", f"/v1/files/{document_id}", {}),
    ]


def same_answer(foreign: object, missing: object, foreign_id: str, missing_id: str) -> None:
    assert isinstance(foreign, dict) and isinstance(missing, dict)
    text = re.sub(foreign_id, "ID", str(foreign))
    assert text == re.sub(missing_id, "ID", str(missing))


def test_a_file_in_another_collection_is_a_file_that_does_not_exist(world: World) -> None:
    client, key_a = world.client, world.key_a
    missing = document_id_for("b", "never-uploaded.md")
    for foreign_id in (world.live_id, world.queued_id):
        for (method, path, kwargs), (_, missing_path, _) in zip(
            attempts(foreign_id), attempts(missing), strict=True
        ):
            foreign = client.request(method, path, headers=key_a, **kwargs)  # type: ignore[arg-type]
            absent = client.request(method, missing_path, headers=key_a, **kwargs)  # type: ignore[arg-type]
            assert (foreign.status_code, absent.status_code) == (404, 404), (method, path)
            same_answer(foreign.json(), absent.json(), foreign_id, missing)
    job = client.get(f"/v1/jobs/{world.queued_job}", headers=key_a)
    absent_job = client.get("/v1/jobs/0123456789abcdef", headers=key_a)
    assert (job.status_code, absent_job.status_code) == (404, 404)
    same_answer(job.json(), absent_job.json(), world.queued_job, "0123456789abcdef")
    passage = client.get(f"/v1/passages/{world.chunk_id}", headers=key_a)
    assert passage.status_code == 404


def test_nothing_in_another_collection_changes(world: World) -> None:
    client, key_a = world.client, world.key_a
    content = client.get(f"/v1/files/{world.live_id}/content", headers=world.admin).content
    for document_id in (world.live_id, world.queued_id):
        for method, path, kwargs in attempts(document_id):
            client.request(method, path, headers=key_a, **kwargs)  # type: ignore[arg-type]
    # The queued job was not cancelled (it used to be: 200 and the file never appeared).
    job = client.get(f"/v1/jobs/{world.queued_job}", headers=world.admin).json()
    assert job["state"] == "queued" and job["error"] is None
    assert len(client.get("/v1/jobs", headers=world.admin).json()["jobs"]) == 1  # no new job
    live = client.get(f"/v1/files/{world.live_id}", headers=world.admin).json()
    assert live["version"] == 1 and live["status"] == "ready"
    assert client.get(f"/v1/files/{world.live_id}/content", headers=world.admin).content == content


def test_listings_and_counts_show_only_the_key_collections(world: World) -> None:
    client, key_a = world.client, world.key_a
    assert client.get("/v1/files", headers=key_a).json() == {"files": [], "total": 0}
    jobs = client.get("/v1/jobs", headers=key_a).json()
    assert jobs["jobs"] == []
    assert set(jobs["counts"].values()) == {0}  # b's queued job is not counted
    assert client.get("/v1/jobs", headers=world.admin).json()["counts"]["queued"] == 1
    assert client.get("/metrics", headers=key_a).status_code == 403


def test_naming_another_collection_is_refused_as_for_one_that_does_not_exist(
    world: World,
) -> None:
    client, key_a = world.client, world.key_a
    for collection in ("b", "nowhere"):
        requests = [
            client.get("/v1/files", headers=key_a, params={"collection": collection}),
            client.post(
                "/v1/ask",
                headers=key_a,
                json={"question": "answer cache", "collection": collection},
            ),
            client.post(
                "/v1/files",
                headers=key_a,
                files={"file": ("x.md", b"# X\n\ntext")},
                data={"collection": collection},
            ),
        ]
        for response in requests:
            assert response.status_code == 403
            message = response.json()["error"]["message"]
            assert message == (
                f"this key may not use collection {collection!r}; it is limited to a"
            )
    # Answers for key a never come from b.
    answer = client.post(
        "/v1/ask", headers=key_a, json={"question": "answer cache passages", "generate": False}
    ).json()
    assert answer["passages"] == []
