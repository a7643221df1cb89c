"""Hostile files and large valid ones, uploaded to a real `askdocs serve` process.

For each file: what happened (the job's state and error), the time from upload to the job's
end, how much the server's own resident memory grew over its level before the first file,
and the peak resident memory of the parse process. /healthz is polled every 50 ms all along.

Usage: python benchmarks/hostile.py
Writes benchmarks/results/hostile.json; the README's "Security" table comes from it.
"""

from __future__ import annotations

import signal
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import hostile
from hostile_server import run_cases, start_server

from common import table, write_result

WARM_UP = ("warm.md", b"# Warm up\n\nThe kettle in the east hut whistles at dawn.\n")


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="askdocs-hostile-"))
    secret = work / "secret.txt"
    secret.write_text("TOPSECRET")
    cases = hostile.cases(secret)
    cases["valid 95 MB PDF (200 pages with images)"] = ("manual.pdf", hostile.large_pdf)
    cases["normal file right after"] = hostile.normal_file()[0], lambda: hostile.normal_file()[1]
    url, server, key = start_server(work / "data")
    try:
        outcomes, health, baseline = run_cases(
            url, server.pid, {"Authorization": f"Bearer {key}"}, cases, WARM_UP
        )
        alive = server.poll() is None
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(60)
    rows = [
        {
            "case": o.case,
            "outcome": o.state,
            "error": o.error,
            "seconds": round(o.seconds, 2),
            "server_rss_growth_mb": round(o.server_growth_mb, 1),
            "parse_process_peak_mb": round(o.parse_peak_mb, 1),
        }
        for o in outcomes
    ]
    print(
        table(
            "Hostile and large files through POST /v1/files",
            ["case", "outcome", "s", "server +MB", "parse MB", "error"],
            [
                [
                    r["case"],
                    r["outcome"],
                    r["seconds"],
                    r["server_rss_growth_mb"],
                    r["parse_process_peak_mb"],
                    str(r["error"])[:70],
                ]
                for r in rows
            ],
        )
    )
    print(
        f"/healthz: {health['probes']:.0f} probes, {health['failures']:.0f} failed, "
        f"p50 {health['p50_ms']:.1f} ms, p99 {health['p99_ms']:.1f} ms, max "
        f"{health['max_ms']:.1f} ms; server RSS before the first file {baseline:.0f} MB; "
        f"server alive at the end: {alive}"
    )
    write_result(
        "hostile",
        {
            "server_rss_baseline_mb": round(baseline, 1),
            "healthz": {k: round(v, 2) for k, v in health.items()},
            "server_alive": alive,
            "cases": rows,
        },
    )


if __name__ == "__main__":
    main()
