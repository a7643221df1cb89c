"""The HTTP API against hostile callers, through its ASGI app: bodies bounded before they are
parsed and before the key is checked, uploads bounded per request and read one file at a
time, chat and question lengths, storage quotas, tenant isolation on every route, what errors
and health routes reveal, loopback-only access without keys, malformed ids, non-ASCII names."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient

from askdocs.api.app import create_app
from askdocs.api.routes.files import content_disposition
from askdocs.api.uploads import UploadedFile
from askdocs.container import Container
from askdocs.errors import ConfigurationError, GenerationError
from askdocs.generate.openai_compat import OpenAICompatGenerator
from askdocs.storage.blobs import LocalBlobStore
from test_api import bearer, upload, wait_for_job

from conftest import fake_container
from fakes_generate import FakeGenerator

QUESTION = "What does the answer cache keep?"


@pytest.fixture
def app_container(tmp_path: Path) -> Container:
    return fake_container(
        tmp_path / "data", answer="The answer cache keeps each answer with its passages [1]."
    )


@pytest.fixture
def client(app_container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(app_container, warm_up=False)) as test_client:
        yield test_client


def error_of(response: httpx.Response) -> dict[str, str]:
    error: dict[str, str] = response.json()["error"]
    return error


# -- request and resource limits ------------------------------------------------------------


def test_the_key_is_checked_before_the_body_is_read(client: TestClient) -> None:
    # Before: the body was read and parsed first, so a caller without a key got 422 for one
    # that is not JSON, after the server had held all of it.
    headers = {"Content-Type": "application/json"}
    response = client.post("/v1/ask", content=b'{"question": not json', headers=headers)
    assert response.status_code == 401
    response = client.post("/v1/files", files={"file": ("a.md", b"# A\n\ntext")})
    assert response.status_code == 401


def test_a_body_over_the_limit_is_refused_by_its_length(
    client: TestClient, app_container: Container
) -> None:
    app_container.settings.server.max_json_bytes = 2048
    big = {"question": "x" * 5000}
    for headers in ({}, bearer(app_container)):  # with a key or without
        response = client.post("/v1/ask", json=big, headers=headers)
        assert response.status_code == 413
        assert error_of(response)["code"] == "payload_too_large"
        assert "server.max_json_bytes" in error_of(response)["message"]
        assert "2,048 bytes" in error_of(response)["message"]
        assert response.headers["X-Request-ID"]


def test_a_chunked_body_is_counted_as_it_arrives(
    client: TestClient, app_container: Container
) -> None:
    app_container.settings.server.max_json_bytes = 2048
    pieces: list[int] = []

    def body() -> Iterator[bytes]:  # no Content-Length: the server must count
        for n in range(100):
            pieces.append(n)
            yield b'{"question": "' if n == 0 else b"x" * 1000

    headers = bearer(app_container) | {"Content-Type": "application/json"}
    response = client.post("/v1/ask", content=body(), headers=headers)
    assert response.status_code == 413
    assert "server.max_json_bytes" in error_of(response)["message"]


def test_chat_routes_take_larger_bodies(client: TestClient, app_container: Container) -> None:
    server = app_container.settings.server
    server.max_json_bytes, server.max_chat_bytes = 2048, 64 * 1024
    headers = bearer(app_container)
    wait_for_job(client, str(upload(client, headers)["job_id"]), headers)
    history = [{"role": "user", "content": "x" * 1500}, {"role": "assistant", "content": "ok"}]
    messages = history * 2 + [{"role": "user", "content": QUESTION}]
    chat = client.post("/v1/chat", headers=headers, json={"messages": messages})
    assert chat.status_code == 200, chat.text
    huge = [{"role": "user", "content": "x" * 70_000}]
    refused = client.post("/v1/chat/completions", headers=headers, json={"messages": huge})
    assert refused.status_code == 413
    assert "server.max_chat_bytes" in error_of(refused)["message"]


def test_uploads_are_bounded_per_request(client: TestClient, app_container: Container) -> None:
    server = app_container.settings.server
    server.max_upload_files, server.max_upload_total_bytes = 2, 3000
    headers = bearer(app_container)
    three = [("files", (f"{n}.md", f"# {n}\n\ntext".encode())) for n in range(3)]
    response = client.post("/v1/files", headers=headers, files=three)
    assert response.status_code == 413
    assert "server.max_upload_files" in error_of(response)["message"]
    two = [("files", (f"{n}.md", b"# T\n\n" + b"x" * 2000)) for n in range(2)]
    response = client.post("/v1/files", headers=headers, files=two)
    assert response.status_code == 413
    assert "server.max_upload_total_bytes" in error_of(response)["message"]
    assert client.get("/v1/jobs", headers=headers).json()["jobs"] == []


def test_upload_files_are_read_one_at_a_time(
    client: TestClient, app_container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    read, put = UploadedFile.read, LocalBlobStore.put

    def spy_read(self: UploadedFile) -> bytes:
        events.append(f"read {self.name}")
        return read(self)

    def spy_put(self: LocalBlobStore, data: bytes) -> str:
        events.append(f"put {len(data)}")
        return put(self, data)

    monkeypatch.setattr(UploadedFile, "read", spy_read)
    monkeypatch.setattr(LocalBlobStore, "put", spy_put)
    files = [("files", (f"{n}.md", b"# T\n\n" + b"x" * (100_000 + n))) for n in range(3)]
    response = client.post("/v1/files", headers=bearer(app_container), files=files)
    assert response.status_code == 202, response.text
    # Each file is read for its type, then each is read and stored before the next is read:
    # never all of them in memory at once.
    sizes = [f"put {100_005 + n}" for n in range(3)]
    assert events == [
        "read 0.md", "read 1.md", "read 2.md",
        "read 0.md", sizes[0], "read 1.md", sizes[1], "read 2.md", sizes[2],
    ]  # fmt: skip


def test_chat_length_limits_are_4xx_that_say_what_to_shorten(
    client: TestClient, app_container: Container
) -> None:
    headers = bearer(app_container)
    many = [{"role": "user", "content": "hi"}] * 2000
    response = client.post("/v1/chat/completions", headers=headers, json={"messages": many})
    assert response.status_code == 422  # it was 503 (retry), for a request that never fits
    assert error_of(response)["code"] == "too_long"
    assert "server.max_chat_messages" in error_of(response)["message"]
    long = [{"role": "user", "content": "word " * 5000}]
    response = client.post("/v1/chat", headers=headers, json={"messages": long})
    assert response.status_code == 422
    assert "server.max_message_chars" in error_of(response)["message"]
    app_container.settings.server.max_chat_chars = 3000
    turns = [{"role": "user", "content": "x" * 1000}] * 4
    response = client.post("/v1/chat", headers=headers, json={"messages": turns})
    assert "server.max_chat_chars" in error_of(response)["message"]
    app_container.settings.server.max_chat_chars = 200_000
    question = "why " * 1001
    response = client.post("/v1/ask", headers=headers, json={"question": question})
    assert response.status_code == 422
    assert "server.max_question_chars" in error_of(response)["message"]
    messages = [{"role": "user", "content": question}]
    response = client.post("/v1/chat/completions", headers=headers, json={"messages": messages})
    assert "server.max_question_chars" in error_of(response)["message"]


def test_a_long_question_within_the_limit_is_answered(
    client: TestClient, app_container: Container
) -> None:
    headers = bearer(app_container)
    wait_for_job(client, str(upload(client, headers)["job_id"]), headers)
    question = (QUESTION + " ") * 120  # 3,960 characters, ~1,000 word pieces
    assert len(question) <= app_container.settings.server.max_question_chars
    response = client.post("/v1/ask", headers=headers, json={"question": question})
    assert response.status_code == 200, response.text  # the cross-encoder raised: a 500
    assert response.json()["citations"]


def test_a_question_too_long_for_the_model_is_a_4xx(tmp_path: Path) -> None:
    container = fake_container(tmp_path / "data")
    container._generator = FakeGenerator("It keeps passages [1].", context_tokens=300)
    question = " ".join(["What does the answer cache keep?"] * 20)  # 120 words > 300 - 256
    with TestClient(create_app(container, warm_up=False)) as client:
        headers = bearer(container)
        wait_for_job(client, str(upload(client, headers)["job_id"]), headers)
        for stream in (False, True):
            response = client.post(
                "/v1/chat/completions",
                headers=headers,
                json={"messages": [{"role": "user", "content": question}], "stream": stream},
            )
            assert response.status_code == 422, response.text
            assert "shorten" in error_of(response)["message"]


def test_storage_quotas_per_collection(tmp_path: Path) -> None:
    container = fake_container(tmp_path / "data")
    container.settings.server.collection_quota_bytes = 1000
    body = b"# T\n\n" + b"x" * 595  # 600 bytes
    with TestClient(create_app(container, warm_up=False, workers=False)) as client:
        headers = bearer(container)
        first = upload(client, headers, name="one.md", body=body, collection="a")
        # The first is still queued: queued files count.
        refused = client.post(
            "/v1/files", headers=headers, files={"file": ("two.md", body)}, data={"collection": "a"}
        )
        assert refused.status_code == 413
        error = error_of(refused)
        assert error["code"] == "quota_exceeded"
        assert "collection 'a'" in error["message"]
        assert "server.collection_quota_bytes" in error["message"]
        upload(client, headers, name="two.md", body=body, collection="b")  # another collection
        client.delete(f"/v1/files/{first['document_id']}", headers=headers)
        upload(client, headers, name="two.md", body=body, collection="a")  # room again


def test_storage_quotas_per_key(tmp_path: Path) -> None:
    container = fake_container(tmp_path / "data")
    container.settings.server.key_quota_bytes = 1000
    body = b"# T\n\n" + b"x" * 595
    with TestClient(create_app(container, warm_up=False)) as client:
        mine, theirs = bearer(container, "write"), bearer(container, "write")
        wait_for_job(client, str(upload(client, mine, name="one.md", body=body)["job_id"]), mine)
        refused = client.post("/v1/files", headers=mine, files={"file": ("two.md", body)})
        assert refused.status_code == 413
        assert "server.key_quota_bytes" in error_of(refused)["message"]
        assert "API key" in error_of(refused)["message"]
        upload(client, theirs, name="two.md", body=body)  # each key has its own


# -- what errors and health routes tell ------------------------------------------------------


def test_generator_errors_do_not_leak_its_address_or_body(tmp_path: Path) -> None:
    def upstream(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, json={"error": {"message": "db password is hunter2"}})

    container = fake_container(tmp_path / "data")
    container._generator = OpenAICompatGenerator(
        "http://10.9.8.7:8080/v1", "m", transport=httpx.MockTransport(upstream)
    )
    with TestClient(create_app(container, warm_up=False)) as client:
        headers = bearer(container)
        wait_for_job(client, str(upload(client, headers)["job_id"]), headers)
        for path, body in (
            ("/v1/ask", {"question": QUESTION, "cache": False}),
            ("/v1/ask", {"question": QUESTION, "cache": False, "stream": True}),
            ("/v1/chat/completions", {"messages": [{"role": "user", "content": QUESTION}]}),
        ):
            response = client.post(path, headers=headers, json=body)
            assert response.status_code == 503
            message = error_of(response)["message"]
            assert "10.9.8.7" not in response.text and "hunter2" not in response.text
            assert "request id" in message


def test_a_job_internal_error_is_not_shown(client: TestClient, app_container: Container) -> None:
    jobs = app_container.jobs
    job = jobs.submit(document_id="d" * 24, collection="c", source="a.md", blob="0" * 64, version=1)
    jobs.fail(job.job_id, "internal error: [Errno 13] /srv/askdocs/blobs/00/secret")
    headers = bearer(app_container)
    shown = client.get(f"/v1/jobs/{job.job_id}", headers=headers).json()["error"]
    assert "/srv" not in shown and job.job_id in shown
    listed = client.get("/v1/files", headers=headers, params={"status": "failed"}).json()
    assert "/srv" not in str(listed)


def test_metrics_need_an_admin_key(client: TestClient, app_container: Container) -> None:
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=bearer(app_container, "read")).status_code == 403
    admin = client.get("/metrics", headers=bearer(app_container))
    assert admin.status_code == 200 and "askdocs_ingest_jobs" in admin.text


def test_readyz_tells_why_only_to_an_admin(tmp_path: Path) -> None:
    class BrokenEmbedder:
        def embed(self, texts: list[str]) -> None:
            raise GenerationError("cannot reach http://10.1.1.1:9000 with token s3cret")

    container = fake_container(tmp_path / "data")
    container.__dict__["embedder"] = BrokenEmbedder()
    with TestClient(create_app(container)) as client:
        for _ in range(250):
            response = client.get("/readyz")
            if "failed" in response.text:
                break
            time.sleep(0.02)
        assert response.status_code == 503
        assert "10.1.1.1" not in response.text and "s3cret" not in response.text
        admin = client.get("/readyz", headers=bearer(container))
        assert "10.1.1.1" in error_of(admin)["message"]


# -- tenant isolation ------------------------------------------------------------------------


# -- without API keys: loopback only ----------------------------------------------------------


def keyless(tmp_path: Path, host: str = "127.0.0.1") -> Container:
    container = fake_container(tmp_path / "data")
    container.settings.server.auth = False
    container.settings.server.host = host
    return container


def test_the_app_refuses_to_run_without_keys_off_loopback(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="refusing to serve without API keys"):
        create_app(keyless(tmp_path, host="0.0.0.0"), warm_up=False)


def test_without_keys_only_loopback_names_and_origins_are_served(tmp_path: Path) -> None:
    app = create_app(keyless(tmp_path), warm_up=False)
    local = ("127.0.0.1", 50000)
    with TestClient(app, base_url="http://127.0.0.1:8000", client=local) as client:
        assert client.get("/v1/files").status_code == 200
        same_site = {"Origin": "http://127.0.0.1:8000"}
        assert client.post("/v1/ask", json={"question": QUESTION}, headers=same_site).is_success
        # DNS rebinding: evil.example resolves to 127.0.0.1, the browser sends its name.
        rebound = client.get("/v1/files", headers={"Host": "evil.example:8000"})
        assert rebound.status_code == 403
        assert "Host 'evil.example'" in error_of(rebound)["message"]
        # A page on another site posting a file from the visitor's browser.
        cross = client.post(
            "/v1/files",
            headers={"Origin": "https://evil.example"},
            files={"file": ("x.md", b"# X\n\ntext")},
        )
        assert cross.status_code == 403
        assert "Origin" in error_of(cross)["message"]
        assert client.get("/v1/files", headers={"Origin": "null"}).status_code == 403
    with TestClient(app, base_url="http://127.0.0.1:8000", client=("10.0.0.7", 5)) as remote:
        assert remote.get("/v1/files").status_code == 403


# -- path parameters and file names ----------------------------------------------------------


MALFORMED = ["x'y", "...", "%00", "a" * 300, "ÄÖ", "g" * 24, "0123456789ABCDEF01234567", " "]


def test_malformed_ids_are_404_never_500(client: TestClient, app_container: Container) -> None:
    headers = bearer(app_container)
    for bad in MALFORMED:
        token = quote(bad, safe="")
        for method, path in [
            ("GET", f"/v1/files/{token}"),
            ("GET", f"/v1/files/{token}/content"),
            ("DELETE", f"/v1/files/{token}"),
            ("GET", f"/v1/jobs/{token}"),
            ("GET", f"/v1/passages/{token}"),
        ]:
            response = client.request(method, path, headers=headers)
            assert response.status_code == 404, (method, path, response.text)
            assert error_of(response)["code"] == "not_found"
        replaced = client.put(
            f"/v1/files/{token}", headers=headers, files={"file": ("a.md", b"# A\n\nt")}
        )
        assert replaced.status_code == 404


def test_a_non_ascii_file_name_downloads(client: TestClient, app_container: Container) -> None:
    headers = bearer(app_container)
    body = "# 报告\n\n年度报告的内容。\n".encode()
    accepted = upload(client, headers, name="年度报告 2024.md", body=body)
    wait_for_job(client, str(accepted["job_id"]), headers)
    response = client.get(f"/v1/files/{accepted['document_id']}/content", headers=headers)
    assert response.status_code == 200 and response.content == body  # it was a 500
    assert response.headers["content-disposition"] == (
        'attachment; filename="____ 2024.md"; '
        "filename*=UTF-8''%E5%B9%B4%E5%BA%A6%E6%8A%A5%E5%91%8A%202024.md"
    )
    # Quotes, backslashes and control characters cannot end the header's value early.
    assert content_disposition('a"b\\c\r\nd.md') == (
        "attachment; filename=\"a_b_cd.md\"; filename*=UTF-8''a%22b%5Ccd.md"
    )
