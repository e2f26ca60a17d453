"""What an approved values identifier becomes: the Word page, the PDF page, the badge (SVG and
PNG), its page and the register over HTTP. Hostile text stays plain text in every one; the
longest identifier still fits one page."""

from __future__ import annotations

import io
import json
import re
from xml.etree import ElementTree

from aiohttp.test_utils import TestClient, TestServer
from docx import Document
from PIL import Image
from pypdf import PdfReader

from bot.app import App
from bot.content import Content, load_content
from dialogs.identifier.documents import (
    NOT_RELEVANT,
    TEXT_HEIGHT,
    badge_png,
    badge_svg,
    fit,
    height,
    identifier_docx,
    identifier_pdf,
    identifier_view,
)
from tests.identifier_seed import (
    HOSTILE,
    HOSTILE_ID,
    LONGEST_ID,
    PENDING_ID,
    hostile,
    longest,
    seed_identifiers,
)

CONTENT: Content = load_content()
SVG = "{http://www.w3.org/2000/svg}"


def folded(text: str) -> str:
    return " ".join(text.split())


def docx_paragraphs(data: bytes) -> list[str]:
    return [p.text for p in Document(io.BytesIO(data)).paragraphs]


def test_the_word_page_holds_every_statement_as_plain_text() -> None:
    identifier = hostile(CONTENT)
    view = identifier_view(CONTENT, identifier, "https://values.example")
    data = identifier_docx(view)
    document = Document(io.BytesIO(data))
    texts = [p.text for p in document.paragraphs]
    assert texts[0] == "VALUES IDENTIFIER"
    assert texts[1] == identifier.title  # the hostile text, as typed: never markup
    for statement in identifier.statements:
        if statement.text:
            assert statement.text in texts
    assert texts.count(NOT_RELEVANT) == 1
    assert f"Our vision: {CONTENT.vision}" in texts
    assert f"How this publication helps us achieve it: {identifier.vision}" in texts
    assert (
        f"Owner: {identifier.owner} · Intended publication: 31 March 2027 · "
        "Reference: VI-A1B2-C3D4-E5F6" in texts
    )
    assert texts[-1].endswith("https://values.example/identifier/a1b2c3d4e5f6")
    # One A4 page: one section, no page breaks, and its text fits the page.
    (section,) = document.sections
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)
    assert 'w:type="page"' not in document.element.xml
    assert height(view, fit(view)) <= TEXT_HEIGHT
    # The hostile markup is only ever text in the document's XML.
    assert "<script>" not in document.element.xml
    assert "&lt;script&gt;" in document.element.xml


def test_the_longest_identifier_fits_one_page_in_word_and_pdf() -> None:
    view = identifier_view(CONTENT, longest(CONTENT))
    scale = fit(view)
    assert scale < 1  # wide capitals at every limit need smaller type
    assert height(view, scale) <= TEXT_HEIGHT
    document = Document(io.BytesIO(identifier_docx(view)))
    sizes = {run.font.size.pt for p in document.paragraphs for run in p.runs if run.font.size}
    assert max(sizes) <= 18 * scale + 0.5
    reader = PdfReader(io.BytesIO(identifier_pdf(view)))
    assert len(reader.pages) == 1
    text = folded(reader.pages[0].extract_text())
    for statement in view.statements:
        assert statement.text.split()[0] in text


def test_the_pdf_page_is_one_page_with_every_statement() -> None:
    identifier = hostile(CONTENT)
    reader = PdfReader(io.BytesIO(identifier_pdf(identifier_view(CONTENT, identifier))))
    assert len(reader.pages) == 1
    page = reader.pages[0]
    assert [round(float(v)) for v in page.mediabox.upper_right] == [595, 842]  # A4
    text = folded(page.extract_text())
    for statement in identifier.statements:
        assert folded(statement.text or NOT_RELEVANT) in text
    assert folded(identifier.title) in text
    assert reader.metadata is not None
    assert reader.metadata.title == f"Values identifier: {identifier.title}"


