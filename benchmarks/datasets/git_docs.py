#!/usr/bin/env python3
"""Build a "many shorter pages" retrieval/QA benchmark from Debian's git-doc package
(the Git 2.39 manual pages and guides, GPL-2).

Usage: python3 git_docs.py OUT_DIR

OUT_DIR/corpus/                  the HTML documentation pages, flat, original names
                                 (git-config.html, gitignore.html, user-manual.html, ...);
                                 the guides from howto/ are named howto-<name>.html
OUT_DIR/questions.jsonl          copy of git-questions.jsonl (next to this script):
                                 {"id", "question", "pages", "answer_patterns", "kind"}
OUT_DIR/offtopic-questions.jsonl copy of offtopic-questions.jsonl (abstention questions)

Kept: the man pages (git-*.html commands, git.html, the git*.html concept, format and
protocol pages, gitk, gitweb, scalar), the guides (user-manual.html, gittutorial*.html,
gitcore-tutorial.html, git-bisect-lk2009.html, ...) and the user-facing howto/ pages.
Left out: css and the plain-text sources; index.html (a symlink to git.html); pages that
only say "this document has been moved" (everyday.html, git-remote-helpers.html); the
one-line synonym pages (git-stage, git-fsck-objects, git-init-db); git-tools.html (a retired
link list); howto-index.html (a list of links); byte-identical duplicates; pages about
developing Git itself rather than using it (MyFirstContribution, MyFirstObjectWalk,
ReviewingGuidelines, SubmittingPatches, ToolsForGit, howto/maintain-git, howto/new-command,
howto/coordinate-embargoed-releases) and all of technical/ (C API notes and design documents
for Git's own developers). The package holds no release notes, images or JavaScript.
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
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))

# Pages that are stubs, link lists or about developing Git itself, not documentation of Git.
SKIP = {
    "index.html",  # symlink to git.html
    "everyday.html",  # "moved to giteveryday(7)"
    "git-remote-helpers.html",  # "moved to gitremote-helpers(7)"
    "git-stage.html",  # "a synonym for git-add(1)"
    "git-fsck-objects.html",  # "a synonym for git-fsck(1)"
    "git-init-db.html",  # "a synonym for git-init(1)"
    "git-tools.html",  # retired list of third-party tools
    "howto-index.html",  # list of links to the howto/ pages
    "MyFirstContribution.html",
    "MyFirstObjectWalk.html",
    "ReviewingGuidelines.html",
    "SubmittingPatches.html",
    "ToolsForGit.html",
    "howto-maintain-git.html",
    "howto-new-command.html",
    "howto-coordinate-embargoed-releases.html",
}
MIN_TEXT = 300  # characters of visible text, title and footer included
STUB = re.compile(r"This document has been moved to|DESCRIPTION This is a synonym for")


def visible_text(raw):
    raw = re.sub(r"(?is)<(script|style|svg)\b.*?</\1>", " ", raw)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"(?s)<[^>]+>", " ", raw))).strip()


def main(out):
    corpus = os.path.join(out, "corpus")
    os.makedirs(corpus, exist_ok=True)
    kept, skipped, seen, names = 0, 0, set(), set()
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            ["apt-get", "download", "git-doc"], cwd=tmp, check=True, stdout=subprocess.DEVNULL
        )
        deb = glob.glob(os.path.join(tmp, "git-doc_*.deb"))[0]
        version = urllib.parse.unquote(os.path.basename(deb).split("_")[1])
        subprocess.run(["dpkg-deb", "-x", deb, os.path.join(tmp, "x")], check=True)
        # usr/share/doc/git/html is a symlink to ../git-doc
        src = os.path.realpath(os.path.join(tmp, "x/usr/share/doc/git/html"))
        pages = [(p, os.path.basename(p)) for p in sorted(glob.glob(os.path.join(src, "*.html")))]
        pages += [
            (p, "howto-" + os.path.basename(p))
            for p in sorted(glob.glob(os.path.join(src, "howto/*.html")))
        ]
        for path, name in pages:
            with open(path, encoding="utf-8", errors="replace") as f:
                raw = f.read()
            digest = hashlib.sha1(raw.encode()).hexdigest()
            text = visible_text(raw)
            if (
                name in SKIP
                or os.path.islink(path)
                or digest in seen
                or STUB.search(text[:400])
                or len(text) < MIN_TEXT
            ):
                skipped += 1
                continue
            if name in names:
                raise SystemExit(f"name clash: {name}")
            seen.add(digest)
            names.add(name)
            shutil.copyfile(path, os.path.join(corpus, name))
            kept += 1
        skipped += len(glob.glob(os.path.join(src, "technical/*.html")))
    shutil.copyfile(os.path.join(HERE, "git-questions.jsonl"), os.path.join(out, "questions.jsonl"))
    shutil.copyfile(
        os.path.join(HERE, "offtopic-questions.jsonl"),
        os.path.join(out, "offtopic-questions.jsonl"),
    )
    size = sum(os.path.getsize(os.path.join(corpus, n)) for n in os.listdir(corpus))
    with open(os.path.join(out, "questions.jsonl"), encoding="utf-8") as f:
        nq = sum(1 for line in f if line.strip())
    print(
        f"git-doc {version}: {kept} corpus files ({size / 1e6:.1f} MB, {skipped} skipped), "
        f"{nq} questions in {out}"
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
