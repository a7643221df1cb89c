"""Upload hostile files to a real `askdocs serve` process and watch it: each file's outcome and
time, the server's memory and its parse processes', and /healthz latency all along.

Shared by tests/test_hostile_server.py and benchmarks/hostile.py (the README's table).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from live import free_port

_KIB = 1024


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MiB (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / _KIB
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0.0


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


@dataclass
class Probe:
    """Polls /healthz every ``every`` seconds and samples memory, in a thread."""

    url: str
    pid: int
    every: float = 0.05
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    server_peak: float = 0.0
    child_peak: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)

    def reset_peaks(self) -> None:
        self.server_peak = rss_mb(self.pid)
        self.child_peak = 0.0

    def run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self._stop.is_set():
                self.server_peak = max(self.server_peak, rss_mb(self.pid))
                for child in children(self.pid):
                    self.child_peak = max(self.child_peak, rss_mb(child))
                started = time.perf_counter()
                try:
                    ok = client.get(f"{self.url}/healthz").status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    self.latencies.append(time.perf_counter() - started)
                else:
                    self.failures += 1
                self._stop.wait(self.every)

    @contextmanager
    def running(self) -> Iterator[Probe]:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(10)

    def summary(self) -> dict[str, float]:
        ordered = sorted(self.latencies) or [0.0]
        return {
            "probes": len(self.latencies),
            "failures": self.failures,
            "p50_ms": statistics.median(ordered) * 1000,
            "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
            "max_ms": ordered[-1] * 1000,
        }


@dataclass(frozen=True)
class Outcome:
    case: str
    state: str  # succeeded | failed | refused (the upload itself was answered 4xx)
    error: str
    seconds: float
    server_growth_mb: float
    parse_peak_mb: float


def upload_and_wait(
    client: httpx.Client, name: str, data: bytes, *, deadline_s: float = 60
) -> tuple[str, str, float]:
    """Upload one file and follow its job to the end: (state, error, seconds)."""
    started = time.perf_counter()
    response = client.post("/v1/files", files={"file": (name, data)})
    if response.status_code != 202:
        message = response.json().get("error", {}).get("message", response.text)
        return "refused", str(message), time.perf_counter() - started
    job_id = response.json()["files"][0]["job_id"]
    while time.perf_counter() - started < deadline_s:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "failed"):
            return job["state"], job["error"] or "", time.perf_counter() - started
        time.sleep(0.05)
    return "timeout", f"still {job['state']} after {deadline_s:g} s", deadline_s


def run_cases(
    url: str,
    pid: int,
    headers: dict[str, str],
    cases: dict[str, tuple[str, Callable[[], bytes]]],
    warm_up: tuple[str, bytes],
) -> tuple[list[Outcome], dict[str, float], float]:
    """Each case uploaded in turn: its outcome, then /healthz latency over the whole run and
    the server's memory before the first case (MiB)."""
    outcomes: list[Outcome] = []
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        # One normal file first, so models and a parse process are loaded before the baseline.
        state, error, _ = upload_and_wait(client, *warm_up)
        assert state == "succeeded", error
        probe = Probe(url, pid)
        with probe.running():
            baseline = rss_mb(pid)
            for case, (name, build) in cases.items():
                data = build()
                probe.reset_peaks()
                state, error, seconds = upload_and_wait(client, name, data)
                del data
                outcomes.append(
                    Outcome(
                        case,
                        state,
                        error,
                        seconds,
                        max(0.0, probe.server_peak - baseline),
                        probe.child_peak,
                    )
                )
    return outcomes, probe.summary(), baseline


def start_server(
    data_dir: Path, env: dict[str, str] | None = None
) -> tuple[str, subprocess.Popen[bytes], str]:
    """`askdocs serve` on a free loopback port with a write key: (url, process, key)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    environ = os.environ | {"ASKDOCS_DATA_DIR": str(data_dir)} | (env or {})
    key = subprocess.run(
        [sys.executable, "-m", "askdocs", "keys", "create", "--name", "hostile", "--scope",
         "write", "--quiet"],
        env=environ, check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    port = free_port()
    with (data_dir.parent / f"server-{port}.log").open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "askdocs", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=environ,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited during startup; see {log.name}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return url, server, key
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    server.kill()
    raise RuntimeError("the server did not become ready")
