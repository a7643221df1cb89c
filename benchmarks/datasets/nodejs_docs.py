#!/usr/bin/env python3
"""Build a "long reference pages" retrieval/QA benchmark from Debian's nodejs-doc package
(the Node.js 18 API reference, MIT/Expat licence).

Usage: python3 nodejs_docs.py OUT_DIR

OUT_DIR/corpus/                  the HTML API reference pages, flat, original names
                                 (fs.html, http.html, stream.html, child_process.html, ...)
OUT_DIR/questions.jsonl          copy of nodejs-questions.jsonl (next to this script):
                                 {"id", "question", "pages", "answer_patterns", "kind"}
OUT_DIR/offtopic-questions.jsonl copy of offtopic-questions.jsonl (abstention questions)

Only usr/share/doc/nodejs/api/*.html is read. Left out of the corpus: all.html (every page
again on one 5.8 MB page), index.html (the table of contents), policy.html (a one-sentence
stub pointing to permissions.html) and byte-identical duplicates (none in 18.20.4; the check
stays in case a later package has some). Not read at all: the Markdown (*.md.gz) and JSON
(*.json.gz) renderings of the same pages, assets/ (css, js, svg) and the changelogs in
usr/share/doc/nodejs-doc/.
Needs `apt-get download` to reach Debian's packages (run `apt-get update` once first).
Validate the result with check_questions.py OUT_DIR.
"""

import glob
import hashlib
import html
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

# API pages that are navigation or repeat other pages, not documentation of their own.
SKIP = {
    "all.html",  # all other pages concatenated into one
    "index.html",  # table of contents: a list of links to the other pages
    "policy.html",  # stub: one sentence saying the policy docs moved to permissions.html
}
MIN_TEXT = 3000  # characters of visible text; the navigation sidebar alone is about 1900


def visible_text(raw):
    raw = re.sub(r"(?is)<(script|style|svg)\b.*?</\1>", " ", raw)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"(?s)<[^>]+>", " ", raw))).strip()


def main(out):
    corpus = os.path.join(out, "corpus")
    os.makedirs(corpus, exist_ok=True)
    kept, skipped, seen = 0, 0, set()
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            ["apt-get", "download", "nodejs-doc"], cwd=tmp, check=True, stdout=subprocess.DEVNULL
        )
        deb = glob.glob(os.path.join(tmp, "nodejs-doc_*.deb"))[0]
        version = os.path.basename(deb).split("_")[1].replace("%3a", ":")
        subprocess.run(["dpkg-deb", "-x", deb, os.path.join(tmp, "x")], check=True)
        src = os.path.join(tmp, "x/usr/share/doc/nodejs/api")
        for path in sorted(glob.glob(os.path.join(src, "*.html"))):
            name = os.path.basename(path)
            with open(path, "rb") as f:
                data = f.read()
            digest = hashlib.sha1(data).hexdigest()
            if (
                name in SKIP
                or digest in seen
                or len(visible_text(data.decode("utf-8", errors="replace"))) < MIN_TEXT
            ):
                skipped += 1
                continue
            seen.add(digest)
            shutil.copyfile(path, os.path.join(corpus, name))
            kept += 1
    shutil.copyfile(
        os.path.join(HERE, "nodejs-questions.jsonl"), os.path.join(out, "questions.jsonl")
    )
    shutil.copyfile(
        os.path.join(HERE, "offtopic-questions.jsonl"),
        os.path.join(out, "offtopic-questions.jsonl"),
    )
    size = sum(os.path.getsize(os.path.join(corpus, n)) for n in os.listdir(corpus))
    with open(os.path.join(out, "questions.jsonl"), encoding="utf-8") as f:
        nq = sum(1 for line in f if line.strip())
    print(
        f"nodejs-doc {version}: {kept} corpus files ({size / 1e6:.1f} MB, {skipped} skipped), "
        f"{nq} questions in {out}"
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