def test_the_badge_is_an_svg_without_scripts_that_links_to_the_page() -> None:
    identifier = hostile(CONTENT)
    view = identifier_view(CONTENT, identifier, "https://values.example")
    svg = badge_svg(view)
    root = ElementTree.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    tags = {element.tag.removeprefix(SVG) for element in root.iter()}
    assert tags == {"svg", "title", "a", "rect", "circle", "text"}
    attributes = [name for element in root.iter() for name in element.attrib]
    assert not [a for a in attributes if a.lower().startswith("on") or a == "style"]
    (link,) = root.iter(f"{SVG}a")
    assert link.get("href") == "https://values.example/identifier/a1b2c3d4e5f6"
    (title,) = root.iter(f"{SVG}title")
    assert HOSTILE in (title.text or "")
    assert "<script" not in svg
    assert "<img" not in svg
    circles = [c.get("fill") for c in root.iter(f"{SVG}circle")]
    assert circles == ["#005eb8", "#005eb8", "#005eb8", "#ffffff", "#005eb8", "#005eb8"]
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts == ["Values identifier", "5 of 6 behaviours shown", "VI-A1B2-C3D4-E5F6"]


def test_the_badge_as_a_png() -> None:
    image = Image.open(io.BytesIO(badge_png(identifier_view(CONTENT, hostile(CONTENT)))))
    assert (image.format, image.size) == ("PNG", (480, 128))
    assert image.getpixel((64, 24)) == (0, 94, 184)  # the first behaviour's dot: shown


async def test_the_pages_over_http(app: App) -> None:
    await seed_identifiers(app)
    from bot.web import build_web_app

    async with TestClient(TestServer(build_web_app(app))) as client:
        page = await client.get(f"/identifier/{HOSTILE_ID}")
        assert page.status == 200
        assert "script-src" not in page.headers["Content-Security-Policy"]
        assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
        html = await page.text()
        assert "<script" not in html
        assert "<img src=x" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "&lt;!channel&gt;" in html
        assert 'class="vb-identifier vb-scale-85"' in html
        long_page = await (await client.get(f"/identifier/{LONGEST_ID}")).text()
        assert re.search(r'class="vb-identifier vb-scale-(72|60)"', long_page)

        word = await client.get(f"/identifier/{HOSTILE_ID}.docx")
        assert word.status == 200
        assert word.headers["Content-Type"].startswith("application/vnd.openxmlformats")
        assert word.headers["Content-Disposition"] == (
            'attachment; filename="values-identifier-vi-a1b2-c3d4-e5f6.docx"'
        )
        assert hostile(CONTENT).title in docx_paragraphs(await word.read())

        pdf = await client.get(f"/identifier/{HOSTILE_ID}.pdf")
        assert pdf.headers["Content-Type"] == "application/pdf"
        assert len(PdfReader(io.BytesIO(await pdf.read())).pages) == 1

        svg = await client.get(f"/identifier/{HOSTILE_ID}.svg")
        assert svg.headers["Content-Type"].startswith("image/svg+xml")
        assert svg.headers["Content-Security-Policy"].startswith("default-src 'none'")
        ElementTree.fromstring(await svg.text())
        png = await client.get(f"/identifier/{HOSTILE_ID}.png")
        assert png.headers["Content-Type"] == "image/png"
        assert (await png.read()).startswith(b"\x89PNG")

        # Only approved identifiers are published; anything else is not found.
        for path in (
            f"/identifier/{PENDING_ID}",
            f"/identifier/{PENDING_ID}.docx",
            "/identifier/ffffffffffff.svg",
            "/identifier/nope",
            f"/identifier/{HOSTILE_ID}.exe",
        ):
            missing = await client.get(path)
            assert missing.status == 404, path
            assert "There is no published values identifier" in await missing.text()

        register = await client.get("/identifiers")
        assert register.status == 200
        listed = await register.text()
        assert listed.index(f"/identifier/{LONGEST_ID}") < listed.index(f"/identifier/{HOSTILE_ID}")
        assert "Not yet approved" not in listed
        assert "&lt;script&gt;" in listed
        assert "<script" not in listed
        assert 'href="/identifiers"' in listed  # in the navigation

        data = await client.get("/identifiers.json")
        assert data.headers["Access-Control-Allow-Origin"] == "*"
        found = json.loads(await data.text())["identifiers"]
        assert [i["id"] for i in found] == [LONGEST_ID, HOSTILE_ID]
        assert found[1]["publication"] == hostile(CONTENT).title
        assert found[1]["owner"] == hostile(CONTENT).owner
        assert found[1]["intended"] == "2027-03-31"
        assert found[1]["reference"] == "VI-A1B2-C3D4-E5F6"
        assert len(found[1]["behaviours_shown"]) == 5
        assert (await client.get("/identifiers?page=9")).status == 404
