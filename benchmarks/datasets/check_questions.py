#!/usr/bin/env python3
"""Validate benchmark question files against a built dataset.

Usage: python3 check_questions.py OUT_DIR [QUESTIONS.jsonl ...]

Without file arguments, every *.jsonl directly in OUT_DIR is checked.  For each line:
valid JSON object with "id", "question", "pages", and (optional for older sets such as the
Python FAQ one) "answer_patterns" and "kind"; ids unique across all files checked; every page
exists in OUT_DIR/corpus; every pattern compiles as a Python regex; kind is one of
identifier/default/howto/negative; negatives have no pages and no patterns, the others have at
least one page.  Prints a summary per file and exits 1 if anything is wrong.
"""

import collections
import glob
import json
import os
import re
import sys

KINDS = {"identifier", "default", "howto", "negative"}


def check_file(path, corpus, seen, problems):
    kinds = collections.Counter()
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            where = f"{os.path.basename(path)}:{n}"
            if not line.strip():
                continue
            try:
                q = json.loads(line)
            except json.JSONDecodeError as e:
                problems.append(f"{where}: not JSON ({e})")
                continue
            if not isinstance(q, dict):
                problems.append(f"{where}: not an object")
                continue
            qid = q.get("id")
            if not isinstance(qid, str) or not qid:
                problems.append(f"{where}: missing id")
            elif qid in seen:
                problems.append(f"{where}: duplicate id {qid} (first in {seen[qid]})")
            else:
                seen[qid] = where
            if not isinstance(q.get("question"), str) or not q["question"].strip():
                problems.append(f"{where}: missing question")
            pages = q.get("pages")
            if not isinstance(pages, list) or not all(isinstance(p, str) for p in pages):
                problems.append(f"{where}: pages must be a list of file names")
                pages = []
            for p in pages:
                if not os.path.isfile(os.path.join(corpus, p)):
                    problems.append(f"{where}: page {p} not in {corpus}")
            if len(set(pages)) != len(pages):
                problems.append(f"{where}: repeated page")
            patterns = q.get("answer_patterns", [])
            if not isinstance(patterns, list):
                problems.append(f"{where}: answer_patterns must be a list")
                patterns = []
            for pat in patterns:
                try:
                    re.compile(pat)
                except (re.error, TypeError) as e:
                    problems.append(f"{where}: bad regex {pat!r} ({e})")
            kind = q.get("kind")
            if "kind" in q or "answer_patterns" in q:
                if kind not in KINDS:
                    problems.append(f"{where}: kind {kind!r} not one of {sorted(KINDS)}")
                elif kind == "negative" and (pages or patterns):
                    problems.append(f"{where}: negative question has pages or patterns")
                elif kind != "negative" and not pages:
                    problems.append(f"{where}: no pages for a {kind} question")
            elif not pages:
                problems.append(f"{where}: no pages")
            kinds[kind or "-"] += 1
    total = sum(kinds.values())
    print(
        f"{os.path.basename(path)}: {total} questions "
        + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    )


def main(out, files):
    corpus = os.path.join(out, "corpus")
    problems = []
    if not os.path.isdir(corpus):
        problems.append(f"no corpus folder {corpus}")
    files = files or sorted(glob.glob(os.path.join(out, "*.jsonl")))
    if not files:
        problems.append(f"no .jsonl files in {out}")
    seen = {}
    for path in files:
        check_file(path, corpus, seen, problems)
    for p in problems:
        print("PROBLEM:", p)
    print("OK" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2:]))
