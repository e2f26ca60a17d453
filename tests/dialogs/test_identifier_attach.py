"""A publication in, the publication out: an approved identifier put at the front of a real
multi-page Word document and PDF made here (one page more, the identifier first, the original
unchanged after it); damaged and password-protected files refused, by the function and by
``valuesbot identifier attach``, with nothing written."""

from __future__ import annotations

import asyncio
import io
import struct
from pathlib import Path

import pytest
from docx import Document
from docx.enum.text import WD_BREAK
from lxml import etree
from pypdf import PdfReader, PdfWriter
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from bot.app import build_app
from bot.cli import main
from bot.content import load_content
from dialogs.identifier.attach import AttachError, attach, attach_docx, attach_pdf
from dialogs.identifier.documents import HEADING, identifier_view
from tests.conftest import ANSWER_KEY, make_settings
from tests.identifier_seed import HOSTILE_ID, PENDING_ID, hostile, seed_identifiers

CONTENT = load_content()
PAGES = 3
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def folded(text: str) -> str:
    return " ".join(text.split())


def publication_docx() -> bytes:
    """A three-page report: a heading, paragraphs, a table, page breaks between pages."""
    document = Document()
    document.core_properties.title = "Annual report"
    for page in range(1, PAGES + 1):
        document.add_heading(f"Chapter {page}", level=1)
        document.add_paragraph(f"The text of page {page}, with ").add_run("bold words").bold = True
        table = document.add_table(rows=1, cols=2)
        table.cell(0, 0).text, table.cell(0, 1).text = f"Row {page}", "Value"
        if page < PAGES:
            document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def page_breaks(document: object) -> int:
    return len(document.element.body.findall(f".//{W}br[@{W}type='page']"))  # type: ignore[attr-defined]


def publication_pdf() -> bytes:
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4)
    canvas.setTitle("Annual report")
    for page in range(1, PAGES + 1):
        canvas.drawString(72, 760, f"Annual report, page {page} of {PAGES}")
        canvas.drawString(72, 740, f"Findings for chapter {page}.")
        canvas.showPage()
    canvas.save()
    return out.getvalue()


