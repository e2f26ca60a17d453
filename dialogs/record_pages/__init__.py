"""A person's own record as a web page: ``GET /me/<token>``, through a single-use link of the
kind "html" (``dialogs.records``), in the one layout of the web pages (``bot/pages``).

The page is the Word document's twin: check-ins with their ratings, notes and actions,
commitments with their status and review dates, case studies and where each one is. Like the
files it works once and for 15 minutes, and is never cached (``no-store``).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.content import Content
from bot.pages import Access, Html, NotFound, PageError, PageRequest, Pages
from dialogs.record_files import CASE_STUDY_STATUS, IDENTIFIER_STATUS, NOT_HELD, Record
from dialogs.records import EXPIRED_TEXT, UNKNOWN_TEXT, USED_TEXT
from storage.records import LinkKind, LinkState
from storage.stores import Stores

TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class Gone(PageError):
    """A link used already, or expired (410)."""

    status = 410


def record_view(record: Record, content: Content, zone: ZoneInfo) -> dict[str, Any]:
    """What the page shows, as plain values (the template only lays them out)."""

    def behaviour(behaviour_id: str) -> str:
        try:
            return content.behaviour(behaviour_id).name
        except KeyError:
            return behaviour_id

    def rating(rating_id: str) -> str:
        try:
            return content.rating(rating_id).label
        except KeyError:
            return rating_id

    def day(when: datetime) -> str:
        return f"{when.astimezone(zone):%d %b %Y}"

    return {
        "name": record.name,
        "organisation": content.organisation,
        "made_on": day(record.made_at),
        "checkins": [
            {
                "work": c.work,
                "on": day(c.completed_at),
                "ratings": [
                    {
                        "behaviour": behaviour(r.behaviour),
                        "rating": rating(r.rating),
                        "note": r.note,
                    }
                    for r in c.ratings
                ],
                "focus": behaviour(c.focus) if c.focus else "",
                "action": c.action,
            }
            for c in record.checkins
        ],
        "commitments": [
            {
                "text": c.text,
                "status": "done" if c.status == "done" else "open",
                "review_on": f"{c.review_on:%d %b %Y}" if c.review_on else "",
                "shared": c.shared_at is not None,
                "behaviours": ", ".join(behaviour(b) for b in c.behaviours),
            }
            for c in record.commitments
        ],
        "case_studies": [
            {
                "title": c.title,
                "status": CASE_STUDY_STATUS.get(c.status, c.status),
                "story": c.story,
                "difference": c.difference,
            }
            for c in record.case_studies
        ],
        "identifiers": [
            {
                "title": i.title,
                "owner": i.owner,
                "status": IDENTIFIER_STATUS.get(i.status, i.status),
                "reference": i.reference,
            }
            for i in record.identifiers
        ],
        "team_checkins": [
            {"work": t.checkin.work, "on": day(t.checkin.opened_at)} for t in record.team_ratings
        ],
        "not_held": NOT_HELD,
    }


class RecordPages:
    """``GET /me/<token>``: the record as a page."""

    def __init__(
        self,
        *,
        content: Content,
        zone: ZoneInfo,
        follow: Callable[[Stores, str, str], Awaitable[Record | LinkState]],
    ) -> None:
        self.content = content
        self.zone = zone
        self.follow = follow
        """``Records.follow``: the record behind a link of a kind, or why there is none."""

    def pages(self) -> Pages:
        """The one route (no navigation link: it is reached only from a person's chat)."""
        pages = Pages("records", "dialogs.record_pages")
        pages.add("/me/{token}", self.page, access=Access.OPEN)
        return pages

    async def page(self, request: PageRequest, stores: Stores) -> Html:
        """The person's record, once."""
        token = request.match.get("token", "")
        if not TOKEN.match(token):
            raise NotFound(UNKNOWN_TEXT)
        found = await self.follow(stores, token, LinkKind.HTML)
        if found is LinkState.USED:
            raise Gone(USED_TEXT)
        if found is LinkState.EXPIRED:
            raise Gone(EXPIRED_TEXT)
        if not isinstance(found, Record):
            raise NotFound(UNKNOWN_TEXT)
        return Html(
            template="records/record.html",
            title=f"Values record: {found.name}",
            context=record_view(found, self.content, self.zone),
        )
