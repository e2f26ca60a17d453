"""Every page in headless Chromium (the hub's and the barometer's), with seeded data:
axe-core finds no WCAG 2.0, 2.1 or 2.2 A/AA violation (the rules it ran are printed), the
keyboard reaches the skip link, the navigation and the form controls in order with a visible
focus, no console error, and the hostile text in the data never runs. Once with the bot's own
stylesheet, once with the NHS.UK frontend's (npm ``nhsuk-frontend``, installed into
``.cache/``)."""

from __future__ import annotations

import base64
import secrets
import socket
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from bot.app import App, build_app
from bot.clock import ManualClock
from bot.web import build_web_app
from dialogs.records import token_hash
from tests.conftest import make_settings
from tests.e2e.browser import (
    AXE_TAGS,
    NHSUK_VERSION,
    DevTools,
    axe,
    axe_source,
    chromium,
    npm_package,
    open_page,
    tab_through,
)
from tests.hub.seed import ANN, seed_barometer, seed_hub
from tests.mocks.oidc_provider import CLIENT_ID, CLIENT_SECRET, TENANT, MockOpenIdProvider

pytestmark = pytest.mark.slow

PAGES = [
    "/",
    "/case-studies",
    "/case-studies?page=2",
    "/case-studies?q=patients&behaviour=listen",
    "/case-studies/a001",
    "/case-studies/a003",
    "/commitments",
    "/behaviours/1",
    "/digests",
    "/digest/" + "f" * 32,
    "/barometer",
    "/you-said-we-did",
    "/scorecard",  # with figures: tests/e2e/test_scorecard_pages.py, with the feedback form
    "/case-studies/nope",  # the not-found page
]


@pytest.mark.parametrize("style", ["own", "nhsuk"])
async def test_every_page_is_accessible_in_chromium(
    sqlite_url: str, clock: ManualClock, tmp_path: Path, style: str
) -> None:
    extra = {}
    if style == "nhsuk":
        extra["VALUESBOT_NHSUK_FRONTEND"] = str(npm_package("nhsuk-frontend", NHSUK_VERSION))
    app: App = await build_app(
        make_settings(sqlite_url, VALUESBOT_COMMS="console:carol", **extra),
        clock=clock,
        prepare=False,
    )
    try:
        await seed_hub(app)
        await seed_barometer(app)
        # A person's own record (a single-use link of theirs), laid out like every page.
        token = secrets.token_urlsafe(24)
        async with app.database.unit() as stores:
            await stores.records.issue_link(
                token_hash(token), ANN, "html", clock.now(), clock.now() + timedelta(minutes=15)
            )
        paths = [*PAGES, f"/me/{token}"]
        source = axe_source()
        server = TestServer(build_web_app(app), host="127.0.0.1")
        await server.start_server()
        try:
            async with chromium(tmp_path) as page:
                await page.call(
                    "Emulation.setDeviceMetricsOverride",
                    width=390,
                    height=844,
                    deviceScaleFactor=1,
                    mobile=True,
                )
                results = {}
                for path in paths:
                    await open_page(page, str(server.make_url(path)))
                    results[path] = await axe(page, source)
                    alerts = await page.evaluate("document.querySelectorAll('img').length")
                    assert alerts == 0, path  # the hostile <img> never became one
                    if path == "/case-studies":
                        shot = await page.call(
                            "Page.captureScreenshot", format="png", captureBeyondViewport=True
                        )
                        (tmp_path / f"case-studies-{style}.png").write_bytes(
                            base64.b64decode(shot["data"])
                        )
                await page.call("Emulation.clearDeviceMetricsOverride")
                await open_page(page, str(server.make_url("/case-studies")))
                stops = await tab_through(page, 24)
                problems = page.problems()
        finally:
            await server.close()
    finally:
        await app.close()

    rules = sorted({rule for result in results.values() for rule in result["rules"]})
    print(f"axe-core ({style} stylesheet) ran {len(rules)} rules tagged {AXE_TAGS}: {rules}")
    assert "color-contrast" in rules
    assert "target-size" in rules  # a WCAG 2.2 AA rule
    violations = {path: r["violations"] for path, r in results.items() if r["violations"]}
    assert violations == {}
    assert problems == []

    # The keyboard: the skip link first, then the header, the navigation, the search form.
    assert stops[0]["text"] == "Skip to main content"
    assert all(stop["visible"] for stop in stops), stops
    hrefs = [stop["href"] for stop in stops]
    assert hrefs.index("/") < hrefs.index("/case-studies") < hrefs.index("/commitments")
    names = [stop["name"] for stop in stops]
    assert names.index("q") < names.index("behaviour")
    assert stops[names.index("behaviour") + 1]["tag"] == "button"


