"""What each hub page shows, gathered from records into plain values for its template.

Pure functions (no database, no request): the page handlers in ``pages.py`` fetch the records
and call these; templates only show what they return. Who wrote what is decided here, once:
a case study names its author only when they agreed to be named; a shared commitment names its
owner only when the hub is behind sign-in (people agreed to share it with colleagues).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.content import Behaviour, Content
from bot.pages import PageRequest
from bot.text import plural
from dialogs.commitments import sentence
from dialogs.digest import Digest, DigestCommitment, quiet_line
from storage.case_studies import CaseStudy
from storage.commitments import Commitment
from storage.digests import DigestRun

PER_PAGE = 10
ANONYMOUS = "a colleague"


def paragraphs(text: str) -> list[str]:
    """Text as its non-empty paragraphs (one a line, as people typed them)."""
    return [line.strip() for line in text.split("\n") if line.strip()]


def day(when: datetime | None) -> str:
    """ "22 March 2027"."""
    return "" if when is None else f"{when.day} {when:%B %Y}"


def behaviour_links(content: Content, ids: Sequence[str]) -> list[dict[str, str]]:
    """The behaviours of an item as links to their pages, in the content's order."""
    wanted = set(ids)
    return [
        {"text": b.short, "href": f"/behaviours/{n}"}
        for n, b in enumerate(content.behaviours, start=1)
        if b.id in wanted
    ]


def behaviour_number(content: Content, behaviour_id: str) -> int | None:
    """The behaviour's number (1 for the first), None for an id the content does not have."""
    for n, behaviour in enumerate(content.behaviours, start=1):
        if behaviour.id == behaviour_id:
            return n
    return None


def credit(case_study: CaseStudy, names: Mapping[str, str]) -> str:
    """Who shared it: their name if they agreed to be named (and it is known), else "a
    colleague"."""
    if not case_study.named:
        return ANONYMOUS
    return names.get(case_study.id) or ANONYMOUS


def case_study_item(
    content: Content, case_study: CaseStudy, names: Mapping[str, str]
) -> dict[str, Any]:
    """A case study as the hub shows it."""
    return {
        "id": case_study.id,
        "href": f"/case-studies/{case_study.id}",
        "title": case_study.title,
        "paragraphs": paragraphs(case_study.story),
        "difference": case_study.difference,
        "behaviours": behaviour_links(content, case_study.behaviours),
        "credit": credit(case_study, names),
        "approved": day(case_study.decided_at),
    }


def commitment_item(
    content: Content, commitment: Commitment, owner: str | None, request: PageRequest
) -> dict[str, Any]:
    """A shared commitment as the hub shows it."""
    return {
        "text": sentence(content, commitment.text, whole=False),
        "by": (owner or ANONYMOUS) if request.signed_in_only else ANONYMOUS,
        "behaviours": behaviour_links(content, commitment.behaviours),
        "shared": day(commitment.shared_at),
    }


def data_link(request: PageRequest, path: str) -> str:
    """The address of this list's data (``path``, e.g. ``/case-studies.json``) with the same
    filters, search and page."""
    return PageRequest(path=path, query=request.query).link()


def behaviour_refs(content: Content, ids: Sequence[str], base: str) -> list[dict[str, str]]:
    """An item's behaviours as data: id, name and page, in the content's order."""
    wanted = set(ids)
    return [
        {"id": b.id, "name": b.short, "url": f"{base}/behaviours/{n}"}
        for n, b in enumerate(content.behaviours, start=1)
        if b.id in wanted
    ]


def instant(when: datetime | None) -> str | None:
    """A time as ISO 8601 (``2027-03-22T09:01:00+00:00``), None when unknown."""
    return None if when is None else when.isoformat()


