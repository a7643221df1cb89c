"""Hostile files fail alone, fast and with a clear error: bombs, entity attacks, huge claims,
parsers that hang or eat memory; a cancelled or crash-looping job stops for good."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest

import hostile
from askdocs.errors import ParseError
from askdocs.jobs.store import JobStore, owner_id
from askdocs.parse import media, parse_document
from askdocs.parse.registry import parser_for
from askdocs.parse.sandbox import ParseCancelled, ParseSandbox
from askdocs.settings import ParseSettings

from filegen import make_pdf, make_xlsx

# case -> what its error says (None: it parses, and what it yields is checked below).
EXPECTED = {
    "docx zip bomb (2 GiB)": "unpacks to 2,049 MB, more than the limit of 512 MB",
    "pptx zip bomb (2 GiB)": "more than the limit of 512 MB (setting parse.max_zip_bytes)",
    "xlsx zip bomb (2 GiB)": "more than the limit of 512 MB (setting parse.max_zip_bytes)",
    "docx with 20,000 parts": "more than the limit of 10,000 (setting parse.max_zip_members)",
    "xlsx A1:XFD1048576, cell at A1": None,
    "xlsx A1:XFD1048576, cell at XFD1048576": None,
    "PDF flate bomb (1 GiB)": "inflates past the reader's safety limit",
    "PDF with 100,000 pages": "100,000 pages, more than the limit of 5,000",
    "JSON nested 100,000 deep": "nested too deeply",
    "50 MB single-line text": "more than 10,000,000 characters of text",
    "binary under .txt": "not a text file",
    "mixed encodings": "not a text file",
    "non-UTF-8 (Latin-1)": None,
    "docx billion laughs": "declares a DTD",
    "docx external entity (XXE)": "declares a DTD",
    "pptx billion laughs": "declares a DTD",
    "pptx external entity (XXE)": "declares a DTD",
    "xlsx billion laughs": "declares a DTD",
    "xlsx external entity (XXE)": "declares a DTD",
    "html billion laughs": None,
    "html external entity (XXE)": None,
}
SECRET = "TOPSECRET-c0ffee"


@pytest.fixture(scope="module")
def secret(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("xxe") / "secret.txt"
    path.write_text(SECRET)
    return path


def test_every_hostile_case_is_listed(secret: Path) -> None:
    assert set(hostile.cases(secret)) == set(EXPECTED)


@pytest.mark.parametrize("case", list(EXPECTED))
def test_hostile_file_fails_with_its_clear_error_or_parses_harmlessly(
    case: str, secret: Path
) -> None:
    name, build = hostile.cases(secret)[case]
    data = build()
    expected = EXPECTED[case]
    if expected is not None:
        with pytest.raises(ParseError, match=re.escape(expected)) as info:
            parse_document(data, name)
        assert str(info.value).startswith(f"{name}: ")
        return
    text = parse_document(data, name).text
    assert SECRET not in text
    assert "lollol" not in text
    if "xlsx" in case:
        assert text == "lonely"
    elif "Latin-1" in case:
        assert text == "Crème brûlée à la carte."


@pytest.mark.parametrize("kind", ["docx", "pptx", "xlsx"])
def test_office_parsers_expand_no_entities_even_past_the_dtd_check(kind: str, secret: Path) -> None:
    """The DTD check is the first line; the parsers themselves must not expand entities."""
    parse = parser_for({"docx": media.DOCX, "pptx": media.PPTX, "xlsx": media.XLSX}[kind])
    for dtd, entity in ((hostile.BILLION_LAUGHS_DTD, "&lol9;"), (hostile.xxe_dtd(secret), "&xxe;")):
        data = hostile.xml_entity_file(kind, dtd, entity)
        try:
            text = parse(data).text
        except ParseError:
            continue  # refused: as good as ignored
        assert SECRET not in text
        assert "lollol" not in text


def test_a_dtd_after_a_long_comment_is_still_found() -> None:
    padded = "<!--" + "x" * 20_000 + "-->" + hostile.BILLION_LAUGHS_DTD
    data = hostile.xml_entity_file("docx", padded, "&lol9;")
    with pytest.raises(ParseError, match="declares a DTD"):
        parse_document(data, "padded.docx")


def test_a_huge_sheet_of_real_cells_is_refused_at_the_cell_limit() -> None:
    rows = [[f"r{r}c{c}" for c in range(20)] for r in range(200)]
    data = make_xlsx({"Big": rows})
    sheet_limit = re.escape("more than 1,000 cells (setting parse.max_sheet_cells)")
    with pytest.raises(ParseError, match=sheet_limit):
        parse_document(data, "big.xlsx", ParseSettings(max_sheet_cells=1000))
    with pytest.raises(ParseError, match=re.escape("parse.max_workbook_cells")):
        parse_document(data, "big.xlsx", ParseSettings(max_workbook_cells=1000))
    assert "r199c19" in parse_document(data, "big.xlsx").text


def test_pdf_text_is_capped_while_pages_are_read() -> None:
    data = make_pdf(["word " * 200] * 5)
    with pytest.raises(ParseError, match="more than 1,500 characters"):
        parse_document(data, "long.pdf", ParseSettings(max_text_chars=1500))


# -- the parse subprocess ----------------------------------------------------------------

BIG_TEXT = hostile.long_line_text(40 * hostile.MIB)
UNCAPPED = {"max_text_chars": 10**9}


def _then_a_normal_file_parses(sandbox: ParseSandbox) -> None:
    assert sandbox.parse(b"Still here.", "next.txt").text == "Still here."


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"timeout_seconds": 0.3}, r"parsing took longer than 0.3 s \(setting parse.timeout"),
        ({"cpu_seconds": 1}, r"parsing used more than 1 s of CPU \(setting parse.cpu_seconds"),
        ({"memory_mb": 256}, r"needs more than the 256 MB parse memory limit"),
    ],
    ids=["wall clock", "cpu", "memory"],
)
def test_a_parse_past_its_limit_fails_that_file_and_the_next_one_parses(
    limits: dict[str, float], message: str
) -> None:
    sandbox = ParseSandbox(ParseSettings(**UNCAPPED, **limits))  # type: ignore[arg-type]
    try:
        with pytest.raises(ParseError, match=message) as info:
            # Several seconds of CPU in the parser (normalising 120 MB of text).
            sandbox.parse(BIG_TEXT * 3, "big.txt")
        assert str(info.value).startswith("big.txt: ")
        _then_a_normal_file_parses(sandbox)
    finally:
        sandbox.close()


def test_a_bomb_past_the_archive_check_is_stopped_by_the_memory_limit() -> None:
    limits = ParseSettings(memory_mb=512, max_zip_bytes=10**12, max_zip_ratio=10**9)
    sandbox = ParseSandbox(limits)
    try:
        with pytest.raises(ParseError):
            sandbox.parse(hostile.zip_bomb("docx"), "bomb.docx")
        _then_a_normal_file_parses(sandbox)
    finally:
        sandbox.close()


def test_a_cancelled_parse_stops_its_process_at_once() -> None:
    sandbox = ParseSandbox(ParseSettings(**UNCAPPED))  # type: ignore[arg-type]
    try:
        _then_a_normal_file_parses(sandbox)
        deadline = time.monotonic() + 0.3
        started = time.monotonic()
        with pytest.raises(ParseCancelled):
            sandbox.parse(BIG_TEXT * 3, "huge.txt", cancelled=lambda: time.monotonic() > deadline)
        # Well before the parse itself would end (several seconds for 120 MB).
        assert time.monotonic() - started < 2.0
        _then_a_normal_file_parses(sandbox)
    finally:
        sandbox.close()


# -- jobs: cancelled while running, and crash loops ----------------------------------------


def _running_job(store: JobStore, owner: str, attempts: int) -> str:
    job = store.submit(document_id="d" * 24, collection="c", source="x.md", blob="b", version=1)
    store._db().execute(
        "UPDATE jobs SET state = 'running', owner = ?, attempts = ?, lease_until = ? WHERE id = ?",
        (owner, attempts, time.time() + 300, job.job_id),
    )
    return job.job_id


def test_a_job_that_killed_its_process_three_times_is_failed_not_requeued(
    tmp_path: Path,
) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    dead = owner_id().rpartition(":")[0] + ":2147483000"
    retry = _running_job(store, dead, attempts=1)
    hopeless = _running_job(store, dead, attempts=3)
    assert store.recover(max_attempts=3) == (1, 1)
    assert store.get(retry).state == "queued"  # type: ignore[union-attr]
    failed = store.get(hopeless)
    assert failed is not None and failed.state == "failed"
    assert "not retried" in (failed.error or "")
    claimed = store.claim(max_attempts=3)
    assert claimed is not None and claimed.job_id == retry
    assert store.claim(max_attempts=3) is None


def test_a_job_whose_lease_ran_out_at_its_last_attempt_fails(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    job_id = _running_job(store, "elsewhere:1", attempts=3)
    store._db().execute("UPDATE jobs SET lease_until = 0 WHERE id = ?", (job_id,))
    assert store.claim(max_attempts=3) is None
    assert store.get(job_id).state == "failed"  # type: ignore[union-attr]


def test_deleting_a_document_stops_its_running_job(tmp_path: Path) -> None:
    """The job parses a file that takes seconds; the delete lands mid-parse."""
    from askdocs.jobs.worker import JobRunner

    from conftest import fake_container

    container = fake_container(tmp_path / "data")
    data = hostile.long_line_text(60 * hostile.MIB)
    blob = container.blobs.put(data)
    job = container.jobs.submit(
        document_id="e" * 24, collection="c", source="slow.txt", blob=blob, version=1
    )
    runner = JobRunner(container.jobs, lambda: container.ingestion, container.blobs)
    worker = threading.Thread(target=runner.run_once)
    worker.start()
    deadline = time.monotonic() + 10
    while container.jobs.get(job.job_id).state != "running":  # type: ignore[union-attr]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)
    cancelled_at = time.monotonic()
    assert container.jobs.cancel("e" * 24) == 1
    worker.join(10)
    assert not worker.is_alive()
    assert time.monotonic() - cancelled_at < 3.0
    done = container.jobs.get(job.job_id)
    assert done is not None and done.state == "failed" and "cancelled" in (done.error or "")
    assert container.tables.get_document("e" * 24) is None
    assert container.jobs.claim() is None  # and nothing brings it back
