"""The pages of values identifiers: each approved identifier's print page and its files, and
the public register.

- ``GET /identifier/<id>``: the identifier as a page (A4 print styles: it prints to one page);
  ``.docx`` its Word page, ``.pdf`` its PDF page, ``.svg`` and ``.png`` its badge.
- ``GET /identifiers`` (and ``.json``): every approved identifier with its publication, owner
  and date, newest approval first.

Only approved identifiers are shown; any other id is not found, whatever its state.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bot.content import Content
from bot.pages import Access, Data, Html, NotFound, PageRequest, Pages, page_number
from dialogs.identifier.documents import (
    DOCX_TYPE,
    IdentifierView,
    badge_png,
    badge_svg,
    fit,
    identifier_docx,
    identifier_pdf,
    identifier_view,
)
from storage.identifiers import Identifier, IdentifierStatus
from storage.stores import Stores

IDENTIFIER = re.compile(r"^([0-9a-f]{1,32})(?:\.(docx|pdf|svg|png))?$")
PER_PAGE = 50
NOT_FOUND = "There is no published values identifier at this address."
NOT_RELEVANT = "Not relevant to this publication."
# The print page's type scales (classes of its stylesheet), largest first: the page takes the
# largest its text fits at (``documents.fit``).
PRINT_SCALES = (1.0, 0.85, 0.72, 0.6)


def print_scale(view: IdentifierView) -> int:
    """The print page's type scale, as a percentage (a class ``vb-scale-<n>``)."""
    fitted = fit(view)
    # A step smaller than the Word page: the browser's fallback fonts may be wider than Arial.
    smaller = [s for s in PRINT_SCALES if s < fitted]
    return round((smaller[0] if smaller else PRINT_SCALES[-1]) * 100)


def page_view(view: IdentifierView) -> dict[str, Any]:
    """What the identifier's page shows."""
    return {
        "id": view.id,
        "reference": view.reference,
        "heading": view.title,
        "organisation": view.organisation,
        "vision": view.vision,
        "helps": view.helps,
        "covered": view.covered,
        "total": len(view.statements),
        "statements": [
            {"behaviour": s.behaviour, "text": s.text or NOT_RELEVANT, "relevant": s.relevant}
            for s in view.statements
        ],
        "owner": view.owner,
        "date": view.date_text,
        "scale": print_scale(view),
        "summary": view.summary,
        "embed": f'<a href="{view.url}"><img src="{view.url}.svg" width="240" height="64" '
        f'alt="{_attribute(view.summary)}"></a>',
    }


def _attribute(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )


def register_item(content: Content, identifier: Identifier, base: str) -> dict[str, Any]:
    """One line of the register (the page's and the JSON's)."""
    view = identifier_view(content, identifier, base)
    return {
        "id": identifier.id,
        "reference": identifier.reference,
        "publication": identifier.title,
        "owner": identifier.owner,
        "intended": identifier.intended.isoformat(),
        "intended_text": view.date_text,
        "approved": identifier.decided_at.date().isoformat() if identifier.decided_at else None,
        "behaviours_shown": [s.short for s in view.statements if s.relevant],
        "url": view.url,
        "badge": f"{view.url}.svg",
        "word": f"{view.url}.docx",
    }


class IdentifierPages:
    """Each approved identifier's page and files, and the register."""

    def __init__(self, *, content: Content) -> None:
        self.content = content

    def pages(self) -> Pages:
        """The routes and the register's place in the navigation."""
        pages = Pages("identifier", "dialogs.identifier")
        pages.add("/identifiers", self.register, access=Access.PUBLISHED)
        pages.add("/identifiers.json", self.register_json, access=Access.PUBLISHED)
        pages.add("/identifier/{name}", self.identifier, access=Access.PUBLISHED)
        pages.link("Identifiers", "/identifiers", order=40)
        pages.link("Identifiers (JSON)", "/identifiers.json", order=40, footer=True)
        return pages

    async def _approved(self, stores: Stores, identifier_id: str) -> Identifier:
        found = await stores.identifiers.get(identifier_id)
        if found is None or found.status != IdentifierStatus.APPROVED:
            raise NotFound(NOT_FOUND)
        return found

    async def identifier(self, request: PageRequest, stores: Stores) -> Html | Data:
        """``GET /identifier/<id>[.docx|.pdf|.svg|.png]``."""
        matched = IDENTIFIER.match(request.match.get("name", ""))
        if matched is None:
            raise NotFound(NOT_FOUND)
        identifier_id, extension = matched.group(1), matched.group(2)
        found = await self._approved(stores, identifier_id)
        view = identifier_view(self.content, found, request.base)
        name = f"values-identifier-{found.reference.lower()}"
        match extension:
            case "docx":
                return Data(
                    body=identifier_docx(view),
                    content_type=DOCX_TYPE,
                    filename=f"{name}.docx",
                    download=True,
                )
            case "pdf":
                return Data(
                    body=identifier_pdf(view),
                    content_type="application/pdf",
                    filename=f"{name}.pdf",
                )
            case "svg":
                return Data(body=badge_svg(view), content_type="image/svg+xml")
            case "png":
                return Data(body=badge_png(view), content_type="image/png")
        return Html(
            template="identifier/page.html",
            title=f"Values identifier: {found.title}",
            context=page_view(view),
        )

    async def register(self, request: PageRequest, stores: Stores) -> Html:
        """``GET /identifiers``: every approved identifier, newest approval first."""
        number = page_number(request)
        found = await stores.identifiers.published((number - 1) * PER_PAGE, PER_PAGE)
        last = max(1, -(-found.total // PER_PAGE))
        if number > last:
            raise NotFound("There is no such page of the register.")
        return Html(
            template="identifier/register.html",
            title="Register of values identifiers",
            context={
                "items": [register_item(self.content, i, request.base) for i in found.items],
                "total": found.total,
                "previous": request.link(page=number - 1 if number > 2 else None)
                if number > 1
                else "",
                "next": request.link(page=number + 1) if number < last else "",
                "vision": self.content.vision,
            },
        )

    async def register_json(self, request: PageRequest, stores: Stores) -> Data:
        """``GET /identifiers.json``: the register as open data."""
        items: list[dict[str, Any]] = []
        offset = 0
        while True:
            found = await stores.identifiers.published(offset, PER_PAGE)
            items += [register_item(self.content, i, request.base) for i in found.items]
            offset += PER_PAGE
            if offset >= found.total or not found.items:
                break
        for item in items:
            item.pop("intended_text")
        body = json.dumps(
            {"about": "Every approved values identifier.", "identifiers": items},
            ensure_ascii=False,
            indent=2,
        )
        return Data(body=body, content_type="application/json", open_data=True)
