"""The scorecard and the stakeholder form in headless Chromium (``tests/e2e/browser.py``), with
the bot's own stylesheet and with the NHS.UK frontend's: axe-core finds no WCAG 2.0, 2.1 or 2.2
A/AA violation on the scorecard, the form, the form sent back with its error summary, the thank
you and the refusals; the charts are drawn, hidden from screen readers and followed by tables of
the same numbers; the screenshot shows the bars in the charts' colour; the form is filled in and
sent from the keyboard; a partner's hostile comment, approved, is shown as text and never
runs."""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from bot.app import App, build_app
from bot.clock import ManualClock
from bot.web import build_web_app
from tests.conftest import make_settings
from tests.dialogs.test_scorecard import answer_round
from tests.dialogs.test_values_lens import rows
from tests.e2e.browser import (
    NHSUK_VERSION,
    axe,
    axe_source,
    chromium,
    npm_package,
    open_page,
    tab_through,
)
from tests.scorecard_seed import seed_scorecard

pytestmark = pytest.mark.slow

CHARTS = """(() => {
  const figures = [...document.querySelectorAll('figure.vb-chart')].map(f => ({
    measure: f.previousElementSibling && f.previousElementSibling.previousElementSibling
      ? f.previousElementSibling.previousElementSibling.id : null,
    bars: [...f.querySelectorAll('svg rect.bar')].length,
    labels: [...f.querySelectorAll('svg text')].map(t => t.textContent),
    hidden: f.querySelector('svg').getAttribute('aria-hidden'),
    values: [...f.querySelectorAll('table tbody td:nth-child(2)')].map(td => td.textContent),
  }));
  const box = document.querySelector('figure .nhsuk-u-visually-hidden').getBoundingClientRect();
  return {figures, tableWidth: box.width, h1: document.querySelector('h1').textContent,
          width: document.documentElement.scrollWidth,
          height: document.documentElement.scrollHeight};
})()"""

BLUE = (0, 94, 184)  # the bars: .vb-chart svg .agree
HOSTILE = '<script>alert(1)</script><img src=x onerror="alert(1)">'


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """A PNG's width, height and rows of RGB(A) bytes (8-bit truecolour, any filter)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    depth, colour = data[24], data[25]
    assert depth == 8
    assert colour in (2, 6)
    channels = 3 if colour == 2 else 4
    position, idat = 8, b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        if data[position + 4 : position + 8] == b"IDAT":
            idat += data[position + 8 : position + 8 + length]
        position += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows_: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up = previous[x]
            corner = previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                guess = left + up - corner
                near = min(
                    (abs(guess - left), 0, left),
                    (abs(guess - up), 1, up),
                    (abs(guess - corner), 2, corner),
                )
                line[x] = (line[x] + near[2]) & 0xFF
        rows_.append(bytes(line))
        previous = line
    return width, height, rows_


def count_colour(data: bytes, colour: tuple[int, int, int]) -> int:
    width, _, lines = png_pixels(data)
    channels = len(lines[0]) // width
    wanted = bytes(colour)
    return sum(
        1 for line in lines for x in range(width) if line[x * channels : x * channels + 3] == wanted
    )


async def _submit(page: Any) -> None:
    """Press the form's button with the keyboard, as a person would, and wait for the page."""
    page.events.clear()
    await page.evaluate("document.querySelector('form button').focus()")
    for kind in ("keyDown", "keyUp"):
        await page.call(
            "Input.dispatchKeyEvent",
            type=kind,
            key="Enter",
            code="Enter",
            windowsVirtualKeyCode=13,
            nativeVirtualKeyCode=13,
            **({"text": "\r", "unmodifiedText": "\r"} if kind == "keyDown" else {}),
        )
    await page.until("Page.loadEventFired")


@pytest.fixture(params=["own", "nhsuk"])
async def app(
    request: pytest.FixtureRequest, sqlite_url: str, clock: ManualClock
) -> AsyncIterator[App]:
    """The scorecard's valuesbot, with the bot's own stylesheet or the NHS.UK frontend's."""
    extra = {}
    if request.param == "nhsuk":
        extra["VALUESBOT_NHSUK_FRONTEND"] = str(npm_package("nhsuk-frontend", NHSUK_VERSION))
    built = await build_app(
        make_settings(
            sqlite_url,
            VALUESBOT_COMMS="console:carol",
            VALUESBOT_PUBLIC_URL="https://values.example.org",
            **extra,
        ),
        clock=clock,
        prepare=False,
    )
    yield built
    await built.close()


