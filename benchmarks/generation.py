"""Benchmark the default generator: time to first token and tokens/s, OMP wait policy x CPU load.

Run: ``python benchmarks/generation.py``. Each configuration runs in a fresh subprocess because
libgomp reads OMP_WAIT_POLICY once, when llama.cpp loads. "busy" runs one spinning process beside
the benchmark, as an embedding batch or a second request would. Prints a table and writes
``benchmarks/results/generation.json``.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "generation.json"
CONTEXT_TOKENS = 2048
PROMPT_TOKENS = 1500
ANSWER_TOKENS = 128
QUESTION = "Summarise the history of Python's releases and licenses described in these passages."
BUSY_SECONDS = 600  # an upper bound; the spinner is killed as soon as its configuration ends
BUSY_LOOP = f"import time\nend = time.monotonic() + {BUSY_SECONDS}\nwhile time.monotonic() < end: 0"


def _paragraphs() -> list[str]:
    """Real prose: the history and license texts shipped with CPython."""
    candidates = [*glob.glob("/usr/lib/python3*/LICENSE.txt"), str(Path(os.__file__).parent)]
    for candidate in sorted(candidates):
        path = Path(candidate) / "LICENSE.txt" if Path(candidate).is_dir() else Path(candidate)
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            paragraphs = [" ".join(p.split()) for p in text.split("\n\n")]
            return [p for p in paragraphs if len(p) > 80]
    raise SystemExit("No CPython LICENSE.txt found to build the benchmark prompt from.")


def _worker(runs: int) -> dict[str, Any]:
    """Measure in this process, under whatever OMP_WAIT_POLICY the parent set."""
    sys.path.insert(0, str(ROOT / "src"))
    from askdocs.generate import LlamaCppGenerator, build_messages, default_gguf_path
    from askdocs.models import Chunk, Passage

    passages = []
    for i, text in enumerate(_paragraphs() * 3):
        digest = hashlib.sha256(text.encode()).hexdigest()
        chunk = Chunk(f"license#{i}", "license", 1, "bench", "LICENSE.txt", i, text, digest, 0, 0)
        passages.append(Passage(chunk, 1.0))
    model = default_gguf_path()
    ttft, gen_rate, prompt_tokens, answer_tokens = [], [], 0, []
    for _ in range(runs + 1):  # the first run warms the page cache and is not counted
        # A fresh model per run: llama-cpp-python would otherwise reuse the cached prompt prefix.
        generator = LlamaCppGenerator(model, context_tokens=CONTEXT_TOKENS)
        messages, _ = build_messages(
            QUESTION, passages, generator, max_answer_tokens=CONTEXT_TOKENS - PROMPT_TOKENS
        )
        generator.load()
        start = time.perf_counter()
        pieces: list[tuple[float, str]] = []
        for piece in generator.stream(messages, max_tokens=ANSWER_TOKENS, temperature=0.0):
            pieces.append((time.perf_counter(), piece))
        first, last = pieces[0][0], pieces[-1][0]
        tokens = generator.count_tokens("".join(p for _, p in pieces))
        ttft.append(first - start)
        gen_rate.append((len(pieces) - 1) / (last - first) if last > first else float("nan"))
        answer_tokens.append(tokens)
        chat = "".join(f"<|im_start|>{m.role}\n{m.content}<|im_end|>\n" for m in messages)
        prompt_tokens = generator.count_tokens(chat + "<|im_start|>assistant\n")
    return {
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "prompt_tokens": prompt_tokens,
        "ttft_s": ttft[1:],
        "generation_tokens_per_s": gen_rate[1:],
        "answer_tokens": answer_tokens[1:],
    }


def _measure(policy: str, busy: bool, runs: int) -> dict[str, Any]:
    env = {**os.environ, "OMP_WAIT_POLICY": policy}
    load_before = os.getloadavg()[0]  # "idle" only means this benchmark adds no load
    spinner = subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) if busy else None
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--worker", "--runs", str(runs)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=BUSY_SECONDS,
        ).stdout
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["load"] = "busy" if busy else "idle"
    result["loadavg_1m_before"] = load_before
    result["ttft_median_s"] = statistics.median(result["ttft_s"])
    result["prompt_tokens_per_s"] = result["prompt_tokens"] / result["ttft_median_s"]
    result["generation_tokens_per_s_median"] = statistics.median(result["generation_tokens_per_s"])
    return result


def _orchestrate(runs: int) -> None:
    rows = [_measure(p, busy, runs) for busy in (False, True) for p in ("PASSIVE", "ACTIVE")]
    by = {(r["omp_wait_policy"], r["load"]): r for r in rows}
    ratios = {
        load: {
            "ttft_active_over_passive": by["ACTIVE", load]["ttft_median_s"]
            / by["PASSIVE", load]["ttft_median_s"],
            "generation_passive_over_active": by["PASSIVE", load]["generation_tokens_per_s_median"]
            / by["ACTIVE", load]["generation_tokens_per_s_median"],
        }
        for load in ("idle", "busy")
    }
    print(f"SmolLM2-135M-Instruct Q4_1, {rows[0]['prompt_tokens']}-token prompt, median of {runs}")
    print(f"{'OMP_WAIT_POLICY':<16}{'CPU':<6}{'TTFT s':>8}{'prompt tok/s':>14}{'gen tok/s':>11}")
    for r in rows:
        print(
            f"{r['omp_wait_policy']:<16}{r['load']:<6}{r['ttft_median_s']:>8.2f}"
            f"{r['prompt_tokens_per_s']:>14.0f}{r['generation_tokens_per_s_median']:>11.1f}"
        )
    for load, ratio in ratios.items():
        print(
            f"{load}: TTFT ACTIVE/PASSIVE = {ratio['ttft_active_over_passive']:.2f}x, "
            f"generation PASSIVE/ACTIVE = {ratio['generation_passive_over_active']:.2f}x"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "generation",
        "model": "SmolLM2-135M-Instruct.Q4_1.gguf",
        "context_tokens": CONTEXT_TOKENS,
        "max_answer_tokens": ANSWER_TOKENS,
        "runs": runs,
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
        "results": rows,
        "ratios": ratios,
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Generator TTFT and tokens/s benchmark.")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.runs)))
    else:
        _orchestrate(args.runs)


if __name__ == "__main__":
    main()
