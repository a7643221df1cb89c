"""What a reader sees: answers from the default model, through the shipped answer path.

Usage: python benchmarks/answers.py [--datasets sqlite pyfaq-facts git nodejs] [--limit N]
                                    [--set generate.focus_sentences=8 ...] [--fresh]

Every answerable question with answer patterns is asked through ``AnsweringService`` as shipped
(retrieval, prompt, SmolLM2 in llama.cpp, grounding, extractive fallback), with the answer
cache off. The model's raw text pieces and their times are kept in benchmarks/data/generations/,
keyed by the prompt and the decoding settings, so answer-path variants that do not change the
prompt replay the same generations (``--fresh`` regenerates, for clean timings).

For each data set it reports three answers side by side:

- ``raw``: the model's first paragraph as it wrote it (the answer path before grounding);
- ``shipped``: what the service returns (grounded sentences, else the extractive answer);
- ``extractive``: the passages' best sentences alone (the extractive answer for every question).

Metrics: answer match (patterns), the share of questions whose pattern is in the prompt's
passages (the ceiling: with focus on, in what the model was shown), answers with >= 1 citation,
citation precision (cited file is an expected file), sentences that are not supported by a
passage they cite (by the shipped rule, and by the stricter check), answers with a repeated
sentence, raw answers that ran to the token limit, the extractive share, and time to first
token, to the first shown text, and in total (p50 / p95). Writes benchmarks/results/<out>.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from askdocs.container import Container
from askdocs.evaluation.dataset import load_dataset
from askdocs.evaluation.metrics import answer_matches
from askdocs.generate import Generator as TextGenerator
from askdocs.generate import Message, extract_citations
from askdocs.generate.extractive import extractive_answer
from askdocs.generate.support import (
    claim,
    content_words,
    evidence,
    strictly_supported,
    supported,
)
from askdocs.models import Answer, Passage
from askdocs.services.answering import AskOptions
from askdocs.settings import Settings

from common import DATA, ROOT, dataset, table, write_result

QUESTIONS = {
    "sqlite": ROOT / "datasets" / "sqlite-questions.jsonl",
    "pyfaq-facts": ROOT / "datasets" / "pyfaq-facts.jsonl",
    "git": ROOT / "datasets" / "git-questions.jsonl",
    "nodejs": ROOT / "datasets" / "nodejs-questions.jsonl",
}
CORPUS = {"pyfaq-facts": "python-faq"}
CACHE = DATA / "generations"
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_CITED_END = re.compile(r"(\[\d+(?:,\s*\d+)*\][.!?]?)\s+")
_MARK = re.compile(r"\[\d+(?:,\s*\d+)*\]")


class Recorded:
    """The real generator, its generations kept on disk and replayed when asked again."""

    def __init__(self, inner: TextGenerator, repeat_penalty: float, fresh: bool) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.context_tokens = inner.context_tokens
        self.repeat_penalty = repeat_penalty
        self.fresh = fresh
        self.last: dict[str, Any] = {}
        self.consumed = 0
        self.replayed = False

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def stream(
        self, messages: Sequence[Message], *, max_tokens: int, temperature: float
    ) -> Iterator[str]:
        key = json.dumps(
            [[m.role, m.content] for m in messages] + [self.repeat_penalty, max_tokens]
        )
        path = CACHE / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"
        self.consumed = 0
        self.replayed = path.exists() and not self.fresh
        prompt = [[m.role, m.content] for m in messages]
        skip = 0
        if self.replayed:
            self.last = json.loads(path.read_text()) | {"prompt": prompt}
            for piece in self.last["pieces"]:
                self.consumed += 1
                yield piece
            if self.last.get("complete", True):
                return
            # The answer path now reads further than was recorded: generate again.
            self.replayed, skip = False, len(self.last["pieces"])
        started = time.perf_counter()
        pieces: list[str] = []
        times: list[float] = []
        complete = False
        inner = self.inner.stream(messages, max_tokens=max_tokens, temperature=temperature)
        try:
            for piece in inner:
                pieces.append(piece)
                times.append(time.perf_counter() - started)
                self.last = {"pieces": pieces, "times": times, "prompt": prompt}
                if len(pieces) > skip:
                    self.consumed += 1
                    yield piece
            complete = True
        finally:
            close = getattr(inner, "close", None)
            if close is not None:
                close()
            CACHE.mkdir(parents=True, exist_ok=True)
            record = {"pieces": pieces, "times": times, "complete": complete}
            path.write_text(json.dumps(record))


def container_for(name: str, overrides: dict[str, dict[str, Any]], fresh: bool) -> Container:
    corpus = CORPUS.get(name, name)
    folder = dataset(corpus)
    settings = Settings(data_dir=DATA / corpus / "askdocs-data")
    settings = settings.model_copy(
        update={
            section: getattr(settings, section).model_copy(update=values)
            for section, values in overrides.items()
        }
    )
    container = Container(settings)
    outcomes = container.ingestion.ingest_paths([folder / "corpus"], collection=settings.collection)
    failed = sum(o.status == "failed" for o in outcomes)
    print(f"{corpus}: {len(outcomes)} files ({failed} failed)", file=sys.stderr)
    container._generator = Recorded(container.generator(), settings.generate.repeat_penalty, fresh)
    return container


def sentences_of(text: str) -> list[str]:
    """The claims of an answer: each cited sentence ("... [2]."), whatever stops it holds
    ("e.g. the"), and the plain sentences of any text without a mark. Only number marks end a
    claim: "git gc [--aggressive]" is one."""
    pieces = _CITED_END.split(text)
    # split() with a group alternates text and the mark that ended it.
    parts = ["".join(pieces[i : i + 2]) for i in range(0, len(pieces), 2)]
    out = []
    for part in parts:
        if _MARK.search(part):
            out.append(part)
        else:
            out += _SENTENCE.split(part)
    return [s for s in out if s.strip()]


def judge(
    text: str, cited: list[int], used: Sequence[Passage], question: str, q: Any
) -> dict[str, Any]:
    """The reader's view of one answer: match, citations, support of each sentence."""
    proofs = [evidence(p.chunk.text) for p in used]
    unsupported = strict = 0
    shown = sentences_of(text)
    for sentence in shown:
        numbers = extract_citations(sentence, len(used))
        said = claim(sentence)
        if said.empty:
            continue
        given = content_words(question)
        unsupported += not any(supported(said, proofs[n - 1], given) for n in numbers)
        strict += not any(strictly_supported(said, proofs[n - 1]) for n in numbers)
    keys = [" ".join(s.lower().split()) for s in shown]
    sources = {Path(used[n - 1].chunk.source).name for n in cited if n <= len(used)}
    return {
        "match": answer_matches(text, q.answer_patterns),
        "cited": bool(cited),
        "precision": (sum(s in q.pages for s in sources) / len(sources) if sources else None),
        "sentences": len(shown),
        "unsupported": unsupported,
        "unsupported_strict": strict,
        "repeated": len(keys) != len(set(keys)),
    }


