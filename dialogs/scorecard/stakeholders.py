"""Feedback from external partners and stakeholders: rounds of single-use links and the form
they open.

Comms open a round from the command line (``valuesbot stakeholders open``), which writes a CSV
file of links (``VALUESBOT_PUBLIC_URL/feedback/<token>``) for them to send however they like.
The database keeps only each token's hash. A link opens a short form (``pages``): the round's
questions on the barometer's scale, an optional comment and an optional organisation type.
Posting it spends the link and keeps the answer in one transaction, so a link answers once
(two posts at once: one wins). The answer waits sealed until the round closes
(``storage.scorecard``); then its results go through the barometer's publication rules
(``sources.stakeholder_results``) and comments wait for comms to approve them.

The form carries a token of its own (``FormGuard``): a keyed hash of the link's token, checked
when it is posted, so that a post the form did not make (from another site) is refused. There is
no session to tie it to, which is why it is tied to the link.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.audit import SCHEDULE, record
from bot.content import Content, StakeholderText
from bot.settings import Settings
from dialogs.barometer.results import RoundResults, publishable_groups
from dialogs.barometer.service import SCRUB_PENDING
from dialogs.scorecard.measures import PERIOD_FORMS, is_period
from dialogs.scorecard.sources import stakeholder_results
from storage.barometer import BarometerAnswer, RoundGroup, RoundQuestion, RoundScalePoint
from storage.scorecard import LinkCheck, LinkState, StakeholderComment, StakeholderRound
from storage.stores import Stores

log = logging.getLogger("valuesbot.scorecard")

LINK_PATH = "/feedback/"
# 32 URL-safe characters (192 random bits); a path that cannot be one is refused unread.
LINK_TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")
MAX_INVITES = 20_000
DEFAULT_DAYS = 28
MAX_DAYS = 180
COMMENT_LIMIT = 1000
HISTORY = 12
_FORM_LABEL = "valuesbot stakeholder form v1\x1f"


def link_hash(token: str) -> str:
    """What the database keeps of a link's token."""
    return hashlib.sha256(token.encode()).hexdigest()


class FormGuard:
    """The form's own token: a keyed hash of the link's token with a secret of the server's,
    so only a form the server gave for that link can be posted to it."""

    def __init__(self, secret: str) -> None:
        self._secret = hashlib.sha256(_FORM_LABEL.encode() + secret.encode()).digest()

    def token(self, link: str) -> str:
        """The form token for a link."""
        return hmac.new(self._secret, link.encode(), hashlib.sha256).hexdigest()

    def check(self, link: str, given: str) -> bool:
        """True when ``given`` is the form token of ``link``."""
        return hmac.compare_digest(self.token(link), given)


@dataclass(frozen=True, slots=True, kw_only=True)
class FormProblem:
    """A field the form must be sent again for, and what to do."""

    field: str
    message: str


def read_form(
    round_: StakeholderRound, form: Mapping[str, str]
) -> tuple[BarometerAnswer | None, list[FormProblem]]:
    """The answer a posted form holds, or what is missing or wrong in it."""
    points = {p.id for p in round_.scale}
    problems = []
    values = {}
    for question in round_.questions:
        given = form.get(f"q_{question.id}", "")
        if given in points:
            values[question.id] = given
        else:
            problems.append(
                FormProblem(field=f"q_{question.id}", message=f"Answer: {question.text}")
            )
    group = form.get("organisation", "") or None
    if group is not None and group not in {g.id for g in round_.groups}:
        problems.append(
            FormProblem(field="organisation", message="Pick an organisation type from the list")
        )
    comment = " ".join(form.get("comment", "").split())
    if len(comment) > COMMENT_LIMIT:
        problems.append(
            FormProblem(
                field="comment",
                message=f"Keep your comment to {COMMENT_LIMIT} characters or fewer (it has "
                f"{len(comment)})",
            )
        )
    if problems:
        return None, problems
    return BarometerAnswer(values=values, group=group, comment=comment), []


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenedRound:
    """A round just opened and the links to send (their tokens are kept nowhere else)."""

    round: StakeholderRound
    links: tuple[str, ...]


