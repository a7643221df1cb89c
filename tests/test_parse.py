"""Tests for the parse stage, on real files built in memory and inline text formats."""

from __future__ import annotations

import io
import itertools
import warnings
import zipfile

import docx
import pptx
import pytest
from docx.oxml import OxmlElement
from pptx.util import Inches
from pypdf import PdfReader, PdfWriter

from askdocs.errors import ParseError, UnsupportedFileTypeError
from askdocs.models import ParsedDocument
from askdocs.parse import SUPPORTED_SUFFIXES, detect_media_type, html, parse_document

from filegen import make_docx, make_pdf, make_pptx, make_scanned_pdf, make_xlsx

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def section_texts(doc: ParsedDocument) -> list[str]:
    return [doc.text[s.start : s.end] for s in doc.sections]


def headings(doc: ParsedDocument) -> list[tuple[str, ...]]:
    return [s.heading for s in doc.sections]


def assert_well_formed(doc: ParsedDocument) -> None:
    """Sections are in order, do not overlap, lie inside the text and are not blank."""
    end = 0
    for section in doc.sections:
        assert end <= section.start < section.end <= len(doc.text)
        chunk = doc.text[section.start : section.end]
        assert chunk == chunk.strip()
        end = section.end
    assert "".join(section_texts(doc)).replace("\n", "") == doc.text.replace("\n", "")


# --- PDF --------------------------------------------------------------------------------


def test_pdf_has_one_section_per_page_with_page_numbers() -> None:
    data = make_pdf(["First page text\nsecond line", "Second page text", "Third page text"])
    doc = parse_document(data, "report.pdf")
    assert doc.media_type == "application/pdf"
    assert [s.page for s in doc.sections] == [1, 2, 3]
    assert section_texts(doc) == [
        "First page text\nsecond line",
        "Second page text",
        "Third page text",
    ]
    assert doc.text == "First page text\nsecond line\n\nSecond page text\n\nThird page text"
    assert_well_formed(doc)


def test_pdf_page_without_text_keeps_later_page_numbers() -> None:
    writer = PdfWriter()
    for source in (make_pdf(["Words on one"]), make_scanned_pdf(), make_pdf(["Words on three"])):
        writer.append(PdfReader(io.BytesIO(source)))
    buffer = io.BytesIO()
    writer.write(buffer)
    doc = parse_document(buffer.getvalue(), "mixed.pdf")
    assert [(s.page, doc.text[s.start : s.end]) for s in doc.sections] == [
        (1, "Words on one"),
        (3, "Words on three"),
    ]


def test_scanned_pdf_says_ocr_is_needed() -> None:
    with pytest.raises(
        ParseError, match=r"no extractable text \(scanned PDF\? OCR is not enabled\)"
    ):
        parse_document(make_scanned_pdf(2), "scan.pdf")


