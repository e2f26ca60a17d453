"""Sign-in with OpenID Connect, against a mock provider on 127.0.0.1 (tests/mocks/oidc_provider),
over real HTTP with a browser's cookie jar: a valid sign-in reaches the hub and shows the name;
a wrong state or nonce, a token for another audience or tenant, an expired one, one signed by a
key the provider never published, a tampered session or sign-in cookie and a ``next`` leading
elsewhere are all refused, with no session and nothing of the hub shown. The barometer stays
public under ``signed-in`` and is behind sign-in under ``signed-in-all``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import aiohttp
import pytest
from aiohttp import CookieJar
from aiohttp.test_utils import TestClient, TestServer
from joserfc.jwk import RSAKey
from yarl import URL

from bot.app import App, build_app
from bot.clock import ManualClock
from bot.pages.session import SESSION_COOKIE, SIGN_IN_COOKIE
from bot.web import build_web_app
from tests.conftest import make_settings
from tests.hub.seed import seed_hub
from tests.mocks.oidc_provider import CLIENT_ID, CLIENT_SECRET, TENANT, MockOpenIdProvider

PUBLIC_URL = "https://values.example.org"
WEB_SECRET = "test-web-secret-0123456789-abcdefghij"
HUB_TEXT = "Story 12"  # the newest case study: on /case-studies and the start page


@pytest.fixture
async def provider(clock: ManualClock) -> AsyncIterator[MockOpenIdProvider]:
    mock = MockOpenIdProvider(now=clock.now)
    await mock.start()
    yield mock
    await mock.stop()


async def make_app(sqlite_url: str, clock: ManualClock, issuer: str, access: str) -> App:
    settings = make_settings(
        sqlite_url,
        VALUESBOT_WEB_ACCESS=access,
        VALUESBOT_OIDC_ISSUER=issuer,
        VALUESBOT_OIDC_CLIENT_ID=CLIENT_ID,
        VALUESBOT_OIDC_CLIENT_SECRET=CLIENT_SECRET,
        VALUESBOT_OIDC_ALLOWED=f"{TENANT},T0SLACKWORKSPACE",
        VALUESBOT_WEB_SECRET=WEB_SECRET,
        VALUESBOT_PUBLIC_URL=PUBLIC_URL,
    )
    app = await build_app(settings, clock=clock, prepare=False)
    await seed_hub(app)
    return app


@dataclass
class Browser:
    """The test client with a browser's cookie jar (which keeps Secure cookies for the test
    server), and the provider's side of the journey."""

    client: TestClient  # type: ignore[type-arg]
    provider: MockOpenIdProvider

    @property
    def jar(self) -> CookieJar:
        jar = self.client.session.cookie_jar
        assert isinstance(jar, CookieJar)
        return jar

    def cookie(self, name: str) -> str | None:
        """The cookie the browser would send now."""
        sent = self.jar.filter_cookies(self.client.make_url("/"))
        return sent[name].value if name in sent else None

    def set_cookie(self, name: str, value: str) -> None:
        self.jar.update_cookies({name: value}, response_url=self.client.make_url("/"))

    async def get(self, path: str) -> aiohttp.ClientResponse:
        return await self.client.get(path, allow_redirects=False)

    async def start(self, next_path: str = "/case-studies") -> str:
        """Start signing in; the provider's address it sends the browser to."""
        started = await self.get(f"/signin/start?next={quote(next_path)}")
        assert started.status == 303, await started.text()
        return started.headers["Location"]

    async def at_provider(self, location: str) -> URL:
        """The provider signs the person in: where it sends the browser back."""
        async with (
            aiohttp.ClientSession() as elsewhere,
            elsewhere.get(location, allow_redirects=False) as answered,
        ):
            assert answered.status == 302, await answered.text()
            back = URL(answered.headers["Location"])
        assert str(back).startswith(f"{PUBLIC_URL}/signin/callback?")
        return back

    async def come_back(self, back: URL) -> aiohttp.ClientResponse:
        """The browser arrives at the callback (the test server stands for PUBLIC_URL)."""
        return await self.get(back.path_qs)

    async def sign_in(self, next_path: str = "/case-studies") -> aiohttp.ClientResponse:
        return await self.come_back(await self.at_provider(await self.start(next_path)))


@pytest.fixture
async def browser(
    sqlite_url: str, clock: ManualClock, provider: MockOpenIdProvider
) -> AsyncIterator[Browser]:
    app = await make_app(sqlite_url, clock, provider.url, "signed-in")
    async with browser_for(app, provider) as made:
        yield made
    await app.close()


