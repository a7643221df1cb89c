"""Answer cache over HTTP: exact hits on loopback against the generating miss, and two server
processes sharing one Redis (a question answered by one is an exact hit on the other).

Usage: python benchmarks/cache_http.py [--repeat 100]
Real `askdocs serve` processes over copies of the sqlite documentation data dir (built by
benchmarks/quality.py) and a throwaway redis-server. Writes benchmarks/results/cache_http.json.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from load import free_port, start_server
from redis_local import local_redis

from common import DATA, percentiles, read_jsonl, table, write_result


def ask(client: httpx.Client, question: str) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    response = client.post("/v1/ask", json={"question": question})
    response.raise_for_status()
    return (time.perf_counter() - started) * 1000, response.json()


def measure(url: str, key: str, question: str, repeat: int) -> dict[str, Any]:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=600) as c:
        miss_ms, first = ask(c, question)
        hits = [ask(c, question) for _ in range(repeat)]
    assert all(body["cache"] == "exact" for _, body in hits), "a repeat was not an exact hit"
    hit = percentiles([ms for ms, _ in hits])
    return {"miss_ms": round(miss_ms, 1), "first_cache": first["cache"], "hit_ms": hit}


def copy_data(tmp: Path, name: str) -> Path:
    target = tmp / name
    shutil.copytree(
        DATA / "sqlite" / "askdocs-data", target, ignore=shutil.ignore_patterns("cache")
    )
    return target


def stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(20)
    except subprocess.TimeoutExpired:
        server.kill()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=100)
    args = parser.parse_args()
    questions = [
        q["question"]
        for q in read_jsonl(DATA / "sqlite" / "questions.jsonl")
        if q.get("kind") != "negative"
    ]
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="askdocs-cache-http-") as folder:
        tmp = Path(folder)
        server, key = start_server(copy_data(tmp, "sqlite"), port := free_port())
        try:
            results["sqlite"] = measure(f"http://127.0.0.1:{port}", key, questions[0], args.repeat)
        finally:
            stop(server)
        with local_redis() as redis_url:
            shared = {"ASKDOCS_CACHE_URL": redis_url}
            one, key_one = start_server(copy_data(tmp, "one"), port_one := free_port(), shared)
            two, key_two = start_server(copy_data(tmp, "two"), port_two := free_port(), shared)
            try:
                with httpx.Client(timeout=600) as c:
                    first = c.post(
                        f"http://127.0.0.1:{port_one}/v1/ask",
                        json={"question": questions[1]},
                        headers={"Authorization": f"Bearer {key_one}"},
                    ).json()
                other = measure(f"http://127.0.0.1:{port_two}", key_two, questions[1], args.repeat)
                results["redis"] = other | {"answered_by_first_server": first["cache"]}
                results["redis"]["first_ask_on_second_server"] = other["first_cache"]
            finally:
                stop(one)
                stop(two)
    rows = [
        [name, r["miss_ms"] if name == "sqlite" else "-", r["first_cache"], r["hit_ms"]["p50"],
         r["hit_ms"]["p95"], round(results["sqlite"]["miss_ms"] / r["hit_ms"]["p50"])]
        for name, r in results.items()
    ]  # fmt: skip
    print(
        table(
            "Answer cache over HTTP (loopback, real servers)",
            ["backend", "miss ms", "2nd server's first ask", "hit p50 ms", "hit p95 ms", "ratio"],
            rows,
        )
    )
    write_result("cache_http", {"args": vars(args), **results})


if __name__ == "__main__":
    main()
