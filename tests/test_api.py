"""The HTTP API through its ASGI app, with fake models: files, jobs, keys, answers, errors."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from askdocs.api.app import create_app
from askdocs.api.observability import configure_logging
from askdocs.container import Container
from askdocs.jobs.store import owner_id
from askdocs.jobs.worker import JobRunner
from askdocs.services.ingestion import IngestOutcome

from conftest import fake_container

GUIDE = """# Caching guide

## Answer cache

The answer cache keeps each answer with the passages it came from. An answer is served again
only while those passages are unchanged.

## Embedding cache

Embeddings are cached by model and text hash, so unchanged chunks are never embedded twice.
"""


def wait_for_job(client: TestClient, job_id: str, headers: dict[str, str]) -> dict[str, object]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job: dict[str, object] = client.get(f"/v1/jobs/{job_id}", headers=headers).json()
        if job["state"] in ("succeeded", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {job}")


@pytest.fixture
def app_container(tmp_path: Path) -> Container:
    return fake_container(
        tmp_path / "data", answer="The answer cache keeps each answer with its passages [1]."
    )


@pytest.fixture
def client(app_container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(app_container, warm_up=False)) as test_client:
        yield test_client


def bearer(container: Container, scope: str = "admin", *collections: str) -> dict[str, str]:
    secret, _ = container.keys.create(f"test-{scope}", scope, collections)
    return {"Authorization": f"Bearer {secret}"}


def upload(
    client: TestClient,
    headers: dict[str, str],
    name: str = "guide.md",
    body: bytes = GUIDE.encode(),
    **fields: str,
) -> dict[str, object]:
    response = client.post("/v1/files", headers=headers, files={"file": (name, body)}, data=fields)
    assert response.status_code == 202, response.text
    accepted: dict[str, object] = response.json()["files"][0]
    return accepted


def test_every_v1_route_needs_a_key_and_errors_are_json(client: TestClient) -> None:
    for method, path in [("get", "/v1/files"), ("post", "/v1/ask"), ("get", "/v1/jobs")]:
        response = client.request(method, path)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
        assert "Bearer" in response.json()["error"]["message"]
        assert response.headers["X-Request-ID"]
    bad = client.get("/v1/files", headers={"Authorization": "Bearer askd_nope_x"})
    assert bad.status_code == 401
    assert client.get("/healthz").json() == {"status": "ok"}


def test_scopes_and_collections_are_enforced(client: TestClient, app_container: Container) -> None:
    reader = bearer(app_container, "read")
    response = client.post("/v1/files", headers=reader, files={"file": ("a.md", b"# A\n\ntext")})
    assert response.status_code == 403
    assert "scope" in response.json()["error"]["message"]
    limited = bearer(app_container, "write", "team-a")
    response = client.post(
        "/v1/files",
        headers=limited,
        files={"file": ("a.md", b"# A\n\nt")},
        data={"collection": "b"},
    )
    assert response.status_code == 403
    ask = client.post("/v1/ask", headers=limited, json={"question": "q", "collection": "b"})
    assert ask.status_code == 403
    secret, info = app_container.keys.create("gone", "admin")
    app_container.keys.revoke(info.key_id)
    revoked = client.get("/v1/files", headers={"Authorization": f"Bearer {secret}"})
    assert revoked.status_code == 401
    assert "revoked" in revoked.json()["error"]["message"]


def test_upload_ingest_read_replace_delete(client: TestClient, app_container: Container) -> None:
    headers = bearer(app_container)
    accepted = upload(client, headers, collection="docs")
    assert accepted["version"] == 1
    job = wait_for_job(client, str(accepted["job_id"]), headers)
    assert job["state"] == "succeeded", job
    progress = job["progress"]
    assert isinstance(progress, dict) and progress["chunks_done"] == progress["chunks_total"] > 0
    document_id = accepted["document_id"]

    listed = client.get("/v1/files", headers=headers, params={"collection": "docs"}).json()
    assert [f["document_id"] for f in listed["files"]] == [document_id]
    assert listed["files"][0]["status"] == "ready"

    content = client.get(f"/v1/files/{document_id}/content", headers=headers)
    assert content.content == GUIDE.encode()
    etag = content.headers["ETag"]
    again = client.get(
        f"/v1/files/{document_id}/content", headers=headers | {"If-None-Match": etag}
    )
    assert again.status_code == 304

    replaced = client.put(
        f"/v1/files/{document_id}",
        headers=headers,
        files={"file": ("guide.md", (GUIDE + "\n## More\n\nA new section here.\n").encode())},
    )
    assert replaced.status_code == 202
    assert replaced.json()["document_id"] == document_id
    assert replaced.json()["version"] == 2
    wait_for_job(client, replaced.json()["job_id"], headers)
    detail = client.get(f"/v1/files/{document_id}", headers=headers).json()
    assert detail["version"] == 2
    assert [v["version"] for v in detail["versions"]] == [2, 1]
    assert client.get(f"/v1/files/{document_id}/content", headers=headers).headers["ETag"] != etag

    assert client.delete(f"/v1/files/{document_id}", headers=headers).status_code == 200
    assert client.get(f"/v1/files/{document_id}", headers=headers).status_code == 404
    gone = client.get(f"/v1/files/{document_id}/content", headers=headers)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "not_found"


def test_a_file_outside_the_key_collections_is_not_found(
    client: TestClient, app_container: Container
) -> None:
    admin = bearer(app_container)
    accepted = upload(client, admin, collection="secret")
    wait_for_job(client, str(accepted["job_id"]), admin)
    other = bearer(app_container, "admin", "public")
    assert client.get(f"/v1/files/{accepted['document_id']}", headers=other).status_code == 404
    assert client.get("/v1/files", headers=other).json()["files"] == []


def test_upload_limits_and_types(tmp_path: Path) -> None:
    container = fake_container(tmp_path / "data")
    container.settings.server.max_upload_bytes = 1000
    with TestClient(create_app(container, warm_up=False)) as client:
        headers = bearer(container)
        big = client.post("/v1/files", headers=headers, files={"file": ("big.txt", b"x" * 5000)})
        assert big.status_code == 413
        assert "1,000 bytes" in big.json()["error"]["message"]
        exe = client.post(
            "/v1/files", headers=headers, files={"file": ("tool.exe", b"MZ\x90\x00" + b"\0" * 50)}
        )
        assert exe.status_code == 415
        assert ".pdf" in exe.json()["error"]["message"]
        assert client.get("/v1/jobs", headers=headers).json()["jobs"] == []


def test_a_file_that_cannot_be_parsed_fails_its_job_with_the_reason(
    client: TestClient, app_container: Container
) -> None:
    headers = bearer(app_container)
    accepted = upload(client, headers, name="empty.md", body=b"   \n")
    job = wait_for_job(client, str(accepted["job_id"]), headers)
    assert job["state"] == "failed"
    assert "empty" in str(job["error"])
    listed = client.get("/v1/files", headers=headers, params={"status": "failed"}).json()
    assert listed["files"][0]["error"] == job["error"]


def test_ask_returns_the_cli_json_and_streams_sse(
    client: TestClient, app_container: Container
) -> None:
    headers = bearer(app_container)
    wait_for_job(client, str(upload(client, headers)["job_id"]), headers)
    body = client.post(
        "/v1/ask", headers=headers, json={"question": "What does the answer cache keep?"}
    ).json()
    assert set(body) >= {"answer", "citations", "passages", "abstained", "cache", "timings_ms"}
    assert body["citations"][0]["source"] == "guide.md"
    assert body["cache"] == "miss"

    with client.stream(
        "POST",
        "/v1/ask",
        headers=headers,
        json={"question": "How are embeddings cached?", "stream": True},
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line.startswith("event:")]
    assert events[0] == "event: token"
    assert events[-1] == "event: answer"


def test_chat_rewrites_a_follow_up(client: TestClient, app_container: Container) -> None:
    headers = bearer(app_container)
    wait_for_job(client, str(upload(client, headers)["job_id"]), headers)
    body = client.post(
        "/v1/chat",
        headers=headers,
        json={
            "messages": [
                {"role": "user", "content": "How does the answer cache work?"},
                {"role": "assistant", "content": "It keeps passages [1]."},
                {"role": "user", "content": "and when is it served again?"},
            ]
        },
    ).json()
    assert body["rewritten_question"] == "When is answer cache work served again?"
    assert body["citations"]


def test_passage_with_neighbours(client: TestClient, app_container: Container) -> None:
    headers = bearer(app_container)
    wait_for_job(client, str(upload(client, headers)["job_id"]), headers)
    answer = client.post(
        "/v1/ask", headers=headers, json={"question": "embedding cache", "generate": False}
    ).json()
    chunk_id = answer["passages"][0]["chunk_id"]
    shown = client.get(f"/v1/passages/{chunk_id}", headers=headers).json()
    assert shown["passage"]["chunk_id"] == chunk_id
    assert shown["before"] or shown["after"]
    assert client.get("/v1/passages/nope-1-0", headers=headers).status_code == 404


def test_metrics_and_request_ids(client: TestClient, app_container: Container) -> None:
    headers = bearer(app_container) | {"X-Request-ID": "trace-me-1"}
    wait_for_job(client, str(upload(client, headers)["job_id"]), headers)
    response = client.post("/v1/ask", headers=headers, json={"question": "answer cache"})
    assert response.headers["X-Request-ID"] == "trace-me-1"
    assert client.get("/metrics").status_code == 401  # counts over every collection
    text = client.get("/metrics", headers=headers).text
    for name in (
        'askdocs_http_requests_total{method="POST",route="/v1/ask",status="200"}',
        "askdocs_http_request_duration_seconds_bucket",
        'askdocs_ingest_jobs{state="succeeded"} 1.0',
        "askdocs_chunks_ingested_total",
        "askdocs_retrieval_duration_seconds_count 1.0",
        "askdocs_generation_duration_seconds_count 1.0",
        "askdocs_tokens_generated_total",
        'askdocs_answer_cache_events_total{event="misses",layer="exact"} 1.0',
        'askdocs_answer_cache{stat="entries"} 1.0',
    ):
        assert name in text, name


def test_validation_errors_are_json_422(client: TestClient, app_container: Container) -> None:
    response = client.post("/v1/ask", headers=bearer(app_container), json={"k": 3})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert "question" in error["message"]
    assert "Traceback" not in response.text


def test_queued_jobs_resume_after_a_restart(tmp_path: Path) -> None:
    container = fake_container(tmp_path / "data")
    with TestClient(create_app(container, warm_up=False, workers=False)) as client:
        headers = bearer(container)
        accepted = upload(client, headers)
        assert client.get(f"/v1/jobs/{accepted['job_id']}", headers=headers).json()["state"] == (
            "queued"
        )
    restarted = fake_container(tmp_path / "data")
    with TestClient(create_app(restarted, warm_up=False)) as client:
        job = wait_for_job(client, str(accepted["job_id"]), headers)
        assert job["state"] == "succeeded"


def test_a_job_left_running_by_a_dead_process_is_resumed(tmp_path: Path) -> None:
    container = fake_container(tmp_path / "data")
    blob = container.blobs.put(GUIDE.encode())
    job = container.jobs.submit(
        document_id="d" * 24, collection="c", source="guide.md", blob=blob, version=1
    )
    assert container.jobs.claim() is not None
    # Pretend the owner was a process that no longer exists.
    db = container.jobs._db()
    host = owner_id().rpartition(":")[0]
    db.execute("UPDATE jobs SET owner = ? WHERE id = ?", (f"{host}:2147483000", job.job_id))
    assert container.jobs.recover() == (1, 0)
    assert container.jobs.get(job.job_id).state == "queued"  # type: ignore[union-attr]


def test_openapi_describes_the_routes(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/v1/files", "/v1/ask", "/v1/chat", "/v1/chat/completions", "/v1/jobs/{job_id}"} <= set(
        spec["paths"]
    )
    assert json.loads(client.get("/readyz").text)["status"] == "ready"


def test_api_docs_work_offline(client: TestClient) -> None:
    page = client.get("/docs").text
    assert "/docs-assets/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower()
    bundle = client.get("/docs-assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    assert len(bundle.content) > 100_000


def test_a_key_over_its_rate_gets_429(tmp_path: Path) -> None:
    container = fake_container(tmp_path / "data")
    container.settings.server.rate_limit_per_minute = 3
    with TestClient(create_app(container, warm_up=False)) as client:
        headers = bearer(container)
        statuses = [client.get("/v1/jobs", headers=headers).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        limited = client.get("/v1/jobs", headers=headers)
        assert limited.json()["error"]["code"] == "rate_limited"
        assert int(limited.headers["Retry-After"]) >= 1
        assert client.get("/v1/jobs", headers=bearer(container)).status_code == 200  # per key


def test_a_transient_failure_is_retried_with_backoff(tmp_path: Path) -> None:
    container = fake_container(tmp_path / "data")
    blob = container.blobs.put(GUIDE.encode())
    job = container.jobs.submit(
        document_id="d" * 24, collection="c", source="guide.md", blob=blob, version=1
    )
    calls: list[str] = []
    real = container.ingestion

    class FlakyIngestion:
        def ingest_blob(self, digest: str, **kwargs: Any) -> IngestOutcome:
            calls.append(kwargs["source"])
            if len(calls) == 1:
                raise OSError("disk busy")
            return real.ingest_blob(digest, **kwargs)

    runner = JobRunner(container.jobs, lambda: FlakyIngestion(), container.blobs, backoff=0.2)  # type: ignore[arg-type, return-value]
    assert runner.run_once() is not None
    retried = container.jobs.get(job.job_id)
    assert retried is not None and retried.state == "queued" and retried.error == "disk busy"
    assert runner.run_once() is None  # not before the backoff has passed
    time.sleep(0.25)
    assert runner.run_once() is not None
    done = container.jobs.get(job.job_id)
    assert done is not None and (done.state, done.attempts) == ("succeeded", 2)
    assert calls == ["guide.md", "guide.md"]


def test_json_logs_carry_the_request_id(
    client: TestClient, app_container: Container, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging()
    try:
        client.get("/v1/jobs", headers=bearer(app_container) | {"X-Request-ID": "log-me-42"})
    finally:
        logging.getLogger("askdocs").handlers.clear()
        logging.getLogger("askdocs").propagate = True
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    access = [entry for entry in lines if entry.get("path") == "/v1/jobs"]
    assert access and access[0]["request_id"] == "log-me-42"
    assert access[0]["status"] == 200


def test_keys_with_different_access_never_share_cached_answers(
    client: TestClient, app_container: Container
) -> None:
    admin = bearer(app_container)
    wait_for_job(client, str(upload(client, admin, collection="docs")["job_id"]), admin)
    limited = bearer(app_container, "read", "docs")
    question = {"question": "What does the answer cache keep?"}
    first = client.post("/v1/ask", headers=limited, json=question).json()
    again = client.post("/v1/ask", headers=limited, json=question).json()
    other = client.post("/v1/ask", headers=admin, json=question).json()
    assert (first["cache"], again["cache"], other["cache"]) == ("miss", "exact", "miss")


def test_cached_answers_survive_a_server_restart(tmp_path: Path) -> None:
    answer = "The answer cache keeps each answer with its passages [1]."
    question = {"question": "What does the answer cache keep?"}
    container = fake_container(tmp_path / "data", answer=answer)
    with TestClient(create_app(container, warm_up=False)) as client:
        headers = bearer(container)
        wait_for_job(client, str(upload(client, headers)["job_id"]), headers)
        assert client.post("/v1/ask", headers=headers, json=question).json()["cache"] == "miss"
    restarted = fake_container(tmp_path / "data", answer=answer)
    with TestClient(create_app(restarted, warm_up=False)) as client:
        assert client.post("/v1/ask", headers=headers, json=question).json()["cache"] == "exact"