@contextlib.asynccontextmanager
async def browser_for(app: App, provider: MockOpenIdProvider) -> AsyncIterator[Browser]:
    """A browser for ``app``'s server, whose cookie jar treats the test server as the secure
    site it stands for."""
    server = TestServer(build_web_app(app), host="127.0.0.1")
    await server.start_server()
    jar = CookieJar(unsafe=True, treat_as_secure_origin=str(server.make_url("/")))
    async with TestClient(server, cookie_jar=jar) as client:
        yield Browser(client, provider)


def set_cookies(response: aiohttp.ClientResponse) -> dict[str, Any]:
    """The response's Set-Cookie headers, by cookie name."""
    found: dict[str, Any] = {}
    for header in response.headers.getall("Set-Cookie", []):
        parsed: SimpleCookie = SimpleCookie()
        parsed.load(header)
        for name, morsel in parsed.items():
            found[name] = morsel
    return found


async def assert_not_signed_in(browser: Browser) -> None:
    """No session: the hub sends the browser to sign in, and shows nothing of itself."""
    assert browser.cookie(SESSION_COOKIE) is None
    hub = await browser.get("/case-studies")
    assert hub.status == 303
    assert hub.headers["Location"] == "/signin?next=%2Fcase-studies"
    assert HUB_TEXT not in await hub.text()


async def test_a_valid_sign_in_reaches_the_hub_and_shows_the_name(
    browser: Browser, provider: MockOpenIdProvider
) -> None:
    # Asked for a hub page without a session: the sign-in page, returning there.
    asked = await browser.get("/case-studies?behaviour=improve")
    assert asked.status == 303
    assert asked.headers["Location"] == "/signin?next=%2Fcase-studies%3Fbehaviour%3Dimprove"
    assert asked.headers["Cache-Control"] == "no-store"
    assert HUB_TEXT not in await asked.text()
    page = await browser.get(asked.headers["Location"])
    assert page.status == 200
    body = await page.text()
    assert "Sign in with your organisation" in body
    assert 'href="/signin/start?next=%2Fcase-studies%3Fbehaviour%3Dimprove"' in body
    assert HUB_TEXT not in body

    # Off to the provider: state, nonce and a PKCE challenge, kept in the sign-in cookie.
    started = await browser.get("/signin/start?next=%2Fcase-studies%3Fbehaviour%3Dimprove")
    assert started.status == 303
    cookie = set_cookies(started)[SIGN_IN_COOKIE]
    assert (cookie["httponly"], cookie["secure"], cookie["samesite"], cookie["path"]) == (
        True,
        True,
        "Lax",
        "/",
    )
    assert cookie["max-age"] == "600"
    sent = urlsplit(started.headers["Location"])
    asked_for = {k: v[0] for k, v in parse_qs(sent.query).items()}
    assert f"{sent.scheme}://{sent.netloc}{sent.path}" == provider.url.split("/tenant")[0] + (
        "/authorize"
    )
    assert asked_for["response_type"] == "code"
    assert asked_for["client_id"] == CLIENT_ID
    assert asked_for["redirect_uri"] == f"{PUBLIC_URL}/signin/callback"
    assert asked_for["scope"] == "openid profile"
    assert asked_for["code_challenge_method"] == "S256"
    assert len(asked_for["state"]) >= 32
    assert len(asked_for["nonce"]) >= 32

    # Back with a code: the session is set, and the browser goes where it was going.
    back = await browser.come_back(await browser.at_provider(started.headers["Location"]))
    assert back.status == 303, await back.text()
    assert back.headers["Location"] == "/case-studies?behaviour=improve"
    cookies = set_cookies(back)
    session = cookies[SESSION_COOKIE]
    assert (session["httponly"], session["secure"], session["samesite"], session["path"]) == (
        True,
        True,
        "Lax",
        "/",
    )
    assert session["max-age"] == str(8 * 3600)
    assert cookies[SIGN_IN_COOKIE].value == ""  # the sign-in is over
    assert browser.cookie(SIGN_IN_COOKIE) is None
    # The token request: the code, the PKCE verifier, the client's secret, the same redirect.
    [token] = provider.requests("/token")
    assert token.form["grant_type"] == "authorization_code"
    assert token.form["redirect_uri"] == f"{PUBLIC_URL}/signin/callback"
    assert token.form["client_secret"] == CLIENT_SECRET
    assert len(token.form["code_verifier"]) >= 43

    hub = await browser.get("/case-studies")
    assert hub.status == 200
    assert hub.headers["Cache-Control"] == "no-store"
    body = " ".join((await hub.text()).split())
    assert HUB_TEXT in body
    assert "Ann Archer" in body.split("</header>")[0]  # the name, in the header
    assert 'action="/signout" method="post"' in body
    # Behind sign-in, shared commitments name their owners (colleagues see colleagues).
    commitments = await browser.get("/commitments.json")
    assert [c["owner"] for c in (await commitments.json())["items"]] == [
        'Eve "><img src=x onerror=alert(1)>',
        "Ann Archer",
    ]
    assert "Access-Control-Allow-Origin" not in commitments.headers
    # Signed in already: the sign-in page sends them on.
    again = await browser.get("/signin?next=/commitments")
    assert (again.status, again.headers["Location"]) == (303, "/commitments")


