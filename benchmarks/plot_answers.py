"""Draw what benchmarks/answers.py measured: answer match by corpus and path, against the
ceiling (the answer in the prompt at all).

Usage: python benchmarks/plot_answers.py RESULT.json [RESULT.json ...] [--out answers.png]

Each RESULT is a file answers.py wrote under benchmarks/results/ (one per run of its data
sets). Needs matplotlib (`pip install -e '.[bench]'`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from common import RESULTS

BARS = [
    ("answer in prompt (ceiling)", None, "#d9d9d9"),
    ("model's own text", "raw", "#f4a582"),
    ("shipped answer", "shipped", "#2166ac"),
    ("extractive only", "extractive", "#92c5de"),
]
NAMES = {"sqlite": "SQLite", "pyfaq-facts": "Python FAQ facts", "git": "Git", "nodejs": "Node.js"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("--out", default="answers.png")
    args = parser.parse_args()
    corpora: dict[str, dict] = {}
    for path in args.results:
        corpora |= json.loads(path.read_text())["results"]
    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=120)
    width = 0.8 / len(BARS)
    for i, (label, path, colour) in enumerate(BARS):
        values = [
            r["answer_in_prompt"] if path is None else r["paths"][path]["answer_match"]
            for r in corpora.values()
        ]
        xs = [x + (i - (len(BARS) - 1) / 2) * width for x in range(len(corpora))]
        bars = ax.bar(xs, values, width, label=label, color=colour)
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    ax.set_xticks(range(len(corpora)), [NAMES.get(n, n) for n in corpora])
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("answer match (patterns)")
    ax.set_title("Answers from SmolLM2-135M as a reader sees them", fontsize=10)
    ax.legend(fontsize=7, ncols=4, loc="upper center", bbox_to_anchor=(0.5, -0.1), frameon=False)
    fig.tight_layout()
    out = RESULTS / args.out
    fig.savefig(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
