#!/usr/bin/env python3
"""Build an identifier-heavy retrieval/QA benchmark from Debian's sqlite3-doc package
(the SQLite documentation, which is in the public domain).

Usage: python3 sqlite_docs.py OUT_DIR

OUT_DIR/corpus/                  the HTML documentation pages, flat, original names
                                 (pragma.html, lang_createtable.html, ...); the per-function
                                 C API pages from c3ref/ are named c3ref-<name>.html
OUT_DIR/questions.jsonl          copy of sqlite-questions.jsonl (next to this script):
                                 {"id", "question", "pages", "answer_patterns", "kind"}
OUT_DIR/offtopic-questions.jsonl copy of offtopic-questions.jsonl (abstention questions)

Left out of the corpus: images, css, js, redirect stubs and near-empty pages, duplicate
files, and pages that are not documentation prose (cross-reference indexes, site maps,
release history, the 1.8 MB machine-generated requirements list, capi3ref.html, which
repeats all of c3ref/ on one page, and the organisational pages such as the code of conduct).
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

# Top-level pages that are navigation, history or organisational text, not documentation.
SKIP = {
    "doc_backlink_crossref.html",
    "doc_keyword_crossref.html",
    "doc_pagelink_crossref.html",
    "doc_target_crossref.html",
    "keyword_index.html",
    "sitemap.html",
    "doclist.html",
    "docs.html",
    "index.html",
    "syntaxdiagrams.html",
    "requirements.html",
    "capi3ref.html",
    "changes.html",
    "chronology.html",
    "news.html",
    "oldnews.html",
    "codeofconduct.html",
    "codeofethics.html",
    "consortium.html",
    "consortium_agreement-20071201.html",
    "copyright-release.html",
    "pressrelease-20071212.html",
    "crew.html",
    "famous.html",
    "books.html",
    "support.html",
    "prosupport.html",
    "download.html",
    "hp1.html",
}
MIN_TEXT = 400  # characters of visible text, site header included (about 180 of them)


def visible_text(raw):
    raw = re.sub(r"(?is)<(script|style|svg)\b.*?</\1>", " ", raw)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"(?s)<[^>]+>", " ", raw))).strip()


def main(out):
    corpus = os.path.join(out, "corpus")
    os.makedirs(corpus, exist_ok=True)
    kept, skipped, seen = 0, 0, set()
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            ["apt-get", "download", "sqlite3-doc"], cwd=tmp, check=True, stdout=subprocess.DEVNULL
        )
        deb = glob.glob(os.path.join(tmp, "sqlite3-doc_*.deb"))[0]
        version = os.path.basename(deb).split("_")[1]
        subprocess.run(["dpkg-deb", "-x", deb, os.path.join(tmp, "x")], check=True)
        src = os.path.join(tmp, "x/usr/share/doc/sqlite3")
        pages = [(p, os.path.basename(p)) for p in sorted(glob.glob(os.path.join(src, "*.html")))]
        pages += [
            (p, "c3ref-" + os.path.basename(p))
            for p in sorted(glob.glob(os.path.join(src, "c3ref/*.html")))
        ]
        for path, name in pages:
            with open(path, encoding="utf-8", errors="replace") as f:
                raw = f.read()
            digest = hashlib.sha1(raw.encode()).hexdigest()
            if (
                name in SKIP
                or digest in seen
                or 'http-equiv="refresh"' in raw
                or len(visible_text(raw)) < MIN_TEXT
            ):
                skipped += 1
                continue
            seen.add(digest)
            shutil.copyfile(path, os.path.join(corpus, name))
            kept += 1
    shutil.copyfile(
        os.path.join(HERE, "sqlite-questions.jsonl"), os.path.join(out, "questions.jsonl")
    )
    shutil.copyfile(
        os.path.join(HERE, "offtopic-questions.jsonl"),
        os.path.join(out, "offtopic-questions.jsonl"),
    )
    size = sum(os.path.getsize(os.path.join(corpus, n)) for n in os.listdir(corpus))
    with open(os.path.join(out, "questions.jsonl"), encoding="utf-8") as f:
        nq = sum(1 for line in f if line.strip())
    print(
        f"sqlite3-doc {version}: {kept} corpus files ({size / 1e6:.1f} MB, {skipped} skipped), "
        f"{nq} questions in {out}"
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
