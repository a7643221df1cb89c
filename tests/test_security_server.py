"""Hostile HTTP over a real socket (uvicorn, tests/live.py): huge and endless bodies are refused
before they are read, askers waiting for a generation slot leave the other routes their
threads, and without API keys a rebound DNS name is refused."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from askdocs.api.app import create_app
from askdocs.container import Container
from askdocs.generate.base import Message

from conftest import fake_container
from fakes_generate import FakeGenerator
from live import serving

GUIDE = "# Guide\n\nThe answer cache keeps each answer with the passages it came from.\n"
QUESTION = {"question": "What does the answer cache keep?", "cache": False}


def ingested(tmp_path: Path) -> Container:
    container = fake_container(tmp_path / "data", answer="It keeps passages [1].")
    (tmp_path / "guide.md").write_text(GUIDE, encoding="utf-8")
    container.ingestion.ingest_paths([tmp_path / "guide.md"], collection="docs")
    return container


def raw_request(url: str, head: str, body_pieces: Sequence[bytes] = ()) -> bytes:
    """Send a request's head and some body bytes, never its end; what the server answers."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(head.encode())
        for piece in body_pieces:
            try:
                s.sendall(piece)
            except OSError:  # the server answered and closed: it read no further
                break
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
        return answer


def test_a_huge_body_is_refused_after_its_headers(tmp_path: Path) -> None:
    container = fake_container(tmp_path / "data")
    secret, _ = container.keys.create("t", "admin")
    with serving(create_app(container, warm_up=False)) as url:
        for path, size, auth, status in [
            ("/v1/ask", 200 * 2**20, False, b"413"),
            ("/v1/ask", 200 * 2**20, True, b"413"),
            ("/v1/chat/completions", 200 * 2**20, False, b"413"),
            ("/v1/files", 200 * 2**20, False, b"401"),  # within upload limits: the key first
            ("/v1/files", 300 * 2**20, True, b"413"),
        ]:
            head = (
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Content-Type: application/json\r\nContent-Length: {size}\r\n"
                + (f"Authorization: Bearer {secret}\r\n" if auth else "")
                + "\r\n"
            )
            answer = raw_request(url, head)  # no body sent at all: answered from the headers
            assert answer.startswith(b"HTTP/1.1 " + status), (path, answer[:300])
            assert b"connection: close" in answer.lower()  # the rest is not read either
            if status == b"413":
                assert b'"code":"payload_too_large"' in answer
                assert b"setting server.max_" in answer


def test_an_endless_chunked_body_is_cut_off_at_the_limit(tmp_path: Path) -> None:
    container = fake_container(tmp_path / "data")
    container.settings.server.max_json_bytes = 64 * 1024
    secret, _ = container.keys.create("t", "read")
    with serving(create_app(container, warm_up=False)) as url:
        head = (
            "POST /v1/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {secret}\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        piece = b"4000\r\n" + b"x" * 0x4000 + b"\r\n"  # 16 KiB chunks, and never the last one
        answer = raw_request(url, head, [piece] * 8)
        assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
        assert b"server.max_json_bytes" in answer
        # Without a key, not a byte of the body is read.
        no_key = head.replace(f"Authorization: Bearer {secret}\r\n", "")
        assert raw_request(url, no_key, [piece]).startswith(b"HTTP/1.1 401 ")


class BlockedGenerator(FakeGenerator):
    """Holds its generation slot until released: askers pile up behind it."""

    def __init__(self) -> None:
        super().__init__("It keeps passages [1].")
        self.release = threading.Event()

    def stream(
        self, messages: Sequence[Message], *, max_tokens: int, temperature: float
    ) -> Iterator[str]:
        self.release.wait(60)
        yield from super().stream(messages, max_tokens=max_tokens, temperature=temperature)


@pytest.mark.timeout(120)
def test_askers_waiting_for_a_generation_slot_leave_other_routes_their_threads(
    tmp_path: Path,
) -> None:
    container = ingested(tmp_path)
    generator = BlockedGenerator()
    container._generator = generator
    server = container.settings.server
    server.generation_concurrency, server.generation_queue = 1, 60
    secret, _ = container.keys.create("load", "read")
    headers = {"Authorization": f"Bearer {secret}"}
    askers = 45  # more than the 40 threads FastAPI runs sync routes on
    statuses: list[int] = []
    with serving(create_app(container, warm_up=False)) as url:

        def ask() -> None:
            response = httpx.post(f"{url}/v1/ask", json=QUESTION, headers=headers, timeout=60)
            statuses.append(response.status_code)

        threads = [threading.Thread(target=ask) for _ in range(askers)]
        for thread in threads:
            thread.start()
        try:
            gate = container.generation_gate
            for _ in range(1000):  # until all of them hold or wait for the slot
                if gate.running + gate.waiting == askers:
                    break
                generator.release.wait(0.02)
            assert (gate.running, gate.waiting) == (1, askers - 1)
            for path in ("/healthz", "/v1/files", "/v1/jobs", "/readyz"):
                response = httpx.get(f"{url}{path}", headers=headers, timeout=5)
                assert response.status_code == 200, path
        finally:
            generator.release.set()
            for thread in threads:
                thread.join(60)
    assert statuses == [200] * askers


def test_without_keys_a_rebound_name_is_refused(tmp_path: Path) -> None:
    container = fake_container(tmp_path / "data")
    container.settings.server.auth = False
    with serving(create_app(container, warm_up=False)) as url:
        assert httpx.get(f"{url}/v1/files").status_code == 200
        rebound = httpx.get(f"{url}/v1/files", headers={"Host": "attacker.example"})
        assert rebound.status_code == 403
        assert "attacker.example" in rebound.json()["error"]["message"]
        page = httpx.post(
            f"{url}/v1/files",
            headers={"Origin": "http://attacker.example"},
            files={"file": ("x.md", b"# X\n\ntext")},
        )
        assert page.status_code == 403