async def test_the_feeds_and_json_follow_their_pages(browser: Browser) -> None:
    for path in ("/case-studies.atom", "/case-studies.json", "/commitments.json", "/digests"):
        refused = await browser.get(path)
        assert refused.status == 303, path
        assert refused.headers["Location"] == "/signin?next=" + quote(path, safe="")
    # Published for all to see: the barometer stays public under signed-in.
    for path in ("/barometer", "/barometer.json"):
        shown = await browser.get(path)
        assert shown.status == 200, path
        assert shown.headers["Vary"] == "Cookie"
    assert "Sign in" in await (await browser.get("/barometer")).text()  # the header's link
    # A person's single-use record links stay as they are.
    assert (await browser.get("/me/" + "x" * 32)).status in (404, 410)
    assert (await browser.get("/assets/favicon.svg")).status == 200


@dataclass(frozen=True)
class Forgery:
    """A sign-in gone wrong, and the status it gets."""

    name: str
    status: int
    claims: dict[str, Any] | None = None


CLAIM_FORGERIES = [
    Forgery("wrong nonce", 401, {"nonce": "a-nonce-of-another-sign-in"}),
    Forgery("no nonce", 401, {"nonce": None}),
    Forgery("another audience", 401, {"aud": "another-app"}),
    Forgery("another issuer", 401, {"iss": "https://login.example.net/other/v2.0"}),
    Forgery("another tenant", 403, {"tid": "tenant-of-another-organisation"}),
    Forgery("no tenant", 403, {"tid": None}),
    Forgery("expired", 401, {"exp": "past"}),
    Forgery("issued in the future", 401, {"iat": "future"}),
]


@pytest.mark.parametrize("forgery", CLAIM_FORGERIES, ids=lambda f: f.name)
async def test_an_id_token_that_does_not_hold_is_refused(
    browser: Browser, provider: MockOpenIdProvider, clock: ManualClock, forgery: Forgery
) -> None:
    claims = dict(forgery.claims or {})
    if claims.get("exp") == "past":
        claims["exp"] = int((clock.now() - timedelta(minutes=5)).timestamp())
    if claims.get("iat") == "future":
        claims["iat"] = int((clock.now() + timedelta(minutes=10)).timestamp())
    provider.claims.update(claims)
    back = await browser.sign_in()
    assert back.status == forgery.status, await back.text()
    assert SESSION_COOKIE not in set_cookies(back)
    body = await back.text()
    assert HUB_TEXT not in body
    assert 'href="/signin"' in body  # a way to try again
    await assert_not_signed_in(browser)


async def test_a_token_signed_by_a_key_the_provider_never_published_is_refused(
    browser: Browser, provider: MockOpenIdProvider
) -> None:
    provider.sign_with = RSAKey.generate_key(
        2048, parameters={"kid": "test-key-1", "use": "sig", "alg": "RS256"}
    )
    back = await browser.sign_in()
    assert back.status == 401
    assert SESSION_COOKIE not in set_cookies(back)
    await assert_not_signed_in(browser)
    # A key id not cached makes the keys be fetched again (a rotation), at most so often.
    provider.sign_with = RSAKey.generate_key(
        2048, parameters={"kid": "rotated-key", "use": "sig", "alg": "RS256"}
    )
    assert (await browser.sign_in()).status == 401
    await assert_not_signed_in(browser)