def run(name: str, args: argparse.Namespace, overrides: dict[str, dict[str, Any]]) -> dict:
    container = container_for(name, overrides, args.fresh)
    recorded: Recorded = container._generator  # type: ignore[assignment]
    settings = container.settings.generate
    data = load_dataset([QUESTIONS[name]])
    questions = [q for q in data.questions if q.answerable and q.answer_patterns][: args.limit]
    rows: dict[str, list[dict[str, Any]]] = {"raw": [], "shipped": [], "extractive": []}
    ceiling, ttft, first_text, totals, limit_hits, modes = [], [], [], [], 0, []
    examples = []
    for i, q in enumerate(questions, 1):
        started = time.perf_counter()
        first = None
        answer: Answer | None = None
        for event in container.answering.stream(q.question, AskOptions(use_cache=False)):
            if isinstance(event, Answer):
                answer = event
            elif first is None:
                first = (time.perf_counter() - started, recorded.consumed)
        wall = time.perf_counter() - started
        assert answer is not None
        if answer.abstained:
            for path in rows.values():
                path.append({"abstained": True})
            continue
        times = recorded.last["times"]
        prompt_text = recorded.last["prompt"][-1][1]
        used = answer.passages[: settings.prompt_passages]
        ceiling.append(answer_matches(prompt_text.split("\n\nQuestion:")[0], q.answer_patterns))

        def at(consumed: int, times: list[float] = times) -> float:
            # On a replay the wall clock has no generation in it: add the recorded time.
            return times[consumed - 1] if recorded.replayed and consumed else 0.0

        ttft.append(times[0] if times else 0.0)
        if first is not None:
            first_text.append(first[0] + at(first[1]))
        totals.append(wall + at(recorded.consumed))
        limit_hits += len(times) >= settings.max_answer_tokens
        modes.append(answer.answer_mode)

        raw = "".join(recorded.last["pieces"]).strip().split("\n\n")[0]
        rows["raw"].append(judge(raw, extract_citations(raw, len(used)), used, q.question, q))
        cited = [c.n for c in answer.citations]
        rows["shipped"].append(judge(answer.answer, cited, used, q.question, q))
        reranker = container.retriever.reranker() if settings.extract_rerank_depth else None
        e_text, e_cited = extractive_answer(q.question, used, container.query_embedder, reranker)
        rows["extractive"].append(judge(e_text, e_cited, used, q.question, q))
        examples.append(
            {"id": q.id, "mode": answer.answer_mode, "raw": raw, "answer": answer.answer}
            | {"match": rows["shipped"][-1]["match"]}
        )
        if i % 10 == 0:
            print(f"  {name}: {i}/{len(questions)}", file=sys.stderr)

    def summary(path: list[dict[str, Any]]) -> dict[str, Any]:
        answered = [r for r in path if not r.get("abstained")]
        precisions = [r["precision"] for r in answered if r["precision"] is not None]
        sentences = max(sum(r["sentences"] for r in answered), 1)
        return {
            "answer_match": sum(r.get("match", False) for r in path) / len(path),
            "cited": sum(r["cited"] for r in answered) / len(answered),
            "citation_precision": statistics.mean(precisions) if precisions else None,
            "unsupported": sum(r["unsupported"] for r in answered) / sentences,
            "unsupported_strict": sum(r["unsupported_strict"] for r in answered) / sentences,
            "repeated": sum(r["repeated"] for r in answered) / len(answered),
        }

    answered = max(len(ceiling), 1)
    return {
        "questions": len(questions),
        "answered": len(ceiling),
        "answer_in_prompt": sum(ceiling) / len(questions),
        "paths": {k: summary(v) for k, v in rows.items()},
        "extractive_share": modes.count("extractive") / answered,
        "raw_token_limit": limit_hits / answered,
        "ttft_s": percentiles(ttft),
        "first_text_s": percentiles(first_text),
        "total_s": percentiles(totals),
        "examples": examples,
    }


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p95": 0.0}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50": statistics.median(ordered), "p95": p95}