def test_corrupt_pdf_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="corrupt") as info:
        parse_document(b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog broken", "broken.pdf")
    assert str(info.value).startswith("broken.pdf: ")


def test_password_protected_pdf_is_a_parse_error() -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(["Secret"]))))
    writer.encrypt(user_password="pw", owner_password="owner", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    with pytest.raises(ParseError, match="password-protected"):
        parse_document(buffer.getvalue(), "locked.pdf")


def test_pdf_encrypted_with_empty_user_password_opens() -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(["Readable anyway"]))))
    writer.encrypt(user_password="", owner_password="owner", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    assert parse_document(buffer.getvalue(), "restricted.pdf").text == "Readable anyway"


# --- Markdown ---------------------------------------------------------------------------

MARKDOWN = b"""\
Intro   before  any heading.

# Install

Use pip.

```bash
# a comment, not a heading
pip install askdocs
```

## On Linux

Use apt.

Setext title
------------

Body of setext.

# Usage `cli`

Run it.
"""


def test_markdown_sections_follow_heading_paths() -> None:
    doc = parse_document(MARKDOWN, "guide.md")
    assert doc.media_type == "text/markdown"
    assert headings(doc) == [
        (),
        ("Install",),
        ("Install", "On Linux"),
        ("Install", "Setext title"),
        ("Usage cli",),
    ]
    texts = section_texts(doc)
    assert texts[0] == "Intro before any heading."
    assert texts[1] == (
        "Install\n\nUse pip.\n\n```bash\n# a comment, not a heading\npip install askdocs\n```"
    )
    assert texts[2] == "On Linux\n\nUse apt."
    assert texts[3] == "Setext title\n\nBody of setext."
    assert texts[4] == "Usage cli\n\nRun it."
    assert_well_formed(doc)


def test_markdown_front_matter_is_not_a_heading() -> None:
    doc = parse_document(b"---\ntitle: Notes\n---\nHello.\n\n# Part\nText.\n", "notes.markdown")
    assert headings(doc) == [(), ("Part",)]
    assert section_texts(doc)[0] == "---\ntitle: Notes\n---\nHello."


# --- reStructuredText -------------------------------------------------------------------

RST = b"""\
Preamble line.

=====
Guide
=====

Intro text.

Install
-------

Run it::

    pip   install askdocs

On Linux
~~~~~~~~

Use apt.

----

Usage
-----

Use it.
"""


def test_rst_sections_follow_adornment_levels() -> None:
    doc = parse_document(RST, "guide.rst")
    assert doc.media_type == "text/x-rst"
    assert headings(doc) == [
        (),
        ("Guide",),
        ("Guide", "Install"),
        ("Guide", "Install", "On Linux"),
        ("Guide", "Usage"),
    ]
    texts = section_texts(doc)
    assert texts[0] == "Preamble line."
    # The literal block keeps its indentation; the transition stays as text.
    assert texts[2] == "Install\n\nRun it::\n\n    pip install askdocs"
    assert texts[3] == "On Linux\n\nUse apt.\n\n----"
    assert texts[4] == "Usage\n\nUse it."
    assert_well_formed(doc)


# --- HTML -------------------------------------------------------------------------------

HTML = b"""\
<!doctype html>
<html><head><title>Page</title><style>p { color: red }</style>
<script>var secret = "tracking";</script></head>
<body>
  <nav><a href="/">Home</a> <a href="/about">About</a></nav>
  <p>Before   the heading.</p>
  <h1>Install</h1>
  <p>Use <b>pip</b>.<br>Second line.</p>
  <script>alert("hidden script")</script>
  <h2>On Linux</h2>
  <ul>
    <li>one</li>
    <li>two</li>
  </ul>
  <table><tr><th>Name</th><th>Year</th></tr><tr><td>Ada</td><td>1843</td></tr></table>
  <h1>Usage</h1>
  <p>Run it.<!-- a comment --></p>
  <p hidden>Invisible.</p>
</body></html>
"""


def test_html_drops_noise_and_sections_by_heading() -> None:
    doc = parse_document(HTML, "page.html")
    assert doc.media_type == "text/html"
    assert "secret" not in doc.text
    assert "hidden script" not in doc.text
    assert "Home" not in doc.text
    assert "comment" not in doc.text
    assert "Invisible" not in doc.text
    assert headings(doc) == [(), ("Install",), ("Install", "On Linux"), ("Usage",)]
    assert section_texts(doc) == [
        "Before the heading.",
        "Install\n\nUse pip.\nSecond line.",
        "On Linux\n\none\ntwo\n\nName | Year\nAda | 1843",
        "Usage\n\nRun it.",
    ]
    assert_well_formed(doc)


def test_html_pre_keeps_indentation() -> None:
    doc = parse_document(
        b"<div>\n  <p>Code:</p>\n  <pre>def f():\n    return 1</pre>\n</div>", "c.html"
    )
    assert doc.text == "Code:\n\ndef f():\n    return 1"


def test_htm_suffix_and_suffixless_html_are_html() -> None:
    assert parse_document(b"<p>Hi</p>", "old.htm").text == "Hi"
    assert detect_media_type(b"<!DOCTYPE html><html><p>x</p></html>", "download") == "text/html"


# --- DOCX -------------------------------------------------------------------------------


def test_docx_sections_follow_heading_styles_and_include_tables() -> None:
    data = make_docx(
        [
            ("para", "Before any heading."),
            ("title", "User Guide"),
            ("para", "About this guide."),
            ("heading1", "Install"),
            ("para", "Run the installer."),
            ("heading2", "On Linux"),
            ("para", "Use apt."),
            ("table", "Distro|Command\nDebian|apt install askdocs"),
            ("heading1", "Usage"),
            ("para", "Ask a question."),
        ]
    )
    doc = parse_document(data, "guide.docx")
    assert doc.media_type == DOCX
    assert headings(doc) == [
        (),
        ("User Guide",),
        ("User Guide", "Install"),
        ("User Guide", "Install", "On Linux"),
        ("User Guide", "Usage"),
    ]
    assert section_texts(doc) == [
        "Before any heading.",
        "User Guide\n\nAbout this guide.",
        "Install\n\nRun the installer.",
        "On Linux\n\nUse apt.\n\nDistro | Command\nDebian | apt install askdocs",
        "Usage\n\nAsk a question.",
    ]
    assert_well_formed(doc)


def test_corrupt_docx_is_a_parse_error() -> None:
    data = make_docx([("para", "Some text that will be cut off.")])
    with pytest.raises(ParseError, match="corrupt"):
        parse_document(data[: len(data) // 2], "cut.docx")


def test_docx_with_broken_xml_is_a_parse_error() -> None:
    source = zipfile.ZipFile(io.BytesIO(make_docx([("para", "text")])))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for item in source.infolist():
            payload = source.read(item)
            if item.filename == "word/document.xml":
                payload = payload[: len(payload) // 2]
            target.writestr(item, payload)
    with pytest.raises(ParseError, match="Word document is corrupt"):
        parse_document(buffer.getvalue(), "broken.docx")


# --- PPTX -------------------------------------------------------------------------------


def test_pptx_has_one_section_per_slide_with_titles_and_notes() -> None:
    data = make_pptx(
        [("Welcome", "First point\nSecond point"), ("", "A slide without title"), ("End", "Bye")],
        notes=["Say hello", "", ""],
    )
    doc = parse_document(data, "deck.pptx")
    assert doc.media_type == PPTX
    assert [(s.page, s.heading) for s in doc.sections] == [
        (1, ("Welcome",)),
        (2, ()),
        (3, ("End",)),
    ]
    assert section_texts(doc) == [
        "Welcome\n\nFirst point\nSecond point\n\nNotes: Say hello",
        "A slide without title",
        "End\n\nBye",
    ]
    assert_well_formed(doc)


def test_pptx_includes_tables_and_grouped_shapes() -> None:
    presentation = pptx.Presentation()
    slide = presentation.slides.add_slide(presentation.slide_layouts[5])  # title only
    assert slide.shapes.title is not None
    slide.shapes.title.text = "Figures"
    table = slide.shapes.add_table(2, 2, Inches(1), Inches(2), Inches(4), Inches(1)).table
    for (row, col), value in {(0, 0): "Year", (0, 1): "Sales", (1, 0): "2024", (1, 1): "7"}.items():
        table.cell(row, col).text = value
    group = slide.shapes.add_group_shape()
    box = group.shapes.add_textbox(Inches(1), Inches(4), Inches(3), Inches(1))
    box.text_frame.text = "Grouped note"
    buffer = io.BytesIO()
    presentation.save(buffer)
    doc = parse_document(buffer.getvalue(), "figures.pptx")
    assert doc.text == "Figures\n\nYear | Sales\n2024 | 7\n\nGrouped note"
    assert doc.sections[0].heading == ("Figures",)


# --- XLSX and CSV -----------------------------------------------------------------------


def test_xlsx_rows_use_the_header_and_name_sheet_and_rows() -> None:
    data = make_xlsx(
        {
            "People": [["Name", "Year"], ["Ada", 1843], ["Alan", 1936.0], [None, None], ["Grace"]],
            "Empty": [],
            "Notes": [["Only a header", "row"]],
        }
    )
    doc = parse_document(data, "people.xlsx")
    assert doc.media_type == XLSX
    assert headings(doc) == [("People", "rows 2-5"), ("Notes", "row 1")]
    assert section_texts(doc) == [
        "Name: Ada; Year: 1843\nName: Alan; Year: 1936\nName: Grace",
        "Only a header; row",
    ]
    assert_well_formed(doc)


def test_xlsx_long_sheets_are_split_into_row_groups() -> None:
    rows: list[list[object]] = [["Id", "Description"]]
    rows += [[n, f"Item number {n} with a fairly long description text"] for n in range(1, 201)]
    doc = parse_document(make_xlsx({"Items": rows}), "items.xlsx")
    assert len(doc.sections) > 3
    assert all(len(text) <= 1500 for text in section_texts(doc))
    assert doc.sections[0].heading[1].startswith("rows 2-")
    assert doc.sections[-1].heading[1].endswith("-201")
    assert section_texts(doc)[0].split("\n")[0] == (
        "Id: 1; Description: Item number 1 with a fairly long description text"
    )
    numbers = [s.heading[1].removeprefix("rows ").split("-") for s in doc.sections]
    assert all(int(b) + 1 == int(a) for (_, b), (a, _) in itertools.pairwise(numbers))


def test_xlsx_with_only_empty_sheets_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="no data"):
        parse_document(make_xlsx({"Blank": []}), "blank.xlsx")


def test_corrupt_xlsx_is_a_parse_error() -> None:
    data = make_xlsx({"S": [["a", "b"], [1, 2]]})
    with pytest.raises(ParseError, match="corrupt"):
        parse_document(data[:-200], "cut.xlsx")


def test_csv_rows_use_the_header_and_spreadsheet_row_numbers() -> None:
    data = b'Name,Year,Note\nAda,1843,"first\nprogrammer"\n\nAlan,1936,\n'
    doc = parse_document(data, "people.csv")
    assert doc.media_type == "text/csv"
    assert headings(doc) == [("rows 2-4",)]
    assert doc.text == "Name: Ada; Year: 1843; Note: first programmer\nName: Alan; Year: 1936"


def test_csv_with_semicolons_is_sniffed() -> None:
    doc = parse_document(b"Name;Year\nAda;1843\nAlan;1936\n", "people.csv")
    assert doc.text == "Name: Ada; Year: 1843\nName: Alan; Year: 1936"


# --- JSON and text ----------------------------------------------------------------------


def test_json_object_has_sections_per_top_level_key() -> None:
    data = b'{"name": "askdocs", "owner": {"name": "Ada", "tags": ["math", "poetry"]}, "n": null}'
    doc = parse_document(data, "meta.json")
    assert doc.media_type == "application/json"
    assert headings(doc) == [("name",), ("owner",), ("n",)]
    assert section_texts(doc) == [
        "name: askdocs",
        "owner.name: Ada\nowner.tags[0]: math\nowner.tags[1]: poetry",
        "n: null",
    ]
    assert_well_formed(doc)


def test_json_array_has_sections_of_items() -> None:
    items = ",".join(f'{{"id": {n}, "text": "{"x" * 100}"}}' for n in range(30))
    doc = parse_document(f"[{items}]".encode(), "items.json")
    assert doc.sections[0].heading[0].startswith("items 0-")
    assert section_texts(doc)[0].startswith("[0].id: 0\n[0].text: xxx")
    assert all(len(text) <= 1500 for text in section_texts(doc))


def test_invalid_json_names_line_and_column() -> None:
    with pytest.raises(ParseError, match="line 2, column 7"):
        parse_document(b'{"a": 1,\n "b": }', "bad.json")


def test_text_keeps_paragraphs_and_collapses_spaces() -> None:
    doc = parse_document(
        b"First   line\r\nstill first.\r\n\r\n\r\n\r\nSecond\tparagraph.  \n", "a.txt"
    )
    assert doc.text == "First line\nstill first.\n\nSecond paragraph."
    assert doc.sections[0].heading == ()
    assert doc.sections[0].page is None


def test_latin1_text_is_decoded() -> None:
    text = "Le café était très crème; la façade naïve à côté du théâtre. Über die Straße."
    assert parse_document(text.encode("latin-1"), "old.txt").text == text


def test_utf8_bom_is_removed() -> None:
    doc = parse_document("\ufeffHéllo BOM".encode(), "bom.txt")
    assert doc.text == "Héllo BOM"
    assert parse_document(b"\xef\xbb\xbf# Title\nBody", "bom.md").sections[0].heading == ("Title",)


def test_utf16_with_bom_is_decoded() -> None:
    assert parse_document("Grüße".encode("utf-16"), "u16.txt").text == "Grüße"


# --- Errors and detection ---------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"   \n\t\n  "])
@pytest.mark.parametrize("name", ["empty.txt", "empty.pdf", "empty.docx", "empty.md"])
def test_empty_file_is_a_parse_error(data: bytes, name: str) -> None:
    with pytest.raises(ParseError, match="empty file") as info:
        parse_document(data, name)
    assert not isinstance(info.value, UnsupportedFileTypeError)


@pytest.mark.parametrize("name", ["empty.html", "empty.json", "empty.csv"])
def test_file_with_no_text_after_extraction_is_empty(name: str) -> None:
    data = {"empty.html": b"<html><script>x()</script></html>", "empty.json": b"{}"}
    with pytest.raises(ParseError, match="empty file"):
        parse_document(data.get(name, b",,,\n,,\n"), name)


def test_docx_named_pdf_is_a_mismatch() -> None:
    with pytest.raises(UnsupportedFileTypeError, match=r"Word document.*\.pdf claims a PDF"):
        parse_document(make_docx([("para", "text")]), "report.pdf")


def test_text_named_docx_is_a_mismatch() -> None:
    with pytest.raises(UnsupportedFileTypeError, match=r"plain text.*\.docx claims a Word"):
        parse_document(b"Just some plain text.", "report.docx")


def test_pdf_named_txt_is_a_mismatch() -> None:
    with pytest.raises(UnsupportedFileTypeError, match=r"PDF.*\.txt claims plain text"):
        parse_document(make_pdf(["text"]), "notes.txt")


def test_xlsx_named_pptx_is_a_mismatch() -> None:
    with pytest.raises(UnsupportedFileTypeError, match=r"Excel.*\.pptx claims a PowerPoint"):
        parse_document(make_xlsx({"S": [["a"]]}), "deck.pptx")


def test_plain_zip_named_docx_is_a_mismatch() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(UnsupportedFileTypeError, match="ZIP archive"):
        parse_document(buffer.getvalue(), "fake.docx")


def test_unsupported_suffix_lists_supported_types() -> None:
    with pytest.raises(UnsupportedFileTypeError) as info:
        parse_document(b"MZ\x90\x00", "setup.exe")
    message = str(info.value)
    assert ".exe" in message
    for suffix in SUPPORTED_SUFFIXES:
        assert suffix in message


def test_binary_junk_named_txt_is_not_text() -> None:
    junk = bytes(range(256)) * 8
    with pytest.raises(ParseError, match="not a text file") as info:
        parse_document(junk, "junk.txt")
    assert "UTF-8" in str(info.value)


def test_binary_without_nul_bytes_named_txt_is_not_text() -> None:
    with pytest.raises(ParseError, match="not a text file"):
        parse_document(bytes(range(1, 32)) * 40, "controls.txt")


def test_suffixless_files_are_sniffed() -> None:
    assert detect_media_type(make_pdf(["x"]), "download") == "application/pdf"
    assert detect_media_type(make_docx([("para", "x")]), "download") == DOCX
    assert detect_media_type(make_pptx([("x", "y")]), "download") == PPTX
    assert detect_media_type(make_xlsx({"S": [["x"]]}), "download") == XLSX
    assert detect_media_type(b"Plain words.", "README") == "text/plain"
    with pytest.raises(ParseError, match="not a text file"):
        detect_media_type(bytes(range(256)), "blob")


def test_suffix_is_case_insensitive_and_paths_are_ignored() -> None:
    assert detect_media_type(make_pdf(["x"]), r"C:\Docs\REPORT.PDF") == "application/pdf"
    assert detect_media_type(b"# T", "dir.v2/notes.MD") == "text/markdown"


def test_dotfile_without_suffix_is_sniffed() -> None:
    assert detect_media_type(b"plain", ".env") == "text/plain"


def test_supported_suffixes_map_to_media_types() -> None:
    assert SUPPORTED_SUFFIXES[".pdf"] == "application/pdf"
    assert set(SUPPORTED_SUFFIXES) == {
        ".txt",
        ".md",
        ".markdown",
        ".rst",
        ".html",
        ".htm",
        ".pdf",
        ".docx",
        ".pptx",
        ".xlsx",
        ".csv",
        ".json",
    }


def test_docx_text_inside_content_controls_is_kept() -> None:
    document = docx.Document(io.BytesIO(make_docx([("heading1", "Terms"), ("para", "Wrapped.")])))
    paragraph = document.paragraphs[1]._p
    sdt, content = OxmlElement("w:sdt"), OxmlElement("w:sdtContent")
    paragraph.addprevious(sdt)
    sdt.append(content)
    content.append(paragraph)
    buffer = io.BytesIO()
    document.save(buffer)
    doc = parse_document(buffer.getvalue(), "template.docx")
    assert section_texts(doc) == ["Terms\n\nWrapped."]
    assert headings(doc) == [("Terms",)]


def test_sphinx_sources_are_read_as_what_they_are() -> None:
    rst = b"Title\n=====\n\nIntro.\n\nUsage\n-----\n\nCall it.\n"
    assert detect_media_type(rst, "json.rst.txt") == "text/x-rst"
    parsed = parse_document(rst, "library-json.rst.txt")
    assert ("Title", "Usage") in [s.heading for s in parsed.sections]
    assert detect_media_type(b"# Hi\n", "page.md.txt") == "text/markdown"


def test_xhtml_parses_without_a_warning_per_file() -> None:
    page = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.1//EN"'
        b' "http://www.w3.org/TR/xhtml11/DTD/xhtml11.dtd">\n<html xmlns="http://www.w3.org/1999/'
        b'xhtml"><body><h2>NAME</h2><p>git-gc - Cleanup unnecessary files</p></body></html>'
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parsed = html.parse(page)
    assert "Cleanup unnecessary files" in parsed.text
