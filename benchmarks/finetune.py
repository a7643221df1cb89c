"""Fine-tuned embedder against the shipped one on the Python FAQ benchmark.

Usage: python benchmarks/finetune.py [--epochs 1] [--no-headings]
The FAQ questions are split in two halves by a hash of their id. The embedder is fine-tuned
(askdocs.evaluation.finetune, MultipleNegativesRankingLoss, CPU) on pairs from the corpus:
the training half's questions with their FAQ answer and section headings of the library
reference with their text. It is exported to int8 ONNX like the shipped model, the corpus is
ingested again with it into its own data dir (benchmarks/data/python-faq/askdocs-data-ft), and
both configurations answer the held-out half plus the 50 off-topic questions through the whole
pipeline (hybrid retrieval, length prior, abstention threshold unchanged).
Writes benchmarks/results/finetune.json.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from typing import Any

from askdocs.container import Container
from askdocs.evaluation.dataset import EvalDataset, load_dataset
from askdocs.evaluation.finetune import FinetuneOptions, PairSources, finetune_collection
from askdocs.evaluation.metrics import summarize
from askdocs.evaluation.pairs import collection_chunks, given_pairs
from askdocs.evaluation.runner import EvalOptions, run_eval
from askdocs.settings import Settings

from common import DATA, ROOT, dataset, table, write_result

FAQ = DATA / "python-faq"
OFFTOPIC = ROOT / "datasets" / "offtopic-questions.jsonl"
SHOWN = ["hit@1", "hit@5", "hit@10", "mrr@10", "false_abstention", "abstention_accuracy"]


def held_out(question_id: str) -> bool:
    return hashlib.sha256(question_id.encode()).digest()[0] < 128


def halves(data: EvalDataset) -> tuple[EvalDataset, EvalDataset]:
    train = tuple(q for q in data.questions if not held_out(q.id))
    test = tuple(q for q in data.questions if held_out(q.id))
    return (
        EvalDataset("faq-train", train, data.sha256),
        EvalDataset("faq-test", test, data.sha256),
    )


def ingest(container: Container, label: str) -> None:
    started = time.perf_counter()
    done = 0

    def progress(_: object, chunks: int) -> None:
        nonlocal done
        done += chunks
        if done and done % 1000 < chunks:
            rate = done / (time.perf_counter() - started)
            print(f"  {label}: {done} chunks embedded, {rate:.1f}/s", file=sys.stderr)

    outcomes = container.ingestion.ingest_paths(
        [FAQ / "corpus"], collection=container.settings.collection, progress=progress
    )
    failed = sum(o.status == "failed" for o in outcomes)
    print(f"{label}: {len(outcomes)} files ({failed} failed)", file=sys.stderr)


def evaluate(container: Container, test: EvalDataset) -> dict[str, Any]:
    offtopic = load_dataset([OFFTOPIC])
    questions = EvalDataset("faq-test+offtopic", test.questions + offtopic.questions, "")
    results = run_eval(container, questions, EvalOptions(generate=False, use_cache=False))
    return {k: v for k, v in summarize(results).items() if not k.endswith(("_p50", "_p95"))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--no-headings", action="store_true")
    args = parser.parse_args()
    dataset("python-faq")
    shipped = Container(Settings(data_dir=FAQ / "askdocs-data"))
    ingest(shipped, "shipped")
    train, test = halves(load_dataset([FAQ / "questions.jsonl"]))
    print(f"{len(train.questions)} training questions, {len(test.questions)} held out")
    chunks = collection_chunks(shipped, shipped.settings.collection)
    held_pairs = given_pairs(test.questions, chunks, shipped.embedder)
    options = FinetuneOptions(epochs=args.epochs)
    started = time.perf_counter()

    def progress(step: int, steps: int, loss: float) -> None:
        if step % 10 == 0 or step == steps:
            print(f"  step {step}/{steps} loss {loss:.3f}", file=sys.stderr)

    result = finetune_collection(
        shipped,
        shipped.settings.collection,
        PairSources(train.questions, headings=not args.no_headings),
        options,
        FAQ / "finetuned",
        held_out_pairs=held_pairs,
        distractors=3000,
        progress=progress,
    )
    train_seconds = time.perf_counter() - started
    tuned_settings = Settings(
        data_dir=FAQ / "askdocs-data-ft", embed=result.exported.settings(Settings().embed)
    )
    tuned = Container(tuned_settings)
    started = time.perf_counter()
    ingest(tuned, "fine-tuned")
    ingest_seconds = time.perf_counter() - started
    runs = {"shipped": evaluate(shipped, test), "fine-tuned": evaluate(tuned, test)}
    header = ["embedder", *SHOWN]
    rows = [[name, *[r[m] for m in SHOWN]] for name, r in runs.items()]
    print(table(f"Python FAQ, held-out half ({len(test.questions)} questions)", header, rows))
    dense = [["shipped", *result.before.values()], ["fine-tuned", *result.after.values()]]
    print(table("Dense only, held-out pool", ["embedder", *result.before], dense))
    path = write_result(
        "finetune",
        {
            "training": result.payload() | {"seconds": round(train_seconds, 1)},
            "epochs": args.epochs,
            "headings": not args.no_headings,
            "held_out_questions": len(test.questions),
            "ingest_seconds": round(ingest_seconds, 1),
            "pipeline": runs,
        },
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
