"""HTTP load: latency of /v1/ask under a bounded load, and whether generation starves the rest.

Usage: python benchmarks/load.py [--requests 64] [--generate-requests 16] [--levels 1,8,32]
Starts a real `askdocs serve` on a free loopback port over a copy of the sqlite documentation
data dir (built by benchmarks/quality.py), then, with a fixed number of requests at each
concurrency level:
  1. retrieval only (`generate: false`), concurrency 1, 8, 32;
  2. with generation (`cache: false`, distinct questions), concurrency 1, 8, 32;
  3. while 8 generations run: /healthz and retrieval-only requests, one at a time.
Counts every status; 503s are the bounded generation queue refusing work (with Retry-After),
any other 5xx is a failure. Writes benchmarks/results/load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from common import DATA, percentiles, read_jsonl, table, write_result

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    data_dir: Path, port: int, extra_env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    # The load generator is one key sending hundreds of requests: no per-key rate limit.
    env = (
        os.environ
        | {
            "ASKDOCS_DATA_DIR": str(data_dir),
            "ASKDOCS_SERVER__RATE_LIMIT_PER_MINUTE": "0",
        }
        | (extra_env or {})
    )
    askdocs = [sys.executable, "-m", "askdocs"]
    key = subprocess.run(
        [*askdocs, "keys", "create", "--name", "load", "--scope", "read", "--quiet"],
        env=env, check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    log = open(data_dir / "server.log", "wb")  # noqa: SIM115 - lives as long as the server
    server = subprocess.Popen(
        [*askdocs, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return server, key
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    server.kill()
    raise SystemExit("the server did not become ready in 120 s; see server.log")


async def run_level(
    client: httpx.AsyncClient, bodies: list[dict[str, Any]], concurrency: int
) -> dict[str, Any]:
    """Sends every body once, at most ``concurrency`` at a time."""
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()

    async def one(body: dict[str, Any]) -> None:
        async with gate:
            started = time.perf_counter()
            response = await client.post("/v1/ask", json=body)
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[response.status_code] += 1

    started = time.perf_counter()
    await asyncio.gather(*(one(b) for b in bodies))
    wall = time.perf_counter() - started
    return {
        "concurrency": concurrency,
        "requests": len(bodies),
        "statuses": dict(statuses),
        "server_errors": sum(n for s, n in statuses.items() if s >= 500 and s != 503),
        "refused_503": statuses.get(503, 0),
        "throughput_rps": round(len(bodies) / wall, 2),
        "latency_ms": percentiles(latencies),
    }


async def responsiveness(
    client: httpx.AsyncClient, questions: list[str], generations: int, probes: int
) -> dict[str, Any]:
    """/healthz and retrieval-only latency while ``generations`` generations are in flight."""
    busy = [
        asyncio.create_task(
            client.post("/v1/ask", json={"question": q, "cache": False}, timeout=600)
        )
        for q in questions[:generations]
    ]
    await asyncio.sleep(2)  # let the generations start and queue
    health: list[float] = []
    retrieval: list[float] = []
    for i in range(probes):
        started = time.perf_counter()
        await client.get("/healthz")
        health.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        body = {"question": questions[i % len(questions)], "generate": False}
        response = await client.post("/v1/ask", json=body)
        assert response.status_code == 200, response.text
        retrieval.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.05)
    results = await asyncio.gather(*busy)
    return {
        "generations_in_flight": generations,
        "probes": probes,
        "healthz_ms": percentiles(health),
        "retrieval_ms": percentiles(retrieval),
        "generation_statuses": dict(Counter(r.status_code for r in results)),
    }


async def measure(url: str, key: str, args: argparse.Namespace) -> dict[str, Any]:
    questions = [
        q["question"]
        for q in read_jsonl(DATA / "sqlite" / "questions.jsonl")
        if q.get("kind") != "negative"
    ]
    levels = [int(x) for x in args.levels.split(",")]
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, timeout=900, limits=limits
    ) as client:
        await client.post("/v1/ask", json={"question": questions[0], "generate": False})
        phases = set(args.phases.split(","))
        retrieval = [] if "retrieval" not in phases else [
            await run_level(
                client,
                [{"question": questions[i % len(questions)], "generate": False}
                 for i in range(args.requests)],
                level,
            )
            for level in levels
        ]  # fmt: skip
        generation = []
        offset = 0
        for level in levels if "generation" in phases else []:
            count = max(args.generate_requests, level)
            bodies = [
                {"question": questions[(offset + i) % len(questions)], "cache": False}
                for i in range(count)
            ]
            offset += count
            generation.append(await run_level(client, bodies, level))
        busy = await responsiveness(client, questions[offset + 1 :], 8, args.probes)
    return {"retrieval": retrieval, "generation": generation, "while_generating": busy}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--generate-requests", type=int, default=16)
    parser.add_argument("--levels", default="1,8,32")
    parser.add_argument("--probes", type=int, default=40)
    parser.add_argument(
        "--phases",
        default="retrieval,generation",
        help="which level sweeps to run before the responsiveness check (always run)",
    )
    parser.add_argument("--name", default="load", help="results file name")
    args = parser.parse_args()
    source = DATA / "sqlite" / "askdocs-data"
    if not source.exists():
        raise SystemExit("run benchmarks/quality.py first: it builds the sqlite data dir")
    with tempfile.TemporaryDirectory(prefix="askdocs-load-") as tmp:
        data_dir = Path(tmp) / "data"
        shutil.copytree(source, data_dir, ignore=shutil.ignore_patterns("cache"))
        port = free_port()
        server, key = start_server(data_dir, port)
        try:
            results = asyncio.run(measure(f"http://127.0.0.1:{port}", key, args))
        finally:
            server.terminate()
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
    rows = []
    for kind in ("retrieval", "generation"):
        for level in results[kind]:
            lat = level["latency_ms"]
            rows.append([
                kind, level["concurrency"], level["requests"], lat["p50"], lat["p95"], lat["p99"],
                level["throughput_rps"], level["refused_503"], level["server_errors"],
            ])  # fmt: skip
    print(
        table(
            "/v1/ask under load (loopback, real server, real models)",
            ["kind", "conc.", "requests", "p50 ms", "p95 ms", "p99 ms", "req/s", "503", "5xx"],
            rows,
        )
    )
    busy = results["while_generating"]
    print(
        table(
            "While 8 generations run",
            ["probe", "p50 ms", "p95 ms", "p99 ms"],
            [
                ["/healthz", *(busy["healthz_ms"][p] for p in ("p50", "p95", "p99"))],
                ["retrieval only", *(busy["retrieval_ms"][p] for p in ("p50", "p95", "p99"))],
            ],
        )
    )
    write_result(args.name, {"args": vars(args), **results})


if __name__ == "__main__":
    main()
