"""Web pages: what every feature's pages stand on.

A feature with pages makes a ``Pages`` (its routes, each with who may see it and how long it may
be cached, and the folder of its templates) in its own package, next to its dialogs; the
composition root (``bot/app.py``) gathers them and ``bot/web.py`` serves them. A page handler
gets a ``PageRequest`` (the path's parts, the query, who is signed in) and the ``Stores`` of one
unit of work, and returns ``Html`` (a template and what it shows) or ``Data`` (JSON, CSV, Atom).
It raises ``NotFound`` or ``BadRequest`` for a page that does not exist or a malformed query.

Templates are Jinja2 with autoescaping on and undefined names refused (``bot/pages/render.py``);
every page extends ``layout.html`` (skip link, the NHS.UK header with the service name, one
main landmark, footer) and links one stylesheet served by the bot. The Content-Security-Policy
and the other security headers are set in one place, ``bot/pages/render.py``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode

from bot.settings import WebAccess
from storage.stores import Stores


class Access(StrEnum):
    """Who may see a page, with what ``VALUESBOT_WEB_ACCESS`` says (``needs_sign_in``). Every
    route declares one; ``bot/web.py`` asks for sign-in where it says so, so a new feature's
    pages are gated without the feature knowing of sign-in."""

    HUB = "hub"
    """The hub: open with ``public``, behind sign-in with ``signed-in`` or ``signed-in-all``."""
    PUBLISHED = "published"
    """Published for all to see (barometer results): behind sign-in only with
    ``signed-in-all``."""
    OPEN = "open"
    """Always open: the stylesheet, the sign-in pages themselves."""

    def needs_sign_in(self, web_access: WebAccess) -> bool:
        """True when a page of this access is shown only to someone signed in."""
        if self is Access.HUB:
            return web_access in (WebAccess.SIGNED_IN, WebAccess.SIGNED_IN_ALL)
        if self is Access.PUBLISHED:
            return web_access is WebAccess.SIGNED_IN_ALL
        return False


NO_STORE = "no-store"
"""Cache-Control of pages whose items people can withdraw: never served from a cache, so a
withdrawn item is gone from the next request on."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Viewer:
    """The person signed in (``VALUESBOT_WEB_ACCESS`` signed-in), from their session cookie."""

    subject: str
    name: str
    tenant: str
    csrf: str = field(default="", repr=False)
    """The token the sign-out form carries (``bot/pages/session.py``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PageRequest:
    """What a page handler knows of the request."""

    path: str
    match: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    viewer: Viewer | None = None
    signed_in_only: bool = False
    """True when this page is behind sign-in, so everyone who sees it is of the
    organisation."""
    base: str = ""
    """The site's address (``VALUESBOT_PUBLIC_URL``, else the request's own), for the
    absolute links feeds need."""
    method: str = "GET"
    form: Mapping[str, str] = field(default_factory=dict)
    """A posted form's fields (``POST``), each its first value."""

    def link(self, **changes: str | int | None) -> str:
        """This page's path with its query changed (``None`` or ``""`` removes a key)."""
        query = {k: v for k, v in self.query.items() if k not in changes}
        query.update({k: str(v) for k, v in changes.items() if v not in (None, "")})
        ordered = sorted(query.items())
        return self.path + ("?" + urlencode(ordered) if ordered else "")


@dataclass(frozen=True, slots=True, kw_only=True)
class Feed:
    """A feed a page offers (``<link rel="alternate">``)."""

    title: str
    href: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Html:
    """A page: its template, its title and what the template shows."""

    template: str
    title: str
    context: Mapping[str, Any] = field(default_factory=dict)
    feeds: Sequence[Feed] = ()
    status: int = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class Data:
    """A page's data as JSON, CSV or Atom (text), or a file (bytes: a Word document, an
    image)."""

    body: str | bytes
    content_type: str
    filename: str | None = None
    open_data: bool = False
    """True for open data anyone may fetch from anywhere (``Access-Control-Allow-Origin: *``)."""
    download: bool = False
    """True to offer it as a file to save (``Content-Disposition: attachment``)."""


class PageError(Exception):
    """A request that has no page; the message is shown to the person."""

    status = 400


class BadRequest(PageError):
    """A malformed path or query (400)."""

    status = 400


class NotFound(PageError):
    """No such page (404)."""

    status = 404


Handler = Callable[[PageRequest, Stores], Awaitable[Html | Data]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Page:
    """One route of a feature."""

    path: str
    handler: Handler
    access: Access
    cache: str
    methods: tuple[str, ...] = ("GET",)
    """``("GET", "POST")`` for a page with a form posted back to it (no session is needed:
    such a form carries a token of its own that the handler checks, ``form-action 'self'``
    keeps it on this site)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NavItem:
    """A link in the header's navigation."""

    label: str
    href: str
    order: int
    footer: bool = False
    """True for the footer's links (feeds, open data), else the header's navigation."""


class Pages:
    """A feature's pages: its routes and its templates (``<package>/templates``, named
    ``<name>/<file>`` in templates)."""

    def __init__(self, name: str, package: str | None = None) -> None:
        self.name = name
        self.package = package
        self.routes: list[Page] = []
        self.nav: list[NavItem] = []

    def add(
        self,
        path: str,
        handler: Handler,
        *,
        access: Access = Access.HUB,
        cache: str = NO_STORE,
        methods: tuple[str, ...] = ("GET",),
    ) -> None:
        """Serve ``handler`` at ``path`` (aiohttp's syntax: ``/case-studies/{id}``), for GET
        (and POST, when ``methods`` says so)."""
        self.routes.append(
            Page(path=path, handler=handler, access=access, cache=cache, methods=methods)
        )

    def link(self, label: str, href: str, order: int = 50, *, footer: bool = False) -> None:
        """Put a link in the header's navigation, or with ``footer`` in the footer (lower
        ``order`` first)."""
        self.nav.append(NavItem(label=label, href=href, order=order, footer=footer))


def page_number(request: PageRequest, last: int = 10_000) -> int:
    """The ``page`` query value (1 when absent); ``BadRequest`` unless a whole number from 1."""
    given = request.query.get("page", "1")
    if not given.isdigit() or not 1 <= int(given) <= last:
        raise BadRequest("page must be a whole number from 1")
    return int(given)
