"""The web UI in a real browser (Debian's chromium driven by Playwright) against a real
`askdocs serve` process with the real models: key, upload, live ingestion status, search,
streamed answer, citation panel, cache badge, delete; hostile document text never runs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Locator, Page, expect, sync_playwright

from filegen import make_pdf
from live import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# The first answer loads the language model on a busy 2-core machine: be generous.
READY_S = 180
INGEST_MS = 120_000
ANSWER_MS = 180_000

HOSTILE = """# Flux capacitor notes

The flux capacitor needs 1.21 gigawatts of power to travel through time.
<script>window.__pwned = 1</script>

## Origins

An image tag <img src=x onerror="window.__pwned=2"> must show as text.
Doc Brown invented the flux capacitor in 1955 after hitting his head.
"""

PLAIN = """Garden log

The tomatoes were planted on the third of May and watered every morning.
"""

PLAIN_V2 = PLAIN + "\nThe first tomato was picked on the ninth of July.\n"

DROPPED = [
    ("notes.rst", "Notes\n=====\n\nThe shed key hangs behind the kitchen door.\n"),
    ("tool.exe", "MZ\u0090\u0000\u0003 not a document"),
]

MANUAL = [
    "Lighthouse manual\nThe brass lamp is polished every Sunday morning.",
    "Fog signals\nThe foghorn sounds twice every thirty seconds while fog lasts.",
]

QUESTION = "How much power does the flux capacitor need?"
PDF_QUESTION = "How often does the foghorn sound in fog?"

# Every state an upload row passes through, recorded as it changes.
WATCH_STATES_JS = """() => {
  window.__uploadStates = new Set();
  const list = document.getElementById("upload-list");
  new MutationObserver((changes) => {
    for (const change of changes) {
      const rows = change.type === "attributes" ? [change.target] : [...change.addedNodes];
      for (const row of rows) if (row.dataset) window.__uploadStates.add(row.dataset.state);
    }
  }).observe(list, {subtree: true, childList: true, attributes: true,
                    attributeFilter: ["data-state"]});
}"""

# A drop as the browser makes it: DragEvents carrying a DataTransfer of File objects.
DROP_JS = """([files]) => {
  const transfer = new DataTransfer();
  for (const [name, text] of files) transfer.items.add(new File([text], name));
  const zone = document.getElementById("drop-zone");
  for (const type of ["dragenter", "dragover", "drop"]) {
    const init = {dataTransfer: transfer, bubbles: true, cancelable: true};
    zone.dispatchEvent(new DragEvent(type, init));
  }
}"""


@dataclass(frozen=True)
class Server:
    url: str
    key: str


def _askdocs(*args: str) -> list[str]:
    return [sys.executable, "-m", "askdocs", *args]


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"askdocs serve exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=5) as response:
                if json.load(response).get("status") == "ready":
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass  # not listening yet, or 503 while the models load
        time.sleep(0.5)
    raise AssertionError(f"askdocs serve not ready in {READY_S} s:\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A real server on a free loopback port, its own data dir, and an admin key from the CLI.
    It runs in tmp_path so no askdocs.toml of the checkout applies."""
    env = {**os.environ, "ASKDOCS_DATA_DIR": str(tmp_path / "data")}
    created = subprocess.run(
        _askdocs("keys", "create", "--name", "web-ui", "--scope", "admin", "--quiet"),
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    key = created.stdout.strip()
    assert key.startswith("askd_"), created.stdout + created.stderr
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            _askdocs("serve", "--host", "127.0.0.1", "--port", str(port)),
            env=env, cwd=tmp_path, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_ready(url, process, log)
            yield Server(url, key)
        finally:
            _stop(process)
    assert process.returncode is not None


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("ASKDOCS_ARTIFACTS") or tmp_path / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Shots:
    """Numbered screenshots, one per step, kept as test artifacts."""

    def __init__(self, page: Page, folder: Path) -> None:
        self.page, self.folder, self.count = page, folder, 0

    def __call__(self, name: str, *, full_page: bool = True) -> None:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        self.page.screenshot(path=path, full_page=full_page)


def _pwned(page: Page) -> object:
    return page.evaluate("window.__pwned")


@pytest.mark.timeout(300)
def test_upload_ask_cite_and_delete_in_a_real_browser(
    server: Server, tmp_path: Path, artifacts: Path
) -> None:
    hostile = tmp_path / "hostile.md"
    hostile.write_text(HOSTILE)
    plain = tmp_path / "garden.txt"
    plain.write_text(PLAIN)
    manual = tmp_path / "lighthouse.pdf"
    manual.write_bytes(make_pdf(MANUAL))

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page_errors: list[str] = []
            console_errors: list[str] = []
            page.on("pageerror", lambda error: page_errors.append(str(error)))

            def on_console(message: ConsoleMessage) -> None:
                if message.type == "error":
                    console_errors.append(message.text)

            page.on("console", on_console)
            shot = Shots(page, artifacts)
            _drive(page, server, shot, tmp_path, [hostile, plain, manual])

            assert page_errors == []
            # Refused requests (401 before the key, 404 after the delete) are expected; a CSP
            # violation or a script error is not.
            unexpected = [m for m in console_errors if not m.startswith("Failed to load resource")]
            assert unexpected == []
        finally:
            browser.close()


def _drive(page: Page, server: Server, shot: Shots, tmp: Path, files: list[Path]) -> None:
    page.goto(server.url)
    expect(page.locator("#server-status")).to_have_text("server ready")
    expect(page.locator("#notice")).to_contain_text("needs an API key")
    shot("opened-without-key")

    page.fill("#key-input", server.key)
    page.click("#key-form button[type=submit]")
    expect(page.locator("#key-saved")).to_be_visible()
    expect(page.locator("#key-label")).to_have_text(f"key …{server.key[-4:]} saved")
    expect(page.locator("#doc-summary")).to_have_text("No documents yet.")
    shot("key-saved")

    page.evaluate(WATCH_STATES_JS)
    page.set_input_files("#file-input", [str(f) for f in files])
    uploads = page.locator("#upload-list .upload")
    expect(uploads).to_have_count(3)
    shot("uploading")
    expect(page.locator('#upload-list .upload[data-state="ready"]')).to_have_count(
        3, timeout=INGEST_MS
    )
    expect(uploads.filter(has_text="hostile.md")).to_contain_text("ready (added, 2 chunks)")
    seen = set(page.evaluate("[...window.__uploadStates]"))
    assert {"uploading", "queued", "ready"} <= seen, seen
    documents = page.locator("#doc-list .doc")
    expect(documents).to_have_count(3)
    expect(page.locator('#doc-list .doc[data-status="ready"]')).to_have_count(3)
    shot("ingested")

    page.fill("#doc-search", "HOSTILE")
    expect(documents).to_have_count(1)
    expect(documents.first.locator(".doc-name")).to_have_text("hostile.md")
    shot("searched")
    page.fill("#doc-search", "")
    expect(documents).to_have_count(3)

    _drop_replace_download(page, shot, tmp)

    _ask(page, QUESTION, 1)
    first = page.locator(".turn").nth(0)
    expect(first.locator(".badge.cache")).to_have_text("cache: miss")
    assert int(first.get_attribute("data-pieces") or 0) > 0  # it streamed
    expect(first.locator(".answer")).not_to_be_empty()
    expect(first.locator(".answer")).to_contain_text(re.compile(r"\[\d+\]"))  # always cited
    mode = first.get_attribute("data-mode")
    assert mode in ("generated", "extractive")
    badge = first.locator(".badge-extractive")
    expect(badge).to_have_count(1 if mode == "extractive" else 0)
    expect(first.locator(".timings")).to_contain_text("total")
    expect(first.locator(".sources .source").first).to_contain_text("hostile.md")
    expect(first.locator(".quotes")).to_contain_text("1.21 gigawatts")
    shot("answered")

    _open_citation(page, first)
    dialog = page.locator("#passage-dialog")
    expect(dialog).to_have_attribute("data-state", "live")
    expect(page.locator("#passage-meta")).to_contain_text("hostile.md")
    expect(page.locator("#passage-meta")).to_contain_text("Flux capacitor notes")
    expect(page.locator("#passage-text mark.target")).not_to_be_empty()
    # The hostile markup is on screen as text, and none of it became an element or ran.
    expect(page.locator("#passage-text")).to_contain_text("<script>window.__pwned = 1</script>")
    expect(page.locator("#passage-text")).to_contain_text('<img src=x onerror="window.__pwned=2">')
    assert page.locator("#passage-text script, #passage-text img").count() == 0
    assert _pwned(page) is None
    shot("passage", full_page=False)
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    _ask(page, QUESTION, 2)
    second = page.locator(".turn").nth(1)
    expect(second.locator(".badge.cache")).to_have_text("cache: exact")
    expect(second).to_have_attribute("data-cache", "exact")
    shot("answered-from-cache")

    _ask(page, PDF_QUESTION, 3)
    source = page.locator(".turn").nth(2).locator(".sources .source", has_text="lighthouse.pdf")
    expect(source.first).to_contain_text("page 2")
    source.first.locator(".cite").click()
    expect(dialog).to_have_attribute("data-state", "live")
    meta = page.locator("#passage-meta")
    expect(meta.locator("dt", has_text="Page").locator("+ dd")).to_have_text("2")
    expect(page.locator("#passage-text mark.target")).to_contain_text("foghorn sounds twice")
    shot("pdf-passage", full_page=False)
    page.click("#passage-close")
    expect(dialog).to_be_hidden()

    page.once("dialog", lambda confirm: confirm.accept())
    documents.filter(has_text="hostile.md").get_by_role("button", name="Delete").click()
    expect(documents).to_have_count(3)
    expect(documents.filter(has_text="hostile.md")).to_have_count(0)
    shot("deleted")

    # The deleted file's passage is gone from the index: the panel says so and still shows,
    # as text, what the answer was given.
    _open_citation(page, second, keyboard=True)
    expect(dialog).to_have_attribute("data-state", "stale")
    expect(page.locator("#passage-note")).to_contain_text("no longer in the index")
    assert page.locator("#passage-text script, #passage-text img").count() == 0
    assert _pwned(page) is None
    shot("passage-after-delete", full_page=False)
    page.click("#passage-close")

    page.set_viewport_size({"width": 380, "height": 800})
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than a narrow screen"
    shot("narrow")

    page.click("#key-forget")
    page.fill("#key-input", "askd_deadbeef_not-a-real-key")
    page.click("#key-form button[type=submit]")
    expect(page.locator("#notice")).to_contain_text("Key rejected")
    expect(page.locator("#key-form")).to_be_visible()
    shot("key-rejected")
    assert _pwned(page) is None


def _drop_replace_download(page: Page, shot: Shots, tmp: Path) -> None:
    """Files dropped on the zone (one unsupported), a new version through Replace, and the
    original bytes back through Download."""
    page.evaluate(DROP_JS, [DROPPED])
    uploads = page.locator("#upload-list .upload")
    expect(uploads.filter(has_text="notes.rst")).to_have_attribute(
        "data-state", "ready", timeout=INGEST_MS
    )
    refused = uploads.filter(has_text="tool.exe")
    expect(refused).to_have_attribute("data-state", "failed")
    expect(refused).to_contain_text("unsupported type")
    documents = page.locator("#doc-list .doc")
    expect(documents).to_have_count(4)
    shot("dropped")

    garden = documents.filter(has_text="garden.txt")
    newer = tmp / "garden-v2.txt"
    newer.write_text(PLAIN_V2)
    with page.expect_file_chooser() as chooser:
        garden.get_by_role("button", name="Replace").click()
    chooser.value.set_files(str(newer))
    replaced = uploads.filter(has_text="garden.txt ← garden-v2.txt")
    expect(replaced).to_have_attribute("data-state", "ready", timeout=INGEST_MS)
    expect(replaced).to_contain_text("updated")
    expect(garden.locator(".doc-meta")).to_contain_text("v2")
    with page.expect_download() as downloaded:
        garden.get_by_role("button", name="Download").click()
    assert downloaded.value.suggested_filename == "garden.txt"
    assert Path(downloaded.value.path()).read_text() == PLAIN_V2
    shot("replaced")
    page.click("#upload-clear")
    expect(uploads).to_have_count(0)
    expect(page.locator("#upload-clear")).to_be_hidden()


def _ask(page: Page, question: str, turns: int) -> None:
    page.fill("#question", question)
    page.press("#question", "Enter")
    done = page.locator('.turn[data-state="done"]')
    expect(done).to_have_count(turns, timeout=ANSWER_MS)


def _open_citation(page: Page, turn: Locator, *, keyboard: bool = False) -> None:
    """Opens the answer's first inline citation of hostile.md, or the first numbered source
    when the small model cited nothing (the sources are the same numbered passages, [1] the
    best)."""
    inline = turn.locator('.answer .cite[aria-label$=": hostile.md"]')
    target = inline.first if inline.count() else turn.locator(".sources .cite").first
    expect(target).to_have_text(re.compile(r"^\[\d+\]$"))
    if keyboard:
        target.focus()
        page.keyboard.press("Enter")
    else:
        target.click()
    expect(page.locator("#passage-dialog")).to_be_visible()
