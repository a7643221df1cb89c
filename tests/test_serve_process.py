"""`askdocs serve` as a real process with the real models: Ctrl-C mid-ingestion leaves the job
queued, and the next start finishes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from live import free_port


def start(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = os.environ | {"ASKDOCS_DATA_DIR": str(data_dir)}
    with (data_dir.parent / f"server-{port}.log").open("wb") as log:  # the child keeps its copy
        return subprocess.Popen(
            [sys.executable, "-m", "askdocs", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def wait_ready(url: str, server: subprocess.Popen[bytes], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert server.poll() is None, "the server exited during startup"
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError("the server did not become ready")


def stop(server: subprocess.Popen[bytes]) -> int:
    server.send_signal(signal.SIGINT)
    try:
        return server.wait(30)
    except subprocess.TimeoutExpired:
        server.kill()
        raise


@pytest.mark.timeout(400)
def test_ctrl_c_mid_job_leaves_it_resumable(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    key = subprocess.run(
        [sys.executable, "-m", "askdocs", "keys", "create", "--name", "t", "--scope", "write",
         "--quiet"],
        env=os.environ | {"ASKDOCS_DATA_DIR": str(data_dir)},
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    headers = {"Authorization": f"Bearer {key}"}
    # Enough distinct text for the real embedder to take several seconds.
    book = "\n\n".join(
        f"## Section {i}\n\nParagraph {i} explains setting number {i * 7} of subsystem "
        f"{i % 13}, which controls how record {i * 31} is written, read and verified."
        for i in range(1500)
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start(data_dir, port)
    try:
        wait_ready(url, server)
        accepted = httpx.post(
            f"{url}/v1/files", headers=headers, files={"file": ("book.md", book.encode())}
        ).json()["files"][0]
        job_url = f"{url}/v1/jobs/{accepted['job_id']}"
        deadline = time.monotonic() + 120
        while httpx.get(job_url, headers=headers).json()["progress"]["chunks_done"] == 0:
            assert time.monotonic() < deadline, "the job never made progress"
            time.sleep(0.1)
    finally:
        code = stop(server)
    assert code == 0

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start(data_dir, port)
    try:
        wait_ready(url, server)
        job_url = f"{url}/v1/jobs/{accepted['job_id']}"
        first = httpx.get(job_url, headers=headers).json()
        assert first["state"] in ("queued", "running", "succeeded")
        deadline = time.monotonic() + 240
        job = first
        while job["state"] not in ("succeeded", "failed"):
            assert time.monotonic() < deadline, f"the resumed job did not finish: {job}"
            time.sleep(0.5)
            job = httpx.get(job_url, headers=headers).json()
        assert job["state"] == "succeeded", job
        document = httpx.get(f"{url}/v1/files/{accepted['document_id']}", headers=headers).json()
        assert document["status"] == "ready"
        assert document["version"] == 1
        assert document["chunk_count"] == job["progress"]["chunks_total"] > 100
    finally:
        stop(server)
