"""The values identifier's page in headless Chromium: screenshotted, printed to PDF (A4) on one
page holding every statement (read back with pypdf), accessible by axe-core's WCAG 2.0-2.2
A/AA rules like every page, no console error, and the hostile text never runs or becomes an
element. The register too."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from pypdf import PdfReader

from bot.app import App, build_app
from bot.clock import ManualClock
from bot.web import build_web_app
from tests.conftest import make_settings
from tests.e2e.browser import axe, axe_source, chromium, open_page
from tests.identifier_seed import HOSTILE_ID, LONGEST_ID, hostile, longest, seed_identifiers

pytestmark = pytest.mark.slow


def folded(text: str) -> str:
    return " ".join(text.split())


async def test_the_print_page_prints_on_one_page_and_is_accessible(
    sqlite_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    app: App = await build_app(make_settings(sqlite_url), clock=clock, prepare=False)
    try:
        await seed_identifiers(app)
        source = axe_source()
        server = TestServer(build_web_app(app), host="127.0.0.1")
        await server.start_server()
        try:
            async with chromium(tmp_path) as page:
                results = {}
                printed = {}
                for identifier in (hostile(app.content), longest(app.content)):
                    path = f"/identifier/{identifier.id}"
                    await open_page(page, str(server.make_url(path)))
                    results[path] = await axe(page, source)
                    # The page's only image is its own badge: the hostile <img> is text.
                    sources = await page.evaluate(
                        "[...document.images].map(i => i.getAttribute('src'))"
                    )
                    assert sources == [f"/identifier/{identifier.id}.svg"]
                    assert await page.evaluate("document.scripts.length") == 0
                    assert await page.evaluate("window.alerted === undefined")
                    shot = await page.call(
                        "Page.captureScreenshot", format="png", captureBeyondViewport=True
                    )
                    (tmp_path / f"identifier-{identifier.id}.png").write_bytes(
                        base64.b64decode(shot["data"])
                    )
                    pdf = await page.call(
                        "Page.printToPDF",
                        preferCSSPageSize=True,
                        printBackground=False,
                        paperWidth=8.27,
                        paperHeight=11.69,
                    )
                    printed[identifier.id] = base64.b64decode(pdf["data"])
                await open_page(page, str(server.make_url("/identifiers")))
                results["/identifiers"] = await axe(page, source)
                problems = page.problems()
        finally:
            await server.close()
    finally:
        await app.close()

    assert {path: r["violations"] for path, r in results.items() if r["violations"]} == {}
    assert problems == []
    for identifier in (hostile(app.content), longest(app.content)):
        reader = PdfReader(io.BytesIO(printed[identifier.id]))
        assert len(reader.pages) == 1, identifier.id
        width, height = (round(float(v)) for v in reader.pages[0].mediabox.upper_right)
        assert (width, height) == (595, 842)  # A4 in points
        text = folded(reader.pages[0].extract_text())
        assert folded(identifier.title) in text
        for statement in identifier.statements:
            if statement.text:
                # Each statement starts with its behaviour's id; its words are all there.
                assert folded(statement.text)[:60] in text, (identifier.id, statement.behaviour)
        # Only the identifier is printed: not the site's header, navigation or footer.
        assert "Skip to main content" not in text
        assert "Put it at the front" not in text
    assert HOSTILE_ID in printed
    assert LONGEST_ID in printed