async def test_a_wrong_state_is_refused(browser: Browser) -> None:
    back = await browser.at_provider(await browser.start())
    forged = back.update_query(state="a-state-this-browser-never-sent")
    answered = await browser.come_back(forged)
    assert answered.status == 401
    assert SESSION_COOKIE not in set_cookies(answered)
    assert HUB_TEXT not in await answered.text()
    # The sign-in cookie is spent: the right state, sent after, finds nothing under way.
    assert (await browser.come_back(back)).status == 401
    await assert_not_signed_in(browser)


async def test_a_tampered_sign_in_cookie_is_refused(browser: Browser) -> None:
    back = await browser.at_provider(await browser.start())
    sealed = browser.cookie(SIGN_IN_COOKIE)
    assert sealed is not None
    body, mac = sealed.split(".")
    # Another "next" (a site elsewhere) in the same cookie, with the old signature.
    payload = aiohttp.helpers.base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    forged = payload.replace(b'"next":"/case-studies"', b'"next":"//evil.example"')
    assert forged != payload
    encoded = aiohttp.helpers.base64.urlsafe_b64encode(forged).rstrip(b"=").decode()
    browser.set_cookie(SIGN_IN_COOKIE, f"{encoded}.{mac}")
    answered = await browser.come_back(back)
    assert answered.status == 401
    assert "Location" not in answered.headers
    assert SESSION_COOKIE not in set_cookies(answered)
    await assert_not_signed_in(browser)


async def test_a_callback_without_a_sign_in_under_way_or_malformed_is_refused(
    browser: Browser,
) -> None:
    back = await browser.at_provider(await browser.start())
    browser.jar.clear()
    answered = await browser.come_back(back)  # e.g. a link to the callback sent to someone
    assert answered.status == 401
    assert SESSION_COOKIE not in set_cookies(answered)
    for query in ("", "?code=x", "?state=y", "?code=" + "x" * 5000 + "&state=y"):
        malformed = await browser.get("/signin/callback" + query)
        assert malformed.status == 400, query
    refused = await browser.get("/signin/callback?error=access_denied&state=x")
    assert refused.status == 401
    await assert_not_signed_in(browser)


@pytest.mark.parametrize(
    "elsewhere",
    [
        "https://evil.example/",
        "//evil.example/path",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "/signin/callback?code=x",
        "/case-studies\r\nSet-Cookie: x=y",
        "",
    ],
)
async def test_a_next_leading_elsewhere_is_refused(browser: Browser, elsewhere: str) -> None:
    for path in ("/signin", "/signin/start"):
        refused = await browser.get(f"{path}?next={quote(elsewhere, safe='')}")
        assert refused.status == 400, (path, elsewhere)
        assert "Location" not in refused.headers
        assert set_cookies(refused) == {}
    assert browser.cookie(SIGN_IN_COOKIE) is None
    await assert_not_signed_in(browser)


async def test_a_tampered_or_foreign_or_ended_session_cookie_is_refused(
    sqlite_url: str, clock: ManualClock, provider: MockOpenIdProvider, browser: Browser
) -> None:
    assert (await browser.sign_in()).status == 303
    sealed = browser.cookie(SESSION_COOKIE)
    assert sealed is not None
    assert (await browser.get("/case-studies")).status == 200
    body, mac = sealed.split(".")

    # Another name and a later end in the payload, with the old signature.
    payload = aiohttp.helpers.base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    forged = payload.replace(b"Ann Archer", b"Eve Admin").replace(b'"expires":', b'"expires":9')
    encoded = aiohttp.helpers.base64.urlsafe_b64encode(forged).rstrip(b"=").decode()
    for tampered in (f"{encoded}.{mac}", f"{body}.{mac[:-2]}AA", f"{body}.", body, "x" * 5000):
        browser.set_cookie(SESSION_COOKIE, tampered)
        hub = await browser.get("/case-studies")
        assert hub.status == 303, tampered[:40]
        assert HUB_TEXT not in await hub.text()

    # The sign-in cookie's value in the session's place (signed for another cookie's name).
    browser.set_cookie(SESSION_COOKIE, sealed)
    assert (await browser.get("/case-studies")).status == 200
    await browser.start()
    under_way = browser.cookie(SIGN_IN_COOKIE)
    assert under_way is not None
    browser.set_cookie(SESSION_COOKIE, under_way)
    assert (await browser.get("/case-studies")).status == 303

    # A session made by another deployment (another VALUESBOT_WEB_SECRET) is not this one's.
    other = await build_app(
        make_settings(
            sqlite_url,
            VALUESBOT_WEB_ACCESS="signed-in",
            VALUESBOT_OIDC_ISSUER=provider.url,
            VALUESBOT_OIDC_CLIENT_ID=CLIENT_ID,
            VALUESBOT_OIDC_CLIENT_SECRET=CLIENT_SECRET,
            VALUESBOT_OIDC_ALLOWED=TENANT,
            VALUESBOT_WEB_SECRET="another-web-secret-0123456789-abcdefghij",
            VALUESBOT_PUBLIC_URL=PUBLIC_URL,
        ),
        clock=clock,
        prepare=False,
    )
    try:
        async with browser_for(other, provider) as elsewhere:
            assert (await elsewhere.sign_in()).status == 303
            theirs = elsewhere.cookie(SESSION_COOKIE)
    finally:
        await other.close()
    assert theirs is not None
    browser.set_cookie(SESSION_COOKIE, theirs)
    assert (await browser.get("/case-studies")).status == 303

    # Its own session, ended: eight hours on.
    browser.set_cookie(SESSION_COOKIE, sealed)
    assert (await browser.get("/case-studies")).status == 200
    clock.advance(timedelta(hours=8, seconds=1))
    assert (await browser.get("/case-studies")).status == 303


