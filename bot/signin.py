"""Sign-in to the web pages (``VALUESBOT_WEB_ACCESS`` signed-in or signed-in-all): the routes,
and the gate ``bot/web.py`` puts before every page.

- ``GET /signin?next=/path``: a page saying who the pages are for, with a link that starts
  signing in (no form: a form's redirect to the provider would break the pages'
  ``form-action 'self'``). Someone signed in already goes straight to ``next``.
- ``GET /signin/start?next=/path``: keeps ``state``, ``nonce``, the PKCE verifier and ``next``
  in the signed sign-in cookie (ten minutes) and sends the person to the provider (303).
- ``GET /signin/callback?code=...&state=...``: where the provider sends them back. The state
  must be the cookie's, the ID token the provider's (``bot/pages/oidc.py``), for this client
  and this nonce, current, and of an allowed tenant or workspace; then the session cookie is
  set and they go to ``next``. Anything else is refused (400 malformed, 401 not proved, 403 not
  of the organisation, 503 provider unreachable) without a session. The sign-in cookie is
  cleared either way: each sign-in is tried once.
- ``POST /signout``: the header's "Sign out" button, with the session's token in the form (a
  page of another site cannot send it); clears both cookies and shows ``GET /signout``, which
  says so (or, to someone still signed in who typed the address, offers the button).

``next`` is only ever a path of this site (``bot/pages/session.safe_next``): a link to
``/signin?next=https://elsewhere`` is refused, so sign-in cannot be used to send people away.
With ``public`` the routes answer 404: nobody signs in.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from aiohttp import web

from bot.clock import Clock
from bot.pages import NO_STORE, Html, Viewer
from bot.pages.oidc import OpenIdProvider, ProviderUnavailable, SignInRefused
from bot.pages.render import Renderer, page_headers
from bot.pages.session import (
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    SIGN_IN_MINUTES,
    CookieSigner,
    Session,
    SignInUnderWay,
    safe_next,
)
from bot.settings import Settings
from bot.text import plural

log = logging.getLogger("valuesbot.signin")

SIGN_IN_PATH = "/signin"
START_PATH = "/signin/start"
CALLBACK_PATH = "/signin/callback"
SIGN_OUT_PATH = "/signout"
# Codes and states are a few hundred characters; anything far longer is not one.
MAX_PARAMETER = 4096
RETRY_AFTER_SECONDS = 5


def sign_in_link(next_path: str) -> str:
    """The sign-in page's address, returning to ``next_path``."""
    return SIGN_IN_PATH + ("?" + urlencode({"next": next_path}) if next_path != "/" else "")


