"""The published results page in a real browser: headless Chromium (``tests/e2e/browser.py``).

It must render the charts and a screen-reader table of the same numbers, apply its style sheet
under its own Content-Security-Policy, and log no console error.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from bot.app import App
from bot.web import build_web_app
from tests.dialogs.test_barometer import COMMS, PEOPLE, answer, answers, meet
from tests.dialogs.test_barometer import app as app  # the barometer app fixture
from tests.e2e.browser import chromium
from tests.harness import Harness

pytestmark = pytest.mark.slow

COUNT_CHARTS = """(() => {
  const charts = [...document.querySelectorAll('svg.distribution')].map(svg =>
    [...svg.querySelectorAll('rect.bar')].map(r => Number(r.dataset.count)));
  const tables = [...document.querySelectorAll('figure table.numbers')]
    .filter(t => t.querySelector('th').textContent === 'Answer')
    .map(t => [...t.querySelectorAll('tbody tr td:nth-child(2)')]
      .map(td => Number(td.textContent)));
  const trend = [...document.querySelectorAll('svg.trend rect.bar')].length;
  const box = document.querySelector('figure .nhsuk-u-visually-hidden').getBoundingClientRect();
  const hidden = getComputedStyle(document.querySelector('figure .nhsuk-u-visually-hidden'));
  const svgHidden = [...document.querySelectorAll('svg.chart')].every(
    s => s.getAttribute('aria-hidden') === 'true');
  return {charts, tables, trend, position: hidden.position, width: box.width, svgHidden,
          title: document.title, h1: document.querySelector('h1').textContent};
})()"""


async def test_the_results_page_in_chromium(
    harness: Harness,
    app: App,
    tmp_path: Path,
) -> None:
    await meet(harness, [*PEOPLE[:12], COMMS])
    await harness.user_says("/barometer open", user=COMMS)
    for n, person in enumerate(PEOPLE[:12]):
        nhs = ["strongly_agree", "agree", "agree", "neutral"][n % 4]
        await answer(harness, person, answers(nhs, "agree", "area" if n < 7 else ""))
    await harness.user_says("/barometer close", user=COMMS)

    server = TestServer(build_web_app(app), host="127.0.0.1")
    await server.start_server()
    try:
        async with chromium(tmp_path) as page:
            await page.call("Page.navigate", url=str(server.make_url("/barometer")))
            await page.until("Page.loadEventFired")
            seen = await page.evaluate(COUNT_CHARTS)
            shot = await page.call(
                "Page.captureScreenshot", format="png", captureBeyondViewport=True
            )
            (tmp_path / "barometer.png").write_bytes(base64.b64decode(shot["data"]))
            problems = page.problems()
    finally:
        await server.close()

    assert seen["h1"] == "Staff barometer results"
    assert seen["charts"] == [[0, 0, 3, 6, 3], [0, 0, 0, 12, 0]]
    assert seen["tables"] == seen["charts"]  # the screen-reader tables hold the same numbers
    assert seen["trend"] == 2  # one bar per question for the one round
    assert seen["svgHidden"] is True  # screen readers read the tables instead
    assert seen["position"] == "absolute"  # the style sheet applied under the page's CSP
    assert seen["width"] == 1  # the tables are there for screen readers, not on screen
    assert problems == []
