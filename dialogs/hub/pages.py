"""The hub's pages: routes, and handlers that fetch records and hand them to ``views``.

Only what people agreed to publish is read: approved case studies (named only with consent),
commitments their owners share, digests as they stand now (a story withdrawn or a commitment
taken back since is left out). Every page is ``no-store``: a withdrawal shows at once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.content import Content
from bot.pages import (
    Access,
    BadRequest,
    Data,
    Feed,
    Html,
    NavItem,
    NotFound,
    PageRequest,
    Pages,
    page_number,
)
from dialogs.behaviours import behaviour_names
from dialogs.digest import RUN_ID, Digests, digest_from_json
from dialogs.hub.feeds import Entry, atom
from dialogs.hub.views import (
    PER_PAGE,
    Paging,
    behaviour_view,
    case_studies_data,
    case_studies_view,
    case_study_item,
    commitment_item,
    commitments_data,
    commitments_view,
    digest_title,
    digest_view,
    digests_view,
    home_view,
    paragraphs,
)
from storage.case_studies import CaseStudy, CaseStudyPage, CaseStudySearch, CaseStudyStatus
from storage.commitments import Commitment, CommitmentPage
from storage.stores import Stores

CASE_STUDY_ID = re.compile(r"^[0-9a-f]{1,32}$")
FEED_SIZE = 20
HOME_STORIES = 3
HOME_COMMITMENTS = 5
BEHAVIOUR_ITEMS = 5
WORDS_LIMIT = 200
# A feed with nothing in it yet says it was last updated at this instant.
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)

CASE_STUDIES_FEED = Feed(title="Case studies", href="/case-studies.atom")
DIGESTS_FEED = Feed(title="Values digests", href="/digests.atom")


async def names_of(stores: Stores, case_studies: Iterable[CaseStudy]) -> dict[str, str]:
    """The display names of the authors who agreed to be named, by case study id."""
    names = {}
    for case_study in case_studies:
        if case_study.named:
            person = await stores.people.get(case_study.author)
            if person is not None and person.display_name:
                names[case_study.id] = person.display_name
    return names


class HubPages:
    """The vision and values hub: start page, case studies, commitments, behaviours, digests,
    and their feeds."""

    def __init__(
        self, *, content: Content, digests: Digests, elsewhere: Sequence[NavItem] = ()
    ) -> None:
        self.content = content
        self.digests = digests
        self.elsewhere = elsewhere

    def pages(self) -> Pages:
        """The hub's routes and its navigation."""
        pages = Pages("hub", "dialogs.hub")
        for path, handler in (
            ("/", self.home),
            ("/case-studies", self.case_studies),
            ("/case-studies.atom", self.case_studies_feed),
            ("/case-studies.json", self.case_studies_json),
            ("/case-studies/{id}", self.case_study),
            ("/commitments", self.commitments),
            ("/commitments.json", self.commitments_json),
            ("/behaviours/{number}", self.behaviour),
            ("/digests", self.digest_archive),
            ("/digests.atom", self.digests_feed),
            ("/digest/{run_id}", self.digest),
        ):
            pages.add(path, handler, access=Access.HUB)
        pages.link("Home", "/", order=0)
        pages.link("Case studies", "/case-studies", order=10)
        pages.link("Commitments", "/commitments", order=20)
        pages.link("Digests", "/digests", order=30)
        pages.link("Case studies feed", CASE_STUDIES_FEED.href, order=10, footer=True)
        pages.link("Digests feed", DIGESTS_FEED.href, order=20, footer=True)
        return pages

    # Reading

    def _behaviour(self, request: PageRequest) -> str | None:
        chosen = request.query.get("behaviour", "")
        if not chosen:
            return None
        if chosen not in {b.id for b in self.content.behaviours}:
            raise BadRequest("There is no behaviour with that name.")
        return chosen

    async def _commitment_items(
        self, stores: Stores, request: PageRequest, commitments: Iterable[Commitment]
    ) -> list[dict[str, Any]]:
        return [
            commitment_item(
                self.content, commitment, await self._owner(stores, request, commitment), request
            )
            for commitment in commitments
        ]

    async def _owner(
        self, stores: Stores, request: PageRequest, commitment: Commitment
    ) -> str | None:
        """The owner's name, looked up only when the hub is behind sign-in: people shared
        their commitments with colleagues, not with the public."""
        if not request.signed_in_only:
            return None
        person = await stores.people.get(commitment.owner)
        return person.display_name if person else None

    # Pages

    async def home(self, request: PageRequest, stores: Stores) -> Html:
        """``GET /``: the hub's start page."""
        stories = await stores.case_studies.published(CaseStudySearch(limit=HOME_STORIES))
        shared = await stores.commitments.shared(None, 0, HOME_COMMITMENTS)
        view = home_view(
            self.content,
            stories.items,
            await names_of(stores, stories.items),
            await self._commitment_items(stores, request, shared.items),
            [{"text": i.label, "href": i.href} for i in self.elsewhere if not i.footer],
        )
        return Html(
            template="hub/home.html",
            title=self.content.service_name,
            context=view,
            feeds=(CASE_STUDIES_FEED, DIGESTS_FEED),
        )

    async def _case_studies(
        self, request: PageRequest, stores: Stores
    ) -> tuple[CaseStudyPage, Paging, str, str | None]:
        """The case studies a list asks for (``q``, ``behaviour``, ``page``), its paging, the
        words searched and the behaviour chosen."""
        words = " ".join(request.query.get("q", "").split())
        if len(words) > WORDS_LIMIT:
            raise BadRequest(f"Please search with fewer than {WORDS_LIMIT} characters.")
        behaviour = self._behaviour(request)
        page = page_number(request)
        found = await stores.case_studies.published(
            CaseStudySearch(
                words=words, behaviour=behaviour, offset=(page - 1) * PER_PAGE, limit=PER_PAGE
            )
        )
        paging = Paging(page=page, total=found.total)
        if page > paging.pages:
            raise NotFound("There are not that many pages of case studies.")
        return found, paging, words, behaviour

    async def case_studies(self, request: PageRequest, stores: Stores) -> Html:
        """``GET /case-studies``: every approved case study, newest first; ``q`` searches,
        ``behaviour`` filters, ``page`` pages."""
        found, paging, words, behaviour = await self._case_studies(request, stores)
        view = case_studies_view(
            self.content,
            request,
            found.items,
            await names_of(stores, found.items),
            paging,
            words,
            behaviour,
        )
        return Html(
            template="hub/case_studies.html",
            title="Case studies" + (f" (page {paging.page})" if paging.page > 1 else ""),
            context=view,
            feeds=(CASE_STUDIES_FEED,),
        )

    async def case_studies_json(self, request: PageRequest, stores: Stores) -> Data:
        """``GET /case-studies.json``: the list of ``/case-studies`` (same query) as JSON."""
        found, paging, words, behaviour = await self._case_studies(request, stores)
        names = await names_of(stores, found.items)
        data = case_studies_data(
            self.content, request, found.items, names, paging, words, behaviour
        )
        return Data(body=json.dumps(data), content_type="application/json", open_data=True)

    async def case_study(self, request: PageRequest, stores: Stores) -> Html:
        """``GET /case-studies/<id>``: one approved case study."""
        case_study_id = request.match["id"]
        found = (
            await stores.case_studies.get(case_study_id)
            if CASE_STUDY_ID.match(case_study_id)
            else None
        )
        if found is None or found.status != CaseStudyStatus.APPROVED:
            raise NotFound("There is no published case study at this address.")
        item = case_study_item(self.content, found, await names_of(stores, [found]))
        return Html(template="hub/case_study.html", title=found.title, context={"story": item})

    async def _commitments(
        self, request: PageRequest, stores: Stores
    ) -> tuple[CommitmentPage, Paging, str | None]:
        """The shared commitments a list asks for (``behaviour``, ``page``), its paging and the
        behaviour chosen."""
        behaviour = self._behaviour(request)
        page = page_number(request)
        shared = await stores.commitments.shared(behaviour, (page - 1) * PER_PAGE, PER_PAGE)
        paging = Paging(page=page, total=shared.total)
        if page > paging.pages:
            raise NotFound("There are not that many pages of commitments.")
        return shared, paging, behaviour

    async def commitments(self, request: PageRequest, stores: Stores) -> Html:
        """``GET /commitments``: commitments people share, newest first; filter and pages."""
        shared, paging, behaviour = await self._commitments(request, stores)
        items = await self._commitment_items(stores, request, shared.items)
        return Html(
            template="hub/commitments.html",
            title="Commitments" + (f" (page {paging.page})" if paging.page > 1 else ""),
            context=commitments_view(self.content, request, items, paging, behaviour),
        )

    async def commitments_json(self, request: PageRequest, stores: Stores) -> Data:
        """``GET /commitments.json``: the list of ``/commitments`` (same query) as JSON."""
        shared, paging, behaviour = await self._commitments(request, stores)
        owned = [(c, await self._owner(stores, request, c)) for c in shared.items]
        data = commitments_data(self.content, request, owned, paging, behaviour)
        return Data(body=json.dumps(data), content_type="application/json", open_data=True)

    async def behaviour(self, request: PageRequest, stores: Stores) -> Html:
        """``GET /behaviours/<n>``: one behaviour and what is tagged with it."""
        given = request.match["number"]
        count = len(self.content.behaviours)
        if not given.isdigit() or not 1 <= int(given) <= count:
            raise NotFound(f"There are {count} behaviours, numbered 1 to {count}.")
        number = int(given)
        behaviour = self.content.behaviours[number - 1]
        stories = await stores.case_studies.published(
            CaseStudySearch(behaviour=behaviour.id, limit=BEHAVIOUR_ITEMS)
        )
        shared = await stores.commitments.shared(behaviour.id, 0, BEHAVIOUR_ITEMS)
        view = behaviour_view(
            self.content,
            number,
            behaviour,
            stories.items,
            await names_of(stores, stories.items),
            stories.total,
            await self._commitment_items(stores, request, shared.items),
            shared.total,
        )
        return Html(template="hub/behaviour.html", title=behaviour.name, context=view)

    async def digest_archive(self, request: PageRequest, stores: Stores) -> Html:
        """``GET /digests``: every digest sent, newest first."""
        page = page_number(request)
        runs, total = await stores.digests.sent((page - 1) * PER_PAGE, PER_PAGE)
        paging = Paging(page=page, total=total)
        if page > paging.pages:
            raise NotFound("There are not that many pages of digests.")
        items = [digest_title(run, digest_from_json(run.body or "")) for run in runs]
        return Html(
            template="hub/digests.html",
            title="Values digests",
            context=digests_view(request, items, paging),
            feeds=(DIGESTS_FEED,),
        )

    async def digest(self, request: PageRequest, stores: Stores) -> Html:
        """``GET /digest/<id>``: a sent values digest, as it stands now."""
        run_id = request.match["run_id"]
        if not RUN_ID.match(run_id):
            raise BadRequest("That is not the address of a digest.")
        digest = await self.digests.sent(stores, run_id)
        if digest is None:
            raise NotFound("There is no digest at this address.")
        stories = await stores.case_studies.published_in_digest(run_id)
        still = {
            c.id for c in await stores.commitments.still_shared([c.id for c in digest.commitments])
        }
        view = digest_view(
            self.content,
            digest,
            stories,
            await names_of(stores, stories),
            [c for c in digest.commitments if c.id in still],
            request,
        )
        return Html(template="hub/digest.html", title=digest.title, context=view)

    # Feeds

    async def case_studies_feed(self, request: PageRequest, stores: Stores) -> Data:
        """``GET /case-studies.atom``: the latest approved case studies."""
        found = await stores.case_studies.published(CaseStudySearch(limit=FEED_SIZE))
        names = await names_of(stores, found.items)
        entries = []
        for case_study in found.items:
            item = case_study_item(self.content, case_study, names)
            link = request.base + item["href"]
            story = "\n\n".join(paragraphs(case_study.story))
            entries.append(
                Entry(
                    id=link,
                    title=case_study.title,
                    link=link,
                    updated=case_study.decided_at or case_study.submitted_at,
                    author=item["credit"],
                    summary=story[:300],
                    content=f"{story}\n\nThe difference it made: {case_study.difference}\n\n"
                    f"Shows: {behaviour_names(self.content, case_study.behaviours)}",
                    categories=[b["text"] for b in item["behaviours"]],
                )
            )
        return Data(
            body=atom(
                feed_id=request.base + CASE_STUDIES_FEED.href,
                title=f"{self.content.organisation}: case studies of what good looks like",
                self_link=request.base + CASE_STUDIES_FEED.href,
                page_link=request.base + "/case-studies",
                author=self.content.organisation,
                entries=entries,
                empty_since=EPOCH,
            ),
            content_type="application/atom+xml",
        )

    async def digests_feed(self, request: PageRequest, stores: Stores) -> Data:
        """``GET /digests.atom``: the latest digests sent."""
        runs, _ = await stores.digests.sent(0, FEED_SIZE)
        entries = []
        for run in runs:
            digest = digest_from_json(run.body or "")
            item = digest_title(run, digest)
            link = request.base + item["href"]
            entries.append(
                Entry(
                    id=link,
                    title=digest.title,
                    link=link,
                    updated=run.claimed_at,
                    author=self.content.organisation,
                    summary=item["summary"],
                    content=f"{item['summary']} {digest.behaviour_definition}",
                )
            )
        return Data(
            body=atom(
                feed_id=request.base + DIGESTS_FEED.href,
                title=f"{self.content.organisation}: values digests",
                self_link=request.base + DIGESTS_FEED.href,
                page_link=request.base + "/digests",
                author=self.content.organisation,
                entries=entries,
                empty_since=EPOCH,
            ),
            content_type="application/atom+xml",
        )