def encrypted_pdf() -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(publication_pdf())))
    writer.encrypt("secret", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def compound_file(streams: dict[str, bytes]) -> bytes:
    """A compound file (the container of Office's encrypted documents) holding ``streams``,
    each stored in whole 512-byte sectors (each at least 4096 bytes, so no mini stream)."""
    end, free, fat_sector, no_stream = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD, 0xFFFFFFFF
    fat = [fat_sector, end]  # sector 0: the FAT; sector 1: the directory
    data = b""
    starts = []
    for body in streams.values():
        assert len(body) >= 4096
        assert len(body) % 512 == 0
        first = len(fat)
        count = len(body) // 512
        fat += [first + n + 1 for n in range(count - 1)] + [end]
        starts.append(first)
        data += body
    fat += [free] * (128 - len(fat))

    def entry(name: str, kind: int, right: int, child: int, start: int, size: int) -> bytes:
        encoded = (name + "\0").encode("utf-16-le") if name else b""
        return (
            encoded.ljust(64, b"\0")
            + struct.pack("<HBB", len(encoded), kind, 1)
            + struct.pack("<III", no_stream, right, child)
            + b"\0" * 16
            + struct.pack("<I", 0)
            + b"\0" * 16
            + struct.pack("<IQ", start, size)
        )

    names = list(streams)
    directory = entry("Root Entry", 5, no_stream, 1, end, 0)
    for n, name in enumerate(names):
        right = n + 2 if n + 1 < len(names) else no_stream
        directory += entry(name, 2, right, no_stream, starts[n], len(streams[name]))
    directory = directory.ljust(512, b"\0")
    header = (
        bytes.fromhex("d0cf11e0a1b11ae1")
        + b"\0" * 16
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + b"\0" * 6
        + struct.pack("<IIII", 0, 1, 1, 0)
        + struct.pack("<IIIII", 4096, end, 0, end, 0)
        + struct.pack("<I", 0)
        + struct.pack("<I", free) * 108
    )
    assert len(header) == 512
    return header + struct.pack("<128I", *fat) + directory + data


def encrypted_docx() -> bytes:
    """A password-protected Word document as Word saves one: a compound file with the
    encryption's description and the encrypted package."""
    return compound_file(
        {"EncryptionInfo": b"\x04\x00\x04\x00\x40" * 1024, "EncryptedPackage": b"\x17" * 8192}
    )


VIEW = identifier_view(CONTENT, hostile(CONTENT), "https://values.example")


def test_a_word_publication_gets_the_identifier_as_its_first_page() -> None:
    original = Document(io.BytesIO(publication_docx()))
    before = [etree.tostring(e) for e in original.element.body]
    made = Document(io.BytesIO(attach_docx(VIEW, publication_docx())))
    assert page_breaks(made) == page_breaks(original) + 1 == PAGES  # one page more
    after = list(made.element.body)
    # The identifier first, ending in its page break...
    texts = [p.text for p in made.paragraphs]
    assert texts[0] == HEADING.upper()
    assert texts[1] == hostile(CONTENT).title
    added = len(after) - len(before)
    assert after[added - 1].findall(f".//{W}br[@{W}type='page']")
    for statement in hostile(CONTENT).statements:
        if statement.text:
            assert statement.text in texts[:added]
    # ...then the publication exactly as it was, element by element.
    assert [etree.tostring(e) for e in after[added:]] == before
    assert made.core_properties.title == "Annual report"
    assert made.tables[0].cell(0, 0).text == "Row 1"


def test_a_pdf_publication_gets_the_identifier_as_its_first_page() -> None:
    original = PdfReader(io.BytesIO(publication_pdf()))
    made = PdfReader(io.BytesIO(attach_pdf(VIEW, publication_pdf())))
    assert len(made.pages) == len(original.pages) + 1 == PAGES + 1
    first = folded(made.pages[0].extract_text())
    assert folded(hostile(CONTENT).title) in first
    for statement in hostile(CONTENT).statements:
        if statement.text:
            assert folded(statement.text) in first
    assert [p.extract_text() for p in made.pages[1:]] == [p.extract_text() for p in original.pages]
    assert made.metadata is not None
    assert made.metadata.title == "Annual report"


@pytest.mark.parametrize(
    ("kind", "data", "says"),
    [
        ("docx", publication_docx()[:1500], "not a Word document (.docx), or it is damaged"),
        ("docx", b"PK\x03\x04" + b"\0" * 200, "damaged"),
        ("docx", encrypted_docx(), "is password-protected"),
        ("docx", compound_file({"WordDocument": b"\0" * 4096}), "old Word document (.doc)"),
        ("pdf", publication_pdf()[:400], "could not be read as a PDF"),
        ("pdf", b"%PDF-1.7\n" + b"garbage " * 100, "could not be read as a PDF"),
        ("pdf", b"Hello, not a PDF", "is not a PDF"),
        ("pdf", encrypted_pdf(), "is password-protected"),
        ("odt", b"anything", "only Word (.docx) and PDF (.pdf)"),
    ],
)
def test_damaged_and_protected_files_are_refused(kind: str, data: bytes, says: str) -> None:
    with pytest.raises(AttachError) as refused:
        attach(VIEW, data, kind, name="report")
    assert says in str(refused.value)
    assert str(refused.value).startswith("report")


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A SQLite database holding the seeded identifiers; the CLI's environment names it."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'valuesbot.db'}"
    for name, value in {
        "DATABASE_URL": url,
        "VALUESBOT_PSEUDONYM_SECRET": "test-secret-0123456789",
        "VALUESBOT_ANSWER_KEY": ANSWER_KEY,
        "VALUESBOT_PUBLIC_URL": "https://values.example",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)

    async def fill() -> None:
        app = await build_app(make_settings(url))
        try:
            await seed_identifiers(app)
        finally:
            await app.close()

    asyncio.run(fill())
    return url


def test_the_command_line_attaches_and_refuses(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The publication as written (made again, its zip entries would carry another time).
    publication = publication_docx()
    (tmp_path / "report.docx").write_bytes(publication)
    (tmp_path / "report.pdf").write_bytes(publication_pdf())
    assert main(["identifier", "attach", HOSTILE_ID, "report.docx", "-o", "out.docx"]) == 0
    assert "wrote out.docx: the values identifier VI-A1B2-C3D4-E5F6" in capsys.readouterr().out
    made = Document(str(tmp_path / "out.docx"))
    assert made.paragraphs[0].text == HEADING.upper()
    assert made.paragraphs[-1].text == "The text of page 3, with bold words"
    assert page_breaks(made) == PAGES
    # By its reference too, and for a PDF.
    assert main(["identifier", "attach", "VI-A1B2-C3D4-E5F6", "report.pdf", "-o", "out.pdf"]) == 0
    assert len(PdfReader(str(tmp_path / "out.pdf")).pages) == PAGES + 1
    assert "https://values.example/identifier/a1b2c3d4e5f6" in folded(
        PdfReader(str(tmp_path / "out.pdf")).pages[0].extract_text()
    )

    # Refused, with one clear line and nothing written.
    (tmp_path / "locked.pdf").write_bytes(encrypted_pdf())
    (tmp_path / "locked.docx").write_bytes(encrypted_docx())
    (tmp_path / "broken.docx").write_bytes(b"PK\x03\x04 broken")
    capsys.readouterr()
    for args, says in (
        ([HOSTILE_ID, "locked.pdf", "-o", "new.pdf"], "locked.pdf is password-protected"),
        ([HOSTILE_ID, "locked.docx", "-o", "new.docx"], "locked.docx is password-protected"),
        ([HOSTILE_ID, "broken.docx", "-o", "new.docx"], "broken.docx is not a Word document"),
        ([HOSTILE_ID, "report.docx", "-o", "new.pdf"], "--output must be a .docx file"),
        ([HOSTILE_ID, "report.docx", "-o", "report.docx"], "--output must be a new file"),
        ([PENDING_ID, "report.docx", "-o", "new.docx"], "no approved values identifier"),
        (["ffffffffffff", "report.pdf", "-o", "new.pdf"], "no approved values identifier"),
        ([HOSTILE_ID, "missing.pdf", "-o", "new.pdf"], "cannot read missing.pdf"),
    ):
        assert main(["identifier", "attach", *args]) == 2, args
        error = capsys.readouterr().err
        assert error.startswith("valuesbot: ")
        assert says in error
        assert "Traceback" not in error
    assert not (tmp_path / "new.pdf").exists()
    assert not (tmp_path / "new.docx").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    assert (tmp_path / "report.docx").read_bytes() == publication