async def test_sign_out_needs_the_sessions_token_and_clears_the_cookies(
    browser: Browser,
) -> None:
    assert (await browser.sign_in()).status == 303
    page = " ".join((await (await browser.get("/case-studies")).text()).split())
    token = page.split('name="csrf" value="')[1].split('"')[0]
    assert len(token) >= 32

    # A form from elsewhere has no token (or a wrong one): refused, still signed in.
    for form in ({}, {"csrf": "guessed"}):
        refused = await browser.client.post("/signout", data=form, allow_redirects=False)
        assert refused.status == 401
        assert (await browser.get("/case-studies")).status == 200

    # Typing /signout: a page with the button.
    offered = await (await browser.get("/signout")).text()
    assert f'name="csrf" value="{token}"' in offered

    out = await browser.client.post("/signout", data={"csrf": token}, allow_redirects=False)
    assert (out.status, out.headers["Location"]) == (303, "/signout")
    cleared = set_cookies(out)
    assert cleared[SESSION_COOKIE].value == ""
    assert cleared[SESSION_COOKIE]["max-age"] == "0"
    await assert_not_signed_in(browser)
    said = await (await browser.get("/signout")).text()
    assert "You have signed out" in said
    assert "Ann Archer" not in said


async def test_signed_in_all_puts_the_barometer_behind_sign_in_too(
    sqlite_url: str, clock: ManualClock, provider: MockOpenIdProvider
) -> None:
    app = await make_app(sqlite_url, clock, provider.url, "signed-in-all")
    try:
        async with browser_for(app, provider) as browser:
            for path in ("/barometer", "/barometer.json", "/barometer.csv", "/"):
                refused = await browser.get(path)
                assert refused.status == 303, path
                assert refused.headers["Location"].startswith("/signin")
                assert "Access-Control-Allow-Origin" not in refused.headers
            assert (await browser.get("/signin")).status == 200  # the sign-in page is open
            assert (await browser.sign_in("/barometer.json")).headers["Location"] == (
                "/barometer.json"
            )
            shown = await browser.get("/barometer.json")
            assert shown.status == 200
            # One person's now: never kept by a shared cache, not for other sites' scripts.
            assert shown.headers["Cache-Control"] == "no-store"
            assert "Access-Control-Allow-Origin" not in shown.headers
    finally:
        await app.close()


async def test_an_unreachable_provider_is_a_503_not_an_error(
    browser: Browser, provider: MockOpenIdProvider
) -> None:
    await provider.stop()
    started = await browser.get("/signin/start?next=/")
    assert started.status == 503
    assert started.headers["Retry-After"]
    assert browser.cookie(SIGN_IN_COOKIE) is None


async def test_with_public_access_nobody_signs_in(app: App) -> None:
    await seed_hub(app)
    async with TestClient(TestServer(build_web_app(app))) as client:
        for path in ("/signin", "/signin/start", "/signin/callback?code=x&state=y", "/signout"):
            assert (await client.get(path, allow_redirects=False)).status == 404, path
        assert (await client.post("/signout")).status == 404
        hub = await client.get("/case-studies")
        assert hub.status == 200
        body = await hub.text()
        assert HUB_TEXT in body
        assert "Sign in" not in body
        assert "Vary" not in hub.headers