async def test_the_scorecard_and_the_form_in_chromium(
    app: App, clock: ManualClock, tmp_path: Path
) -> None:
    await seed_scorecard(app, clock)
    # A later round of ten, whose comments may be published: comms approve a hostile one.
    clock.advance(timedelta(hours=1))
    await answer_round(app, clock, 10, HOSTILE)
    assert app.scorecard is not None
    async with app.database.unit() as stores:
        _, waiting, _ = await app.scorecard.stakeholders.waiting_comments(stores)
        for comment in waiting:
            await app.scorecard.stakeholders.moderate(
                stores, comment.id, "approved", "cli:test", clock.now()
            )
    # A third round, open, for the form.
    clock.advance(timedelta(days=1))
    async with app.database.unit() as stores:
        assert app.scorecard is not None
        opened = await app.scorecard.stakeholders.open(
            stores, clock.now(), period="2027-Q1", invites=3
        )
    links = [link.removeprefix("https://values.example.org") for link in opened.links]
    source = axe_source()
    server = TestServer(build_web_app(app), host="127.0.0.1")
    await server.start_server()
    results: dict[str, Any] = {}
    try:
        async with chromium(tmp_path) as page:
            await open_page(page, str(server.make_url("/scorecard")))
            results["/scorecard"] = await axe(page, source)
            charts = await page.evaluate(CHARTS)
            quotes = await page.evaluate(
                "[...document.querySelectorAll('blockquote')].map(q => q.textContent.trim())"
            )
            images = await page.evaluate("document.querySelectorAll('img').length")
            await page.call(
                "Emulation.setDeviceMetricsOverride",
                width=1000,
                height=800,
                deviceScaleFactor=1,
                mobile=False,
            )
            shot = base64.b64decode(
                (
                    await page.call(
                        "Page.captureScreenshot", format="png", captureBeyondViewport=True
                    )
                )["data"]
            )
            (tmp_path / "scorecard.png").write_bytes(shot)
            await page.call("Emulation.clearDeviceMetricsOverride")

            # The form, from the keyboard: the first radio of each question is reached by Tab.
            await open_page(page, str(server.make_url(links[0])))
            results["form"] = await axe(page, source)
            stops = await tab_through(page, 40)
            # Sent with nothing chosen: the error summary.
            await _submit(page)
            results["errors"] = await axe(page, source)
            summary = await page.evaluate(
                "[...document.querySelectorAll('.nhsuk-error-summary a')]"
                ".map(a => a.textContent.trim())"
            )
            # Filled in (a space picks a radio), with a hostile comment.
            for name in ("q_patients", "q_listen", "q_open", "q_partnership"):
                await page.evaluate(
                    f"document.querySelector('input[name={name}][value=agree]').click()"
                )
            await page.evaluate(
                "document.querySelector('#comment').value = "
                "'<script>alert(1)</script><img src=x onerror=alert(1)>'"
            )
            await _submit(page)
            thanks = await page.evaluate("document.querySelector('h1').textContent")
            results["thanks"] = await axe(page, source)
            problems = page.problems()
            await open_page(page, str(server.make_url(links[0])))
            used = await page.evaluate("document.querySelector('h1').textContent")
            results["used"] = await axe(page, source)
            await open_page(page, str(server.make_url("/feedback/" + "x" * 32)))
            unknown = await page.evaluate("document.querySelector('h1').textContent")
            results["unknown"] = await axe(page, source)
            # The refusals are 404 and 410 pages: the browser logs their status, nothing else.
            refused = page.problems()
    finally:
        await server.close()

    violations = {where: r["violations"] for where, r in results.items() if r["violations"]}
    assert violations == {}
    assert problems == []
    assert {p.split(" (")[0] for p in refused} <= {
        "Failed to load resource: the server responded with a status of 404"
    }

    assert charts["h1"] == "Vision and purpose scorecard"
    assert sorted(quotes) == [f"{HOSTILE} 0", f"{HOSTILE} 1"]  # shown as text, never run
    assert images == 0
    by_measure = {f["measure"]: f for f in charts["figures"]}
    nhs = by_measure["barometer_nhs"]
    assert nhs["bars"] == 2
    assert nhs["hidden"] == "true"
    assert nhs["values"] == ["75%", "83%"]  # the table under the chart: the same numbers
    assert "75%" in nhs["labels"]
    assert "83%" in nhs["labels"]
    fair = by_measure["fair_career_progression"]
    assert (fair["bars"], fair["values"]) == (0, ["not enough answers"])
    assert charts["tableWidth"] == 1  # for screen readers, not on screen

    # The screenshot: the whole page, with the charts' bars drawn in their colour.
    width, height, _ = png_pixels(shot)
    assert 970 <= width <= 1000  # the window, less any scroll bar
    assert height > 3000  # the whole page, not the window
    assert count_colour(shot, BLUE) > 2000

    radios = [s for s in stops if s["tag"] == "input"]
    assert [s["name"] for s in radios][:4] == ["q_patients", "q_listen", "q_open", "q_partnership"]
    assert all(s["visible"] for s in stops), stops
    assert summary == [
        "Answer: NHS England puts patients first in the decisions it takes",
        "Answer: NHS England listens to us and acts on what we say",
        "Answer: NHS England is open and transparent about its decisions",
        "Answer: NHS England works in partnership with us",
    ]
    assert thanks == "Thank you"
    assert used == "This link has been used"
    assert unknown == "This link is not one of ours"
    assert await rows(app, "SELECT count(*) FROM stakeholder_pending") == [(1,)]