def parse_overrides(pairs: list[str]) -> dict[str, dict[str, Any]]:
    """``generate.focus_sentences=8`` -> {"generate": {"focus_sentences": 8}}."""
    out: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        key, value = pair.split("=", 1)
        section, field = key.split(".", 1)
        out.setdefault(section, {})[field] = json.loads(value)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", nargs="+", default=["sqlite", "pyfaq-facts"])
    parser.add_argument("--set", nargs="*", default=[], help="section.field=json-value")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--fresh", action="store_true", help="regenerate (clean timings)")
    parser.add_argument("--out", default="answers")
    args = parser.parse_args()
    overrides = parse_overrides(args.set)
    results = {name: run(name, args, overrides) for name in args.datasets}
    rows = []
    for name, r in results.items():
        for path, s in r["paths"].items():
            keys = ["answer_match", "cited", "citation_precision", "unsupported"]
            values = [s[k] or 0.0 for k in [*keys, "unsupported_strict", "repeated"]]
            rows.append([name, path, r["answer_in_prompt"], *values])
    header = ["set", "path", "in prompt", "match", "cited", "cit. prec.", "unsupp.", "strict"]
    print(table("Answers as a reader sees them", [*header, "repeat"], rows))
    for name, r in results.items():
        print(
            f"{name}: {r['answered']}/{r['questions']} answered, extractive "
            f"{r['extractive_share']:.2f}, raw at token limit {r['raw_token_limit']:.2f}, "
            f"TTFT p50 {r['ttft_s']['p50']:.2f}s p95 {r['ttft_s']['p95']:.2f}s, first text p50 "
            f"{r['first_text_s']['p50']:.2f}s, total p50 {r['total_s']['p50']:.2f}s "
            f"p95 {r['total_s']['p95']:.2f}s"
        )
    write_result(args.out, {"settings": {"overrides": overrides, **vars(args)}, "results": results})


if __name__ == "__main__":
    main()