class RoundRefused(Exception):
    """A round could not be opened or closed; the message says why."""


class Stakeholders:
    """Stakeholder rounds: open, close, results, comments."""

    def __init__(self, *, content: Content, settings: Settings) -> None:
        assert content.scorecard is not None
        self.text: StakeholderText = content.scorecard.stakeholders
        self.scale = tuple(
            RoundScalePoint(id=p.id, label=p.label, agree=p.agree) for p in content.barometer.scale
        )
        self.settings = settings

    def link(self, token: str) -> str:
        """The address a link's token is reached at."""
        base = self.settings.public_url or ""
        return f"{base}{LINK_PATH}{token}"

    def new_round(
        self, now: datetime, period: str, questions: Sequence[str], days: int
    ) -> StakeholderRound:
        """A round with today's content and rules, asking ``questions`` (ids; all when
        empty)."""
        wanted = list(questions) or [q.id for q in self.text.questions]
        known = {q.id: q for q in self.text.questions}
        unknown = [q for q in wanted if q not in known]
        if unknown:
            raise RoundRefused(
                f"no stakeholder question {', '.join(unknown)} (the content file has "
                f"{', '.join(known)})"
            )
        if not is_period(period):
            raise RoundRefused(f"period {period!r} is not {PERIOD_FORMS}")
        if not 1 <= days <= MAX_DAYS:
            raise RoundRefused(f"a round stays open from 1 to {MAX_DAYS} days")
        return StakeholderRound(
            id=secrets.token_hex(8),
            period=period,
            opened_at=now,
            closes_at=now + timedelta(days=days),
            min_group=self.settings.min_group,
            comment_min=self.settings.comment_min,
            questions=tuple(
                RoundQuestion(id=q, text=known[q].text, short=known[q].short)
                for q in dict.fromkeys(wanted)
            ),
            scale=self.scale,
            groups=tuple(RoundGroup(id=t.id, label=t.label) for t in self.text.organisation_types),
        )

    async def open(
        self,
        stores: Stores,
        now: datetime,
        *,
        period: str,
        invites: int,
        questions: Sequence[str] = (),
        days: int = DEFAULT_DAYS,
        actor: str = SCHEDULE,
    ) -> OpenedRound:
        """Open a round with ``invites`` single-use links (``RoundRefused`` when a round is open
        or the period had one)."""
        if self.settings.public_url is None:
            raise RoundRefused(
                "set VALUESBOT_PUBLIC_URL (the address people reach the bot's pages at): the "
                "links are made from it"
            )
        if not 1 <= invites <= MAX_INVITES:
            raise RoundRefused(f"--invites must be from 1 to {MAX_INVITES}")
        round_ = self.new_round(now, period, questions, days)
        current = await stores.scorecard.current_round()
        if current is not None:
            raise RoundRefused(
                f"the {current.period} round is open: close it first (valuesbot stakeholders close)"
            )
        if await stores.scorecard.round_by_period(period) is not None:
            raise RoundRefused(f"{period} has had a round already: choose another period")
        tokens = tuple(secrets.token_urlsafe(24) for _ in range(invites))
        if not await stores.scorecard.open_round(round_, [link_hash(t) for t in tokens]):
            raise RoundRefused("another round was opened at the same moment")
        await record(stores, actor, "stakeholders.open", f"{period} ({invites} links)", now)
        log.info("stakeholder round opened period=%s links=%d", period, invites)
        return OpenedRound(round=round_, links=tuple(self.link(t) for t in tokens))

    async def close(
        self, stores: Stores, now: datetime, actor: str = SCHEDULE
    ) -> StakeholderRound | None:
        """Close the open round, erase what it may never show (small organisation types,
        comments below ``comment_min``, everything below ``min_group``), and record it. None
        when no round is open."""
        current = await stores.scorecard.current_round()
        if current is None:
            return None
        closed = await stores.scorecard.close_round(current.id, now)
        if closed is None:
            return None
        tally = await stores.scorecard.tally(closed.id)
        sizes: dict[str | None, int] = {}
        first = closed.questions[0].id
        for (question, group, _), count in tally.counts.items():
            if question == first:
                sizes[group] = sizes.get(group, 0) + count
        await stores.scorecard.seal(
            closed.id,
            publishable_groups(sizes, closed.min_group),
            keep_comments=tally.respondents >= closed.comment_min,
            keep_answers=tally.respondents >= closed.min_group,
        )
        # The housekeeping scrubs the physical traces of what closing rewrote.
        await stores.meta.put(SCRUB_PENDING, f"stakeholders {closed.period}")
        await record(stores, actor, "stakeholders.close", closed.period, now)
        log.info("stakeholder round closed period=%s", closed.period)
        return closed

    async def close_due(self, stores: Stores, now: datetime) -> StakeholderRound | None:
        """Close the open round if its time is up (the ``scorecard.tick`` job)."""
        current = await stores.scorecard.current_round()
        if current is None or current.closes_at > now:
            return None
        return await self.close(stores, now)

    async def results(self, stores: Stores, round_: StakeholderRound) -> RoundResults:
        """What a closed round shows."""
        tally = await stores.scorecard.tally(round_.id)
        approved = [c.text for c in await stores.scorecard.comments(round_.id, ("approved",))]
        return stakeholder_results(tally, approved)

    async def published(self, stores: Stores, limit: int = HISTORY) -> list[RoundResults]:
        """The results of closed rounds, newest first."""
        return [await self.results(stores, r) for r in await stores.scorecard.closed_rounds(limit)]

    async def check(self, stores: Stores, token: str, now: datetime) -> LinkCheck:
        """What a link can do now (a malformed token is unknown, unread)."""
        if not LINK_TOKEN.fullmatch(token):
            return LinkCheck(state=LinkState.UNKNOWN)
        return await stores.scorecard.check_link(link_hash(token), now)

    async def answer(
        self, stores: Stores, token: str, answer: BarometerAnswer, now: datetime
    ) -> LinkCheck:
        """Spend the link on this answer (``OK`` once)."""
        if not LINK_TOKEN.fullmatch(token):
            return LinkCheck(state=LinkState.UNKNOWN)
        return await stores.scorecard.answer(link_hash(token), answer, now)

    def why_no_comments(self, round_: StakeholderRound) -> str:
        """Why a round's comments cannot be read, or "" when they can: only once it has
        closed, and only when ``comment_min`` or more answered (below that they were erased
        when it closed)."""
        if round_.is_open:
            return (
                f"Comments on the {round_.period} round are read once it closes: until then "
                "nobody, comms included, reads any answer."
            )
        if round_.answered < round_.comment_min:
            return (
                f"Comments on the {round_.period} round are shown only when "
                f"{round_.comment_min} or more answer, and {round_.answered} did, so they were "
                "not kept."
            )
        return ""

    async def latest_closed(self, stores: Stores) -> StakeholderRound | None:
        """The newest closed round."""
        closed = await stores.scorecard.closed_rounds(1)
        return closed[0] if closed else None

    async def waiting_comments(
        self, stores: Stores
    ) -> tuple[StakeholderRound | None, list[StakeholderComment], str]:
        """The latest closed round's comments waiting for comms, or why there are none to
        read."""
        round_ = await self.latest_closed(stores)
        if round_ is None:
            current = await stores.scorecard.current_round()
            return (
                None,
                [],
                (self.why_no_comments(current) if current else "No stakeholder round has run yet."),
            )
        problem = self.why_no_comments(round_)
        if problem:
            return round_, [], problem
        return round_, await stores.scorecard.comments(round_.id, ("pending",)), ""

    async def moderate(
        self, stores: Stores, comment_id: str, status: str, actor: str, now: datetime
    ) -> str:
        """Approve or reject a comment of the latest closed round: "" when done, else why
        not."""
        round_ = await self.latest_closed(stores)
        if round_ is None:
            return "No stakeholder round has closed yet."
        problem = self.why_no_comments(round_)
        if problem:
            return problem
        if not await stores.scorecard.moderate(round_.id, comment_id, status):
            return f"There is no comment {comment_id!r} in the {round_.period} round."
        await record(stores, actor, f"stakeholders.comment.{status}", comment_id, now)
        return ""