class SignIn:
    """Sign-in for one server: reads sessions for the gate and serves the sign-in routes."""

    def __init__(
        self,
        *,
        settings: Settings,
        clock: Clock,
        renderer: Renderer,
        provider: OpenIdProvider | None,
    ) -> None:
        self.enabled = settings.sign_in and provider is not None
        secret = settings.web_secret.get_secret_value() if settings.web_secret else ""
        self.signer = CookieSigner(secret) if self.enabled else None
        self.hours = settings.web_session_hours
        self.clock = clock
        self.renderer = renderer
        self.provider = provider

    # The gate

    def session(self, request: web.Request) -> Session | None:
        """The session of the request's cookie, if signed in (and still)."""
        if self.signer is None:
            return None
        return Session.read(self.signer, request.cookies.get(SESSION_COOKIE), self.clock.now())

    def viewer(self, request: web.Request) -> Viewer | None:
        """Who is signed in, for the page."""
        session = self.session(request)
        return session.viewer if session else None

    def to_sign_in(self, request: web.Request) -> web.Response:
        """The answer to a request for a page behind sign-in without a session: the sign-in
        page, returning to the page asked for."""
        wanted = safe_next(request.raw_path) or "/"
        return _see_other(sign_in_link(wanted))

    # The routes

    def mount(self, web_app: web.Application) -> None:
        """Add the sign-in routes (404 with ``public``)."""
        web_app.router.add_get(SIGN_IN_PATH, self._enabled(self.sign_in_page))
        web_app.router.add_get(START_PATH, self._enabled(self.start))
        web_app.router.add_get(CALLBACK_PATH, self._enabled(self.callback))
        web_app.router.add_get(SIGN_OUT_PATH, self._enabled(self.sign_out_page))
        web_app.router.add_post(SIGN_OUT_PATH, self._enabled(self.sign_out))

    def _enabled(
        self, handler: Callable[[web.Request], Awaitable[web.Response]]
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            if not self.enabled:
                return self._page(
                    request,
                    _error("Page not found", "These pages need no sign-in.", status=404),
                )
            return await handler(request)

        return handle

    def _parts(self) -> tuple[OpenIdProvider, CookieSigner]:
        if self.provider is None or self.signer is None:
            raise RuntimeError("sign-in is off")  # the routes answer 404 before this
        return self.provider, self.signer

    def _page(self, request: web.Request, html: Html, viewer: Viewer | None = None) -> web.Response:
        body = self.renderer.render(html, path=request.path, viewer=viewer, here=request.path)
        return web.Response(
            text=body,
            status=html.status,
            content_type="text/html",
            charset="utf-8",
            headers=page_headers(NO_STORE),
        )

    def _next(self, request: web.Request) -> str | None:
        given = request.query.get("next")
        return "/" if given is None else safe_next(given)

    async def sign_in_page(self, request: web.Request) -> web.Response:
        """``GET /signin``: what the pages are and a link to sign in."""
        next_path = self._next(request)
        if next_path is None:
            return self._bad_next(request)
        session = self.session(request)
        if session is not None:
            return _see_other(next_path)
        provider, _ = self._parts()
        html = Html(
            template="signin.html",
            title="Sign in",
            context={
                "start": START_PATH + "?" + urlencode({"next": next_path}),
                "account": provider.label,
                "hours": plural(round(self.hours), "hour")
                if self.hours >= 1
                else plural(round(self.hours * 60), "minute"),
            },
        )
        return self._page(request, html)

    def _bad_next(self, request: web.Request) -> web.Response:
        return self._page(
            request,
            _error(
                "Sorry, that did not work",
                "This sign-in link leads away from this site, so it was not followed.",
                status=400,
            ),
        )

    async def start(self, request: web.Request) -> web.Response:
        """``GET /signin/start``: off to the provider, with a new sign-in cookie."""
        provider, signer = self._parts()
        next_path = self._next(request)
        if next_path is None:
            return self._bad_next(request)
        under_way = SignInUnderWay.start(next_path=next_path, now=self.clock.now())
        try:
            authorization = await provider.authorization(
                state=under_way.state, nonce=under_way.nonce, verifier=under_way.verifier
            )
        except ProviderUnavailable:
            return self._unavailable(request)
        response = _see_other(authorization.url)
        _set_cookie(response, SIGN_IN_COOKIE, under_way.seal(signer), SIGN_IN_MINUTES * 60)
        return response

    async def callback(self, request: web.Request) -> web.Response:
        """``GET /signin/callback``: the provider's answer; signed in, or refused."""
        response = await self._callback(request)
        # Each sign-in is tried once, whatever came of it.
        _clear_cookie(response, SIGN_IN_COOKIE)
        return response

    async def _callback(self, request: web.Request) -> web.Response:
        provider, signer = self._parts()
        now = self.clock.now()
        under_way = SignInUnderWay.read(signer, request.cookies.get(SIGN_IN_COOKIE), now)
        query = request.query
        if "error" in query:
            log.info("sign-in: the provider answered with an error")
            return self._refused(
                request, 401, "The sign-in service did not sign you in.", "provider error"
            )
        code, state = query.get("code", ""), query.get("state", "")
        if not code or not state or len(code) > MAX_PARAMETER or len(state) > MAX_PARAMETER:
            return self._page(
                request,
                _error(
                    "Sorry, that did not work",
                    "This is not an answer from the sign-in service.",
                    status=400,
                ),
            )
        if under_way is None:
            return self._refused(
                request,
                401,
                f"This sign-in was not started in this browser, or took longer than "
                f"{SIGN_IN_MINUTES} minutes.",
                "no sign-in under way",
            )
        if not hmac.compare_digest(state.encode(), under_way.state.encode()):
            return self._refused(
                request, 401, "This sign-in does not match the one started here.", "wrong state"
            )
        try:
            identity = await provider.identify(
                code=code, verifier=under_way.verifier, nonce=under_way.nonce
            )
        except SignInRefused as refusal:
            return self._refused(request, refusal.status, str(refusal), refusal.reason)
        except ProviderUnavailable:
            return self._unavailable(request)
        session = Session.start(
            subject=identity.subject,
            name=identity.name,
            tenant=identity.tenant,
            now=now,
            hours=self.hours,
        )
        log.info("sign-in: signed in")
        response = _see_other(under_way.next)
        _set_cookie(response, SESSION_COOKIE, session.seal(signer), session.seconds_left(now))
        return response

    def _refused(
        self, request: web.Request, status: int, message: str, reason: str
    ) -> web.Response:
        log.info("sign-in: refused (%s)", reason)
        return self._page(
            request, _error("You are not signed in", message, status=status, again=True)
        )

    def _unavailable(self, request: web.Request) -> web.Response:
        response = self._page(
            request,
            _error(
                "Sign-in is unavailable",
                "The sign-in service cannot be reached just now. Try again in a few minutes.",
                status=503,
                again=True,
            ),
        )
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    async def sign_out_page(self, request: web.Request) -> web.Response:
        """``GET /signout``: signed out (after the button), or the button itself."""
        session = self.session(request)
        html = Html(
            template="signout.html",
            title="Sign out" if session else "You have signed out",
            context={"signed_in": session is not None},
        )
        return self._page(request, html, session.viewer if session else None)

    async def sign_out(self, request: web.Request) -> web.Response:
        """``POST /signout``: with the session's token, forget the session in this browser."""
        session = self.session(request)
        if session is not None:
            form = await request.post()
            given = form.get("csrf")
            if not isinstance(given, str) or not hmac.compare_digest(
                given.encode(), session.csrf.encode()
            ):
                log.info("sign-in: a sign-out without the session's token was refused")
                return self._page(
                    request,
                    _error(
                        "Sorry, that did not work",
                        "That sign-out did not come from this site's button.",
                        status=401,
                    ),
                    session.viewer,
                )
        response = _see_other(SIGN_OUT_PATH)
        _clear_cookie(response, SESSION_COOKIE)
        _clear_cookie(response, SIGN_IN_COOKIE)
        return response


def _error(title: str, message: str, *, status: int, again: bool = False) -> Html:
    return Html(
        template="error.html",
        title=title,
        context={"message": message, "again": SIGN_IN_PATH if again else ""},
        status=status,
    )


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={**page_headers(NO_STORE), "Location": location})


def _set_cookie(response: web.Response, name: str, value: str, seconds: int) -> None:
    response.set_cookie(
        name, value, max_age=seconds, path="/", secure=True, httponly=True, samesite="Lax"
    )


def _clear_cookie(response: web.Response, name: str) -> None:
    response.del_cookie(name, path="/", secure=True, httponly=True, samesite="Lax")
