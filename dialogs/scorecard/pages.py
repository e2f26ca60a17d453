"""The scorecard on the web: ``GET /scorecard`` (HTML), ``.json`` and ``.csv`` (open data), and
the stakeholder form, ``/feedback/<token>`` (GET shows it, POST sends it).

The scorecard is published for all to see (``Access.PUBLISHED``); the form is open
(``Access.OPEN``): the people it is for are outside the organisation, and its link is what lets
them in. The form needs no script: a plain HTML form posted back to its own address, carrying a
form token tied to its link (``stakeholders.FormGuard``). Used, expired and unknown links, a
replayed post and a post the form did not make are each refused with a page saying so; a post
with something missing comes back with an error summary linking to each field.
"""

from __future__ import annotations

import json
from datetime import datetime

from bot.clock import Clock
from bot.content import Content
from bot.pages import NO_STORE, Access, Data, Html, PageRequest, Pages
from dialogs.barometer.results import RoundResults
from dialogs.scorecard.service import Scorecards
from dialogs.scorecard.stakeholders import LINK_PATH, FormGuard, read_form
from dialogs.scorecard.views import form_view, render_csv, render_json, scorecard_view
from storage.scorecard import LinkCheck, LinkState
from storage.stores import Stores

# Figures change when a round closes or comms add one: a few minutes is fine.
PUBLIC_CACHE = "public, max-age=300"

REFUSALS = {
    LinkState.UNKNOWN: (
        404,
        "This link is not one of ours",
        "We do not recognise this feedback link. Check that the whole link was copied from "
        "the message you were sent.",
    ),
    LinkState.USED: (
        410,
        "This link has been used",
        "Each feedback link can be used once, and this one has been: your answers (or someone "
        "else's with this link) are recorded. Thank you.",
    ),
    LinkState.EXPIRED: (
        410,
        "This feedback round has closed",
        "The round this link was for is no longer taking answers. Its results are published "
        "on our scorecard.",
    ),
}
NOT_OUR_FORM = (
    "This form was not sent from our page, or it was changed on the way. Nothing was recorded: "
    "open your link again and send the form from there."
)


class ScorecardPages:
    """``/scorecard``, ``.json``, ``.csv`` and ``/feedback/<token>``."""

    def __init__(self, scorecard: Scorecards, *, clock: Clock, form_secret: str) -> None:
        self.scorecard = scorecard
        self.clock = clock
        self.content: Content = scorecard.content
        self.guard = FormGuard(form_secret)

    def pages(self) -> Pages:
        """The routes of the scorecard and the stakeholder form."""
        pages = Pages("scorecard", "dialogs.scorecard")
        for path, handler in (
            ("/scorecard", self.page),
            ("/scorecard.json", self.json),
            ("/scorecard.csv", self.csv),
        ):
            pages.add(path, handler, access=Access.PUBLISHED, cache=PUBLIC_CACHE)
        pages.add(
            LINK_PATH + "{token}",
            self.feedback,
            access=Access.OPEN,
            cache=NO_STORE,
            methods=("GET", "POST"),
        )
        assert self.content.scorecard is not None
        pages.link(self.content.scorecard.title, "/scorecard", order=65)
        return pages

    async def page(self, request: PageRequest, stores: Stores) -> Html:
        """The scorecard as an HTML page."""
        card = await self.scorecard.build(stores, self._now())
        view = scorecard_view(self.content, card, await self._partners(stores))
        return Html(template="scorecard/scorecard.html", title=view["heading"], context=view)

    async def json(self, request: PageRequest, stores: Stores) -> Data:
        """The scorecard as JSON (open data)."""
        card = await self.scorecard.build(stores, self._now())
        return Data(
            body=json.dumps(render_json(self.content, card, await self._partners(stores))),
            content_type="application/json",
            open_data=True,
        )

    async def csv(self, request: PageRequest, stores: Stores) -> Data:
        """The scorecard as CSV (open data)."""
        card = await self.scorecard.build(stores, self._now())
        return Data(
            body=render_csv(card),
            content_type="text/csv",
            filename="scorecard.csv",
            open_data=True,
        )

    async def feedback(self, request: PageRequest, stores: Stores) -> Html:
        """The stakeholder form behind a single-use link: shown (GET), sent (POST)."""
        token = request.match.get("token", "")
        stakeholders = self.scorecard.stakeholders
        now = self._now()
        checked = await stakeholders.check(stores, token, now)
        if checked.state is not LinkState.OK or checked.round is None:
            return self._refused(checked)
        round_ = checked.round
        text = stakeholders.text
        form_token = self.guard.token(token)
        if request.method != "POST":
            view = form_view(text, round_, form_token)
            return Html(template="scorecard/feedback.html", title=text.title, context=view)
        if not self.guard.check(token, request.form.get("form_token", "")):
            return Html(
                template="scorecard/refused.html",
                title="This form cannot be sent",
                context={"heading": "This form cannot be sent", "message": NOT_OUR_FORM},
                status=400,
            )
        answer, problems = read_form(round_, request.form)
        if answer is None:
            view = form_view(text, round_, form_token, request.form, problems)
            return Html(
                template="scorecard/feedback.html",
                title=f"Error: {text.title}",
                context=view,
                status=400,
            )
        spent = await stakeholders.answer(stores, token, answer, now)
        if spent.state is not LinkState.OK:
            return self._refused(spent)
        return Html(
            template="scorecard/refused.html",
            title="Thank you",
            context={"heading": "Thank you", "message": text.thanks},
        )

    async def _partners(self, stores: Stores) -> RoundResults | None:
        latest = await self.scorecard.stakeholders.published(stores, 1)
        return latest[0] if latest else None

    def _refused(self, checked: LinkCheck) -> Html:
        status, heading, message = REFUSALS[checked.state]
        return Html(
            template="scorecard/refused.html",
            title=heading,
            context={"heading": heading, "message": message},
            status=status,
        )

    def _now(self) -> datetime:
        return self.clock.now()
