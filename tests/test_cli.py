"""The CLI end to end with the real models and real files of every supported format."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from askdocs.cli.app import app

from filegen import make_docx, make_pdf, make_pptx, make_xlsx

pytestmark = [pytest.mark.integration, pytest.mark.slow]

runner = CliRunner(env={"COLUMNS": "300"})


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    (root / "notes.txt").write_text(
        "The office coffee machine is descaled every Friday by the facilities team.\n",
        encoding="utf-8",
    )
    (root / "guide.md").write_text(
        "# Guide\n\n## Backups\n\nNightly backups run at 02:00 and are kept for 35 days.\n",
        encoding="utf-8",
    )
    (root / "api.rst").write_text(
        "API\n===\n\nRate limits\n-----------\n\nEach API key may send 600 requests per minute.\n",
        encoding="utf-8",
    )
    (root / "page.html").write_text(
        "<html><body><h1>Parking</h1><p>Visitors park on level minus two of the garage.</p>"
        "<script>alert('x')</script></body></html>",
        encoding="utf-8",
    )
    (root / "report.pdf").write_bytes(
        make_pdf(
            [
                "Quarterly report. Revenue grew in every region this quarter.",
                "The Lisbon office opened in March with forty engineers.",
            ]
        )
    )
    (root / "handbook.docx").write_bytes(
        make_docx(
            [
                ("heading1", "Holidays"),
                ("para", "Every employee gets 27 days of paid holiday per year."),
            ]
        )
    )
    (root / "deck.pptx").write_bytes(
        make_pptx(
            [("Roadmap", "Mobile app ships in autumn."), ("Hiring", "We hire ten designers.")]
        )
    )
    (root / "prices.xlsx").write_bytes(
        make_xlsx({"Prices": [["product", "price"], ["teapot", 19], ["kettle", 45]]})
    )
    (root / "stock.csv").write_text("item,count\numbrellas,120\nraincoats,80\n", encoding="utf-8")
    (root / "config.json").write_text(
        json.dumps({"server": {"port": 8443, "tls": True}}), encoding="utf-8"
    )
    (root / "broken.docx").write_bytes(b"PK\x03\x04 this zip is truncated")
    return root


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("askdocs-data")


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    monkeypatch.setenv("ASKDOCS_DATA_DIR", str(data_dir))


def ask_json(question: str, *extra: str) -> dict[str, object]:
    result = runner.invoke(app, ["ask", question, "--json", *extra])
    assert result.exit_code == 0, result.output
    payload: dict[str, object] = json.loads(result.stdout)
    return payload


def test_ingest_every_format_and_report_failures(corpus: Path) -> None:
    result = runner.invoke(app, ["ingest", str(corpus)])
    assert result.exit_code == 1, result.output  # broken.docx failed, the rest went in
    assert "broken.docx" in result.output and "corrupt" in result.output.lower()
    again = runner.invoke(app, ["ingest", str(corpus), "--exclude", "broken.docx"])
    assert again.exit_code == 0, again.output
    assert "unchanged" in again.output


@pytest.mark.parametrize(
    ("question", "file", "page"),
    [
        ("When did the Lisbon office open?", "report.pdf", 2),
        ("How many days of paid holiday do employees get?", "handbook.docx", None),
        ("How long are nightly backups kept?", "guide.md", None),
        ("Where do visitors park?", "page.html", None),
        ("What does the kettle cost?", "prices.xlsx", None),
        ("How many requests per minute may an API key send?", "api.rst", None),
        ("How many designers will we hire?", "deck.pptx", 2),
        ("How many umbrellas are in stock?", "stock.csv", None),
        ("Which port does the server listen on?", "config.json", None),
    ],
)
def test_retrieval_cites_the_right_file_and_page(
    corpus: Path, question: str, file: str, page: int | None
) -> None:
    payload = ask_json(question, "--no-generate", "-k", "3")
    top = payload["passages"][0]  # type: ignore[index]
    assert Path(top["source"]).name == file
    if page is not None:
        assert top["page"] == page
    assert payload["answer"] == "" and payload["cache"] == "miss"


def test_generated_answer_with_citations(corpus: Path) -> None:
    payload = ask_json("When did the Lisbon office open?")
    assert payload["abstained"] is False
    assert isinstance(payload["answer"], str) and payload["answer"].strip()
    timings = payload["timings_ms"]
    assert isinstance(timings, dict) and timings["generate"] > 0
    for citation in payload["citations"]:  # type: ignore[attr-defined]
        assert citation["chunk_id"] in {p["chunk_id"] for p in payload["passages"]}  # type: ignore[attr-defined]
    plain = runner.invoke(app, ["ask", "When did the Lisbon office open?"], env={"COLUMNS": "300"})
    assert plain.exit_code == 0 and "Sources" in plain.output and "report.pdf" in plain.output


def test_abstains_on_unrelated_question(corpus: Path) -> None:
    payload = ask_json("Who painted the Mona Lisa?")
    assert payload["abstained"] is True and payload["citations"] == []


def test_documents_delete_reindex_info(corpus: Path, data_dir: Path) -> None:
    listing = runner.invoke(app, ["documents"])
    assert listing.exit_code == 0 and "notes.txt" in listing.output
    deleted = runner.invoke(app, ["delete", "--source", str(corpus / "notes.txt")])
    assert deleted.exit_code == 0, deleted.output
    payload = ask_json("When is the coffee machine descaled?", "--no-generate")
    assert all(Path(p["source"]).name != "notes.txt" for p in payload["passages"])  # type: ignore[attr-defined]
    rebuilt = runner.invoke(app, ["reindex"])
    assert rebuilt.exit_code == 0 and "rebuilt" in rebuilt.output
    info = runner.invoke(app, ["info"])
    assert info.exit_code == 0, info.output
    data = json.loads(info.output)
    assert data["data_dir"] == str(data_dir)
    assert data["index"]["documents"] == 9
    assert data["settings"]["retrieve"]["k"] == 5


def test_errors_are_one_line_without_traceback(data_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "askdocs", "delete", "0123456789abcdef01234567"],
        capture_output=True,
        text=True,
        env={"ASKDOCS_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert result.returncode == 2
    assert "error:" in result.stderr and "Traceback" not in result.stderr


def test_invalid_setting_is_a_clear_error(data_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "askdocs", "documents"],
        capture_output=True,
        text=True,
        env={"ASKDOCS_DATA_DIR": str(data_dir), "ASKDOCS_RETRIEVE__K": "many", "PATH": "/usr/bin"},
        check=False,
    )
    assert result.returncode == 2
    assert "retrieve.k" in result.stderr and "Traceback" not in result.stderr