async def screenshot(page: DevTools) -> bytes:
    shot = await page.call("Page.captureScreenshot", format="png")
    return base64.b64decode(shot["data"])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("style", ["own", "nhsuk"])
async def test_signing_in_and_out_in_chromium_is_accessible(
    sqlite_url: str, clock: ManualClock, tmp_path: Path, style: str
) -> None:
    """Chromium signs in through the mock OpenID provider (the whole redirect journey, its
    cookies kept by the browser itself), sees the hub with its name and the sign-out button,
    signs out; axe-core checks the sign-in page, a hub page signed in, a refused sign-in and
    the signed-out page."""
    extra = {}
    if style == "nhsuk":
        extra["VALUESBOT_NHSUK_FRONTEND"] = str(npm_package("nhsuk-frontend", NHSUK_VERSION))
    provider = MockOpenIdProvider(now=clock.now)
    await provider.start()
    port = free_port()
    app: App = await build_app(
        make_settings(
            sqlite_url,
            VALUESBOT_WEB_ACCESS="signed-in",
            VALUESBOT_OIDC_ISSUER=provider.url,
            VALUESBOT_OIDC_CLIENT_ID=CLIENT_ID,
            VALUESBOT_OIDC_CLIENT_SECRET=CLIENT_SECRET,
            VALUESBOT_OIDC_ALLOWED=TENANT,
            VALUESBOT_WEB_SECRET="test-web-secret-0123456789-abcdefghij",
            VALUESBOT_PUBLIC_URL=f"http://127.0.0.1:{port}",
            **extra,
        ),
        clock=clock,
        prepare=False,
    )
    try:
        await seed_hub(app)
        source = axe_source()
        server = TestServer(build_web_app(app), host="127.0.0.1", port=port)
        await server.start_server()
        results = {}
        try:
            async with chromium(tmp_path) as page:
                where = "location.pathname + location.search"
                await open_page(page, str(server.make_url("/case-studies")))
                assert await page.evaluate(where) == "/signin?next=%2Fcase-studies"
                results["sign-in page"] = await axe(page, source)
                (tmp_path / f"sign-in-{style}.png").write_bytes(await screenshot(page))
                start = await page.evaluate("document.querySelector('main a.nhsuk-button').href")
                await open_page(page, start)
                assert await page.evaluate(where) == "/case-studies"
                header = await page.evaluate("document.querySelector('header').innerText")
                assert "Ann Archer" in header
                assert "Sign out" in header
                results["signed in"] = await axe(page, source)
                (tmp_path / f"signed-in-{style}.png").write_bytes(await screenshot(page))
                # The keyboard reaches the sign-out button in the header, visibly.
                stops = await tab_through(page, 4)
                assert any(
                    s["tag"] == "button" and s["text"] == "Sign out" and s["visible"] for s in stops
                ), stops
                page.events.clear()
                await page.evaluate("document.querySelector('form[action=\"/signout\"]').submit()")
                await page.until("Page.loadEventFired")
                assert await page.evaluate(where) == "/signout"
                assert "You have signed out" in await page.evaluate("document.body.innerText")
                results["signed out"] = await axe(page, source)
                await open_page(page, str(server.make_url("/signin/callback?code=x&state=y")))
                assert "You are not signed in" in await page.evaluate("document.body.innerText")
                results["refused"] = await axe(page, source)
                await open_page(page, str(server.make_url("/case-studies")))
                assert (await page.evaluate(where)).startswith("/signin")  # signed out indeed
                problems = [p for p in page.problems() if "401" not in p]
        finally:
            await server.close()
    finally:
        await app.close()
        await provider.stop()
    violations = {name: r["violations"] for name, r in results.items() if r["violations"]}
    assert violations == {}
    assert problems == []
