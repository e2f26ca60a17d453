"""Rendering pages: the one Jinja2 environment, the NHS.UK components, the one stylesheet and
the security headers.

Templates render with autoescaping on and ``StrictUndefined`` (a name a template uses that the
view did not give is an error, not an empty string). The NHS.UK design system's markup comes
from its own Jinja macros (``nhsuk-frontend-jinja``), called from templates as
``nhsuk("header", {...})``. Those macros are written for lenient undefined values, so they run
in an environment of their own and hand back escaped markup; parameters named ``html`` are
passed through unescaped by them, so views only ever give them ``text``.

The stylesheet is the NHS.UK frontend's compiled CSS when the deployment installed the npm
package ``nhsuk-frontend`` (``VALUESBOT_NHSUK_FRONTEND`` names its folder), with its web fonts
and image references removed (nothing is loaded from another site), followed by the project's
own rules; without the package, a small stylesheet of the project's own in the same style.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import (
    ChainableUndefined,
    ChoiceLoader,
    Environment,
    PackageLoader,
    PrefixLoader,
    StrictUndefined,
    select_autoescape,
)
from markupsafe import Markup

from bot.pages import Html, NavItem, Pages, Viewer

STYLESHEET_PATH = "/assets/valuesbot.css"

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
"""Every page: its one stylesheet from the bot itself, no scripts at all, forms only back to
the bot, never framed."""

SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def page_headers(cache: str) -> dict[str, str]:
    """The headers of every page (HTML, JSON, CSV, Atom) with its Cache-Control."""
    return {**SECURITY_HEADERS, "Cache-Control": cache}


_FONT_FACE = re.compile(r"@font-face\s*\{[^}]*\}")
_OUTSIDE_URL = re.compile(r"url\((?!\s*['\"]?data:)[^)]*\)")
_SOURCE_MAP = re.compile(r"/\*#\s*sourceMappingURL=[^*]*\*/")
_BLANK_LINES = re.compile(r"\n(?:[ \t]*\n)+")
NHSUK_CSS = Path("dist/nhsuk/nhsuk-frontend.min.css")


def nhsuk_css(package: Path) -> str | None:
    """The NHS.UK frontend's compiled CSS from its npm package folder, without its web fonts
    (served by another site), image references and source map; None when not installed."""
    found = package / NHSUK_CSS
    if not found.is_file():
        return None
    css = found.read_text(encoding="utf-8")
    css = _FONT_FACE.sub("", css)
    css = _OUTSIDE_URL.sub("none", css)
    return _SOURCE_MAP.sub("", css)


def _own(name: str) -> str:
    return resources.files("bot.pages").joinpath("static", name).read_text(encoding="utf-8")


@dataclass(frozen=True, slots=True)
class Stylesheet:
    """The one stylesheet, and the address pages link it at (its hash in the query, so a new
    version is fetched at once and an old one may be cached for long)."""

    css: bytes
    nhsuk: bool

    @classmethod
    def build(cls, nhsuk_package: Path | None) -> Stylesheet:
        """The NHS.UK CSS (when installed) or the project's own base, then the project's
        rules."""
        base = nhsuk_css(nhsuk_package) if nhsuk_package else None
        css = (base if base is not None else _own("base.css")) + "\n" + _own("valuesbot.css")
        return cls(css=css.encode(), nhsuk=base is not None)

    @property
    def href(self) -> str:
        """Where pages link it."""
        return f"{STYLESHEET_PATH}?v={hashlib.sha256(self.css).hexdigest()[:12]}"


@cache
def _components() -> Environment:
    return Environment(
        loader=PackageLoader("nhsuk_frontend_jinja"),
        autoescape=True,
        undefined=ChainableUndefined,
    )


_MACROS = {
    "actionLink": "action-link",
    "backLink": "back-link",
    "button": "button",
    "card": "card",
    "errorSummary": "error-summary",
    "footer": "footer",
    "header": "header",
    "input": "input",
    "insetText": "inset-text",
    "pagination": "pagination",
    "radios": "radios",
    "select": "select",
    "skipLink": "skip-link",
    "summaryList": "summary-list",
    "tag": "tag",
    "textarea": "textarea",
    "warningCallout": "warning-callout",
}


def nhsuk(component: str, params: Mapping[str, Any]) -> Markup:
    """An NHS.UK component (``"header"``, ``"card"``...) from its Jinja macro."""
    folder = _MACROS.get(component)
    if folder is None:
        raise ValueError(f"no NHS.UK component {component!r} is wired in")
    module = _components().get_template(f"nhsuk/components/{folder}/macro.jinja").module
    return Markup(getattr(module, component)(params))


@dataclass(frozen=True, slots=True, kw_only=True)
class Site:
    """What the layout shows on every page."""

    service: str
    organisation: str
    stylesheet: str
    nav: Sequence[NavItem]
    sign_in: bool
    """True when people can sign in (``VALUESBOT_WEB_ACCESS`` is not ``public``)."""


class Renderer:
    """Renders ``Html`` with the one environment: the layout's templates and every feature's."""

    def __init__(self, site: Site, page_sets: Sequence[Pages]) -> None:
        prefixed = {
            pages.name: PackageLoader(pages.package) for pages in page_sets if pages.package
        }
        self.site = site
        self.environment = Environment(
            loader=ChoiceLoader([PackageLoader("bot.pages"), PrefixLoader(prefixed)]),
            autoescape=select_autoescape(["html", "xml"], default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        items = sorted(site.nav, key=lambda item: item.order)
        self.footer = [{"text": i.label, "href": i.href} for i in items if i.footer]
        self.header = [i for i in items if not i.footer]
        self.environment.globals.update(
            nhsuk=nhsuk,
            site=site,
            navigation=self.navigation,
            footer_links=self.footer,
            header_account=self.header_account,
        )

    def header_account(self, viewer: Viewer | None, here: str) -> dict[str, Any] | None:
        """The header's account links: who is signed in and the sign-out button (a form that
        carries the session's token), or a sign-in link back to ``here``; none when nobody
        signs in."""
        if viewer is not None:
            # A hidden input is no interactive content, so it may sit in the button, the one
            # place the NHS.UK header's form takes markup; the token is escaped by format().
            sign_out = Markup('Sign out<input type="hidden" name="csrf" value="{}">').format(
                viewer.csrf
            )
            return {
                "items": [
                    {"text": viewer.name, "icon": True},
                    {"html": sign_out, "action": "/signout", "method": "post"},
                ]
            }
        if not self.site.sign_in or here.startswith(("/signin", "/signout")):
            return None
        query = urlencode({"next": here}) if here != "/" else ""
        return {"items": [{"text": "Sign in", "href": "/signin" + ("?" + query if query else "")}]}

    def navigation(self, path: str) -> list[dict[str, Any]]:
        """The header's links, the one for ``path`` (or the section it is in) marked
        current."""

        def current(href: str) -> bool:
            return path == href or (href != "/" and path.startswith(href + "/"))

        return [{"text": i.label, "href": i.href, "current": current(i.href)} for i in self.header]

    def render(
        self, html: Html, *, path: str, viewer: Viewer | None, here: str | None = None
    ) -> str:
        """The page as HTML; ``here`` is its path and query (where signing in returns)."""
        template = self.environment.get_template(html.template)
        page = template.render(
            {
                **html.context,
                "title": html.title,
                "feeds": list(html.feeds),
                "path": path,
                "here": here or path,
                "viewer": viewer,
            }
        )
        # The NHS.UK macros leave many blank lines; pages hold no preformatted text.
        return _BLANK_LINES.sub("\n", page)