@dataclass(frozen=True, slots=True, kw_only=True)
class Paging:
    """Where a list page is: its number, the page size and how many items in all."""

    page: int
    total: int
    per_page: int = PER_PAGE

    @property
    def offset(self) -> int:
        """How many items come before this page."""
        return (self.page - 1) * self.per_page

    @property
    def pages(self) -> int:
        """How many pages there are (at least one)."""
        return max(1, -(-self.total // self.per_page))


def pagination(request: PageRequest, paging: Paging) -> dict[str, Any] | None:
    """The NHS.UK pagination component's parameters (None when everything fits one page)."""
    if paging.pages <= 1:
        return None
    shown = sorted(
        {1, paging.pages, *range(max(1, paging.page - 1), min(paging.pages, paging.page + 1) + 1)}
    )
    items: list[dict[str, Any]] = []
    for before, number in zip([0, *shown], shown, strict=False):
        if number - before > 1:
            items.append({"ellipsis": True})
        items.append(
            {
                "number": number,
                "href": request.link(page=number if number > 1 else None),
                "current": number == paging.page,
            }
        )
    params: dict[str, Any] = {"items": items}
    if paging.page > 1:
        params["previous"] = {
            "href": request.link(page=paging.page - 1 if paging.page > 2 else None)
        }
    if paging.page < paging.pages:
        params["next"] = {"href": request.link(page=paging.page + 1)}
    return params


def behaviour_options(content: Content, chosen: str | None) -> list[dict[str, Any]]:
    """The behaviour filter's options (the NHS.UK select's items)."""
    return [{"value": "", "text": "All behaviours", "selected": not chosen}] + [
        {"value": b.id, "text": b.short, "selected": b.id == chosen} for b in content.behaviours
    ]


def home_view(
    content: Content,
    stories: Sequence[CaseStudy],
    names: Mapping[str, str],
    commitments: Sequence[dict[str, Any]],
    elsewhere: Sequence[dict[str, str]],
) -> dict[str, Any]:
    """The hub's start page: vision, purpose, behaviours, the latest stories and commitments,
    and the other pages (barometer results...)."""
    return {
        "vision": content.vision,
        "purpose": content.purpose,
        "behaviours": [
            {"number": n, "name": b.name, "definition": b.definition, "href": f"/behaviours/{n}"}
            for n, b in enumerate(content.behaviours, start=1)
        ],
        "values": list(content.constitution_values),
        "stories": [case_study_item(content, s, names) for s in stories],
        "commitments": list(commitments),
        "elsewhere": list(elsewhere),
    }


def case_studies_view(
    content: Content,
    request: PageRequest,
    stories: Sequence[CaseStudy],
    names: Mapping[str, str],
    paging: Paging,
    words: str,
    behaviour: str | None,
) -> dict[str, Any]:
    """The bank of case studies: the search form, what matched, the pages."""
    found = plural(paging.total, "story", "stories")
    chosen = content.behaviour(behaviour).short if behaviour else ""
    about = " about " + chosen if chosen else ""
    return {
        "words": words,
        "options": behaviour_options(content, behaviour),
        "summary": f"{found}{about}" + (f" matching “{words}”" if words else ""),
        "stories": [case_study_item(content, s, names) for s in stories],
        "pagination": pagination(request, paging),
        "page_note": f"Page {paging.page} of {paging.pages}" if paging.pages > 1 else "",
        "data_href": data_link(request, "/case-studies.json"),
    }


def commitments_view(
    content: Content,
    request: PageRequest,
    items: Sequence[dict[str, Any]],
    paging: Paging,
    behaviour: str | None,
) -> dict[str, Any]:
    """Commitments people chose to share."""
    chosen = content.behaviour(behaviour).short if behaviour else ""
    return {
        "call_to_action": content.call_to_action,
        "options": behaviour_options(content, behaviour),
        "summary": plural(paging.total, "commitment") + (f" about {chosen}" if chosen else ""),
        "commitments": list(items),
        "pagination": pagination(request, paging),
        "page_note": f"Page {paging.page} of {paging.pages}" if paging.pages > 1 else "",
        "data_href": data_link(request, "/commitments.json"),
    }


def paging_data(request: PageRequest, paging: Paging) -> dict[str, Any]:
    """Where a list's data is: page, pages, totals, and the addresses of the pages either side
    (None at either end)."""

    def page(number: int) -> str | None:
        if not 1 <= number <= paging.pages:
            return None
        return request.base + request.link(page=number if number > 1 else None)

    return {
        "page": paging.page,
        "pages": paging.pages,
        "per_page": paging.per_page,
        "total": paging.total,
        "previous": page(paging.page - 1),
        "next": page(paging.page + 1),
    }


def case_studies_data(
    content: Content,
    request: PageRequest,
    stories: Sequence[CaseStudy],
    names: Mapping[str, str],
    paging: Paging,
    words: str,
    behaviour: str | None,
) -> dict[str, Any]:
    """``/case-studies.json``: the same stories as the page, as data. The author is named only
    when they agreed to be named (else ``null``)."""
    return {
        "search": words or None,
        "behaviour": behaviour,
        **paging_data(request, paging),
        "items": [
            {
                "id": s.id,
                "url": f"{request.base}/case-studies/{s.id}",
                "title": s.title,
                "story": "\n".join(paragraphs(s.story)),
                "difference": s.difference,
                "behaviours": behaviour_refs(content, s.behaviours, request.base),
                "author": names.get(s.id) if s.named else None,
                "approved": instant(s.decided_at),
            }
            for s in stories
        ],
    }


def commitments_data(
    content: Content,
    request: PageRequest,
    commitments: Sequence[tuple[Commitment, str | None]],
    paging: Paging,
    behaviour: str | None,
) -> dict[str, Any]:
    """``/commitments.json``: the same shared commitments as the page, as data, each with its
    owner's name (``owner``) only when the hub is behind sign-in, as on the page."""
    return {
        "behaviour": behaviour,
        **paging_data(request, paging),
        "items": [
            {
                "text": sentence(content, c.text, whole=False),
                "behaviours": behaviour_refs(content, c.behaviours, request.base),
                "owner": owner if request.signed_in_only else None,
                "shared": instant(c.shared_at),
            }
            for c, owner in commitments
        ],
    }


def behaviour_view(
    content: Content,
    number: int,
    behaviour: Behaviour,
    stories: Sequence[CaseStudy],
    names: Mapping[str, str],
    story_total: int,
    commitments: Sequence[dict[str, Any]],
    commitment_total: int,
) -> dict[str, Any]:
    """One behaviour, with the stories and commitments tagged with it."""
    return {
        "number": number,
        "count": len(content.behaviours),
        "name": behaviour.name,
        "definition": behaviour.definition,
        "stories": [case_study_item(content, s, names) for s in stories],
        "story_total": plural(story_total, "story", "stories"),
        "stories_href": f"/case-studies?behaviour={behaviour.id}",
        "commitments": list(commitments),
        "commitment_total": plural(commitment_total, "commitment"),
        "commitments_href": f"/commitments?behaviour={behaviour.id}",
    }


def digest_title(run: DigestRun, digest: Digest) -> dict[str, Any]:
    """A sent digest in the archive."""
    return {
        "title": digest.title,
        "href": f"/digest/{run.id}",
        "sent": day(run.claimed_at),
        "summary": f"{plural(run.case_studies, 'story', 'stories')}, "
        f"{plural(run.commitments, 'commitment')} shared. Behaviour of the week: "
        f"{digest.behaviour}.",
    }


def digests_view(
    request: PageRequest, digests: Sequence[dict[str, Any]], paging: Paging
) -> dict[str, Any]:
    """The archive of sent digests."""
    return {
        "digests": list(digests),
        "summary": plural(paging.total, "digest") + " sent",
        "pagination": pagination(request, paging),
    }


def digest_view(
    content: Content,
    digest: Digest,
    stories: Sequence[CaseStudy],
    names: Mapping[str, str],
    commitments: Sequence[DigestCommitment],
    request: PageRequest,
) -> dict[str, Any]:
    """A sent digest's page: its behaviour of the week, and of its stories and commitments
    those still published (``stories`` and ``commitments`` are what is left of them)."""
    since = "since the last digest" if digest.follows_up else "this week"
    return {
        "digest": {
            "title": digest.title,
            "behaviour": digest.behaviour,
            "behaviour_definition": digest.behaviour_definition,
            "barometer": digest.barometer,
            "we_did": digest.we_did,
        },
        "quiet": quiet_line(digest) if digest.is_quiet else "",
        "stories": [case_study_item(content, s, names) for s in stories],
        "shared_heading": f"{plural(digest.shared, 'commitment')} shared {since}"
        if digest.shared
        else "",
        "commitments": [
            {
                "by": c.by if request.signed_in_only else ANONYMOUS,
                "text": c.text,
                "behaviours": c.behaviours,
            }
            for c in commitments
        ],
    }
