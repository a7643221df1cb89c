"""What moves the time to first token: prompt length, prefix reuse, threads and batch size.

Usage: python benchmarks/prompt_speed.py [--questions 12]

Builds the shipped answer prompts for SQLite questions (retrieval as shipped) with 1 to 5
passages, and 5 passages cut to their 8 best sentences (``focus_sentences``), and times SmolLM2
in llama.cpp to its first token:

- by passage count: prompt tokens, time to first token, prompt tokens/s;
- prefix reuse on and off: llama.cpp keeps the previous prompt's evaluated tokens and only
  evaluates what differs (on, the default: the system prompt and template are reused); off
  resets that state before every prompt;
- threads 1 and 2, batch 128 and 512, at the shipped passage count.

Each prompt is timed after one untimed warm-up. Prints tables and writes
benchmarks/results/prompt_speed.json.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import llama_cpp

from askdocs.container import Container
from askdocs.evaluation.dataset import load_dataset
from askdocs.generate import build_messages, extractive
from askdocs.generate.llamacpp import default_gguf_path
from askdocs.settings import Settings

from common import DATA, ROOT, table, write_result

FOCUS = 8


def prompts(n_questions: int) -> dict[str, list[list[dict[str, str]]]]:
    """Chat messages by passage count (and 5 passages cut to their best ``FOCUS`` sentences),
    for the first answerable SQLite questions."""
    container = Container(Settings(data_dir=DATA / "sqlite" / "askdocs-data"))
    generator = container.generator()
    data = load_dataset([ROOT / "datasets" / "sqlite-questions.jsonl"])
    questions = [q for q in data.questions if q.answerable][:n_questions]
    out: dict[str, list[list[dict[str, str]]]] = {str(n): [] for n in range(1, 6)}
    out[f"5, focus {FOCUS}"] = []
    for q in questions:
        passages = container.retriever.retrieve(q.question).passages[:5]
        ranked = extractive.rank(q.question, extractive.sentences(passages), container.embedder)
        for label in out:
            shown = passages[: int(label[0])]
            if "focus" in label:
                shown = extractive.focus(shown, ranked, FOCUS)
            messages, _ = build_messages(q.question, shown, generator, max_answer_tokens=256)
            out[label].append([{"role": m.role, "content": m.content} for m in messages])
    return out


def first_token(llama: llama_cpp.Llama, chat: list[dict[str, str]], *, reuse: bool) -> float:
    if not reuse:
        llama.reset()
    started = time.perf_counter()
    for _ in llama.create_chat_completion(messages=chat, max_tokens=1, stream=True):
        break
    return time.perf_counter() - started


def tokens(llama: llama_cpp.Llama, chat: list[dict[str, str]]) -> int:
    text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in chat)
    return len(llama.tokenize((text + "<|im_start|>assistant\n").encode(), special=True))


def measure(
    chats: list[list[dict[str, str]]], *, threads: int, batch: int, reuse: bool
) -> dict[str, Any]:
    llama = llama_cpp.Llama(
        str(default_gguf_path()),
        n_ctx=2048,
        n_threads=threads,
        n_threads_batch=threads,
        n_batch=batch,
        verbose=False,
    )
    first_token(llama, chats[0], reuse=False)  # warm-up
    times = [first_token(llama, chat, reuse=reuse) for chat in chats]
    counts = [tokens(llama, chat) for chat in chats]
    return {
        "prompt_tokens_p50": statistics.median(counts),
        "ttft_s_p50": statistics.median(times),
        "ttft_s_max": max(times),
        "prompt_tokens_per_s": sum(counts) / sum(times),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=12)
    args = parser.parse_args()
    by_count = prompts(args.questions)
    generate = Settings().generate
    shipped = str(generate.prompt_passages)
    if generate.focus_sentences:
        shipped = f"{shipped}, focus {generate.focus_sentences}"
    results: dict[str, Any] = {"by_passages": {}, "settings": {}}
    rows = []
    for n, chats in by_count.items():
        r = measure(chats, threads=2, batch=512, reuse=True)
        results["by_passages"][n] = r
        rows.append(
            [n, r["prompt_tokens_p50"], r["ttft_s_p50"], r["ttft_s_max"], r["prompt_tokens_per_s"]]
        )
    print(
        table(
            "By passages shown (2 threads, batch 512, prefix reuse on)",
            ["passages", "tokens p50", "TTFT p50 s", "TTFT max s", "prompt tok/s"],
            rows,
        )
    )
    rows = []
    for label, kw in [
        ("reuse on, 2 threads, batch 512", {"threads": 2, "batch": 512, "reuse": True}),
        ("reuse off, 2 threads, batch 512", {"threads": 2, "batch": 512, "reuse": False}),
        ("reuse on, 1 thread, batch 512", {"threads": 1, "batch": 512, "reuse": True}),
        ("reuse on, 2 threads, batch 128", {"threads": 2, "batch": 128, "reuse": True}),
    ]:
        r = measure(by_count[shipped], **kw)
        results["settings"][label] = r
        rows.append([label, r["prompt_tokens_p50"], r["ttft_s_p50"], r["prompt_tokens_per_s"]])
    print()
    print(
        table(
            f"Settings at {shipped} passages",
            ["configuration", "tokens p50", "TTFT p50 s", "prompt tok/s"],
            rows,
        )
    )
    write_result("prompt_speed", results)


if __name__ == "__main__":
    main()
