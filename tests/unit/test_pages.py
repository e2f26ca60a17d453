"""The page foundation: one layout, autoescaping, undefined names refused, one stylesheet,
the security headers (bot/pages)."""

from __future__ import annotations

from pathlib import Path

import pytest
from jinja2 import UndefinedError

from bot.pages import BadRequest, Html, NavItem, PageRequest, Pages, Viewer, page_number
from bot.pages.render import (
    CONTENT_SECURITY_POLICY,
    Renderer,
    Site,
    Stylesheet,
    nhsuk,
    page_headers,
)


def site(**changes: object) -> Site:
    given: dict[str, object] = {
        "service": "Vision <and> values",
        "organisation": "NHS England",
        "stylesheet": "/assets/valuesbot.css?v=1",
        "nav": [
            NavItem(label="Staff barometer", href="/barometer", order=60),
            NavItem(label="Case studies", href="/case-studies", order=10),
            NavItem(label="Case studies feed", href="/case-studies.atom", order=10, footer=True),
        ],
        "sign_in": False,
    }
    given.update(changes)
    return Site(**given)  # type: ignore[arg-type]


def render(context: dict[str, object], viewer: Viewer | None = None, path: str = "/") -> str:
    renderer = Renderer(site(), [Pages("hub")])
    return renderer.render(
        Html(template="error.html", title="A <title>", context=context), path=path, viewer=viewer
    )


def test_the_layout_has_a_skip_link_a_header_one_main_landmark_and_a_footer() -> None:
    page = " ".join(render({"message": "Hello"}, path="/case-studies/abc").split())
    assert page.startswith("<!doctype html>")
    assert '<html lang="en"' in page
    assert '<a class="nhsuk-skip-link" data-module="nhsuk-skip-link" href="#maincontent" >' in page
    assert "Skip to main content" in page
    assert page.index("nhsuk-skip-link") < page.index('<header class="nhsuk-header"')
    assert page.index('<header class="nhsuk-header"') < page.index("<main ")
    assert page.count("<main ") == 1
    assert 'id="maincontent"' in page
    assert "Vision &lt;and&gt; values</span>" in page  # the service name, escaped
    assert "<title>A &lt;title&gt; – Vision &lt;and&gt; values</title>" in page
    assert '<link rel="stylesheet" href="/assets/valuesbot.css?v=1">' in page
    assert page.count('rel="stylesheet"') == 1
    assert "<script" not in page
    # Navigation in order; the section of the page is marked current.
    assert page.index('href="/case-studies"') < page.index('href="/barometer"')
    assert 'href="/case-studies" aria-current="page"' in page
    assert 'href="/case-studies.atom"' in page.split('<footer class="nhsuk-footer"')[1]
    assert "Sign out" not in page


def test_text_is_escaped_everywhere() -> None:
    page = render({"message": '<script>alert(1)</script>"><img src=x onerror=alert(1)>'})
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&#34;&gt;&lt;img src=x" in page


def test_a_signed_in_person_sees_their_name_and_a_sign_out_form() -> None:
    viewer = Viewer(subject="s", name="Ann <b>", tenant="t", csrf='tok"en<')
    page = " ".join(render({"message": "x"}, viewer).split())
    assert "Ann &lt;b&gt;" in page
    assert 'action="/signout" method="post"' in page
    # The form carries the session's token (escaped), inside its button.
    assert 'Sign out<input type="hidden" name="csrf" value="tok&#34;en&lt;"> </button>' in page


def test_with_sign_in_on_someone_not_signed_in_gets_a_link_back_here() -> None:
    renderer = Renderer(site(sign_in=True), [Pages("hub")])
    page = renderer.render(
        Html(template="error.html", title="t", context={"message": "x"}),
        path="/case-studies",
        viewer=None,
        here="/case-studies?q=a b&page=2",
    )
    assert 'href="/signin?next=%2Fcase-studies%3Fq%3Da+b%26page%3D2"' in page
    assert "Sign out" not in page


def test_a_name_the_view_did_not_give_is_an_error_not_an_empty_string() -> None:
    with pytest.raises(UndefinedError):
        render({})


def test_nhsuk_components_come_from_their_macros_escaped() -> None:
    card = nhsuk("insetText", {"text": "<b>bold</b>"})
    assert card.startswith('<div class="nhsuk-inset-text"')
    assert "&lt;b&gt;bold&lt;/b&gt;" in card
    with pytest.raises(ValueError, match=r"no NHS\.UK component"):
        nhsuk("nope", {})


def test_the_own_stylesheet_without_the_nhsuk_package() -> None:
    sheet = Stylesheet.build(None)
    css = sheet.css.decode()
    assert not sheet.nhsuk
    assert ".nhsuk-header{" in css
    assert ".vb-chart svg .agree" in css
    assert "url(" not in css
    assert "@import" not in css
    assert sheet.href.startswith("/assets/valuesbot.css?v=")


def test_the_nhsuk_stylesheet_loses_its_fonts_and_outside_images(tmp_path: Path) -> None:
    package = tmp_path / "nhsuk-frontend"
    (package / "dist/nhsuk").mkdir(parents=True)
    (package / "dist/nhsuk/nhsuk-frontend.min.css").write_text(
        "@font-face{font-family:Frutiger W01;src:url(https://assets.nhs.uk/fonts/a.woff2)}"
        ".nhsuk-header{color:#fff}.x{background:url(/assets/images/cross.svg) no-repeat}"
        '.y{background:url("data:image/svg+xml,abc")}'
        "/*# sourceMappingURL=nhsuk-frontend.min.css.map */"
    )
    sheet = Stylesheet.build(package)
    css = sheet.css.decode()
    assert sheet.nhsuk
    assert "@font-face" not in css
    assert "assets.nhs.uk" not in css
    assert ".x{background:none no-repeat}" in css
    assert 'url("data:image/svg+xml,abc")' in css
    assert "sourceMappingURL" not in css
    assert ".nhsuk-header{color:#fff}" in css
    assert ".vb-chart svg .agree" in css
    assert Stylesheet.build(tmp_path / "missing").nhsuk is False


def test_every_page_gets_the_security_headers() -> None:
    headers = page_headers("no-store")
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "script-src" not in CONTENT_SECURITY_POLICY  # default-src 'none' covers scripts
    assert CONTENT_SECURITY_POLICY.startswith("default-src 'none'; style-src 'self';")
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "no-store"


def test_links_keep_the_query_and_change_one_value() -> None:
    request = PageRequest(path="/case-studies", query={"q": "a&b", "behaviour": "open"})
    assert request.link(page=2) == "/case-studies?behaviour=open&page=2&q=a%26b"
    assert request.link(behaviour=None, page=None) == "/case-studies?q=a%26b"


def test_page_numbers_are_checked() -> None:
    assert page_number(PageRequest(path="/")) == 1
    assert page_number(PageRequest(path="/", query={"page": "3"})) == 3
    for bad in ("0", "-1", "x", "99999999"):
        with pytest.raises(BadRequest):
            page_number(PageRequest(path="/", query={"page": bad}))
