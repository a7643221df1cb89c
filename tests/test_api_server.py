"""The API over a real socket: the official OpenAI client, bounded generation, the CLI."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import openai
import pytest
from typer.testing import CliRunner

from askdocs.api.app import create_app
from askdocs.cli.app import app as cli
from askdocs.container import Container
from askdocs.errors import OverloadedError
from askdocs.generate.base import Message
from askdocs.generate.gate import GenerationGate

from conftest import fake_container
from fakes_generate import FakeGenerator
from live import serving

GUIDE = "# Guide\n\nThe answer cache keeps each answer with the passages it came from.\n"


class SlowGenerator(FakeGenerator):
    """Takes ``delay`` seconds per word, to hold a generation slot."""

    def __init__(self, delay: float) -> None:
        super().__init__("The answer cache keeps each answer with its passages [1].")
        self.delay = delay

    def stream(
        self, messages: Sequence[Message], *, max_tokens: int, temperature: float
    ) -> Iterator[str]:
        for piece in super().stream(messages, max_tokens=max_tokens, temperature=temperature):
            time.sleep(self.delay)
            yield piece


def ingested(tmp_path: Path) -> Container:
    container = fake_container(
        tmp_path / "data", answer="The answer cache keeps each answer with its passages [1]."
    )
    (tmp_path / "guide.md").write_text(GUIDE, encoding="utf-8")
    container.ingestion.ingest_paths([tmp_path / "guide.md"], collection="docs")
    return container


def test_the_official_openai_client_talks_to_askdocs(tmp_path: Path) -> None:
    container = ingested(tmp_path)
    secret, _ = container.keys.create("openai", "read")
    with serving(create_app(container, warm_up=False)) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=secret, max_retries=0)
        assert [m.id for m in client.models.list().data] == ["askdocs"]
        completion = client.chat.completions.create(
            model="askdocs",
            messages=[{"role": "user", "content": "What does the answer cache keep?"}],
        )
        content = completion.choices[0].message.content or ""
        assert "[1]" in content
        assert "Sources:\n[1] " in content and "guide.md (Guide)" in content
        extra = completion.model_extra or {}
        assert extra["askdocs"]["citations"][0]["source"].endswith("guide.md")

        stream = client.chat.completions.create(
            model="askdocs",
            messages=[{"role": "user", "content": "What does the answer cache keep?"}],
            stream=True,
        )
        pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
        assert len(pieces) > 3
        assert "Sources:" in "".join(pieces)

        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=f"{url}/v1", api_key="askd_x_y", max_retries=0).models.list()


def test_gate_refuses_beyond_its_queue() -> None:
    gate = GenerationGate(concurrency=1, queue=1)
    gate.enter()
    waiter = threading.Thread(target=lambda: (gate.enter(), gate.leave()))
    waiter.start()
    deadline = time.monotonic() + 5
    while gate.waiting != 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(OverloadedError):
        gate.enter()
    gate.leave()
    waiter.join(5)
    assert (gate.running, gate.waiting) == (0, 0)


def test_full_generation_queue_gives_503_and_health_stays_fast(tmp_path: Path) -> None:
    container = ingested(tmp_path)
    container._generator = SlowGenerator(0.3)
    container.settings.server.generation_queue = 0
    secret, _ = container.keys.create("load", "read")
    headers = {"Authorization": f"Bearer {secret}"}
    question = {"question": "What does the answer cache keep?", "cache": False}
    with serving(create_app(container, warm_up=False)) as url:
        results: list[int] = []
        first = threading.Thread(
            target=lambda: results.append(
                httpx.post(f"{url}/v1/ask", json=question, headers=headers, timeout=30).status_code
            )
        )
        first.start()
        deadline = time.monotonic() + 10
        while container.generation_gate.running == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        refused = httpx.post(f"{url}/v1/ask", json=question, headers=headers, timeout=30)
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "5"
        assert refused.json()["error"]["code"] == "overloaded"
        started = time.perf_counter()
        assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
        retrieval = httpx.post(
            f"{url}/v1/ask", json=question | {"generate": False}, headers=headers, timeout=5
        )
        assert retrieval.status_code == 200
        assert time.perf_counter() - started < 2  # not queued behind the generation
        first.join(30)
    assert results == [200]


def test_keys_cli_creates_lists_and_revokes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASKDOCS_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    created = runner.invoke(
        cli, ["keys", "create", "--name", "ci", "--scope", "write", "--collection", "a", "--quiet"]
    )
    assert created.exit_code == 0, created.output
    secret = created.output.strip()
    assert secret.startswith("askd_")
    listed = runner.invoke(cli, ["keys", "list", "--json"])
    assert '"collections": [\n      "a"\n    ]' in listed.output
    assert secret not in listed.output
    assert runner.invoke(cli, ["keys", "revoke", "ci"]).exit_code == 0
    assert '"revoked": true' in runner.invoke(cli, ["keys", "list", "--json"]).output


def test_serve_refuses_no_auth_off_loopback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASKDOCS_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--no-auth"])
    assert result.exit_code != 0
    assert isinstance(result.exception, Exception)
    assert "refusing to serve without API keys" in str(result.exception)
