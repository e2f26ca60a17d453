"""The monthly staff barometer: rounds, answers, reminders, results.

Everyone: ``/barometer`` shows the open round's questions (or, once answered, a note; between
rounds, the latest results), ``/barometer results``, ``/barometer trend``, ``/barometer help``.
The comms team (``VALUESBOT_COMMS``) also: ``open``, ``close``, ``status``, ``preview``,
``remind`` and ``comments`` (to approve or reject the comments of a closed round).

A round's life is three plain functions that take the unit of work they run in, so the
scheduler, the comms team's commands and the CLI all run the same code:

- ``open_round(stores, now)``: opens the month's round and queues the questions for everyone
  in scope through the outbox (one message per person, idempotent key
  ``barometer:<period>:<platform>:<tenant>:<user>``), in the same transaction;
- ``send_reminders(stores, now)``: queues a reminder for everyone asked who has not answered
  (at most two a round);
- ``close_round(stores, now)``: closes it, seals its rows (see ``storage.barometer.SqlBarometer``),
  and queues the results card for the results channels.

``tick(stores, now)`` does whichever of these is due by the timetable; the
``barometer.tick`` schedule job runs it.

Anonymity (DESIGN.md section 4): answering writes the person's participation row and, in the
same transaction, the answer, which holds no person, sealed in the pool until a batch of more
than ``min_group`` answers goes into the response tables together (see
``storage.barometer.SqlBarometer``). The answered card carries a random token that only that
chat message holds; the database keeps only hashes of it, so whoever holds the token in that
message (and nobody else) can replace the answer until the round closes, and the person it was
given to can read the comms team's response to its comment once the round has closed
(``follow_up``, "You said, we did"). Nothing reads the
answers of an open round but that change: tallies, results, comments and the digest's headline
read closed rounds. Nothing here logs an answer.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from bot.audit import SCHEDULE, person_actor, record
from bot.content import BarometerText, Content
from bot.delivery import place_label, tell_comms, why
from bot.events import (
    ActionSubmitted,
    CommandReceived,
    ConversationKind,
    ConversationRef,
    DeliveryFailed,
    Platform,
    ScheduleFired,
)
from bot.router import Router
from bot.settings import Settings, parse_place
from bot.text import local_time, plural, shorten
from bot.turn import Turn
from bot.ui import Card, Field, card_to_json, commands_typed_with
from dialogs.barometer import cards
from dialogs.barometer.follow_up import WORDS as FOLLOW_UP_WORDS
from dialogs.barometer.follow_up import FollowUp
from dialogs.barometer.results import RoundResults, percent, publishable_groups, round_results
from dialogs.barometer.schedule import Timetable, month_name, next_period, period_of
from dialogs.barometer.tokens import new_token, token_hash
from storage.barometer import (
    AnswerKey,
    AnswerOutcome,
    BarometerAnswer,
    BarometerRound,
    RoundGroup,
    RoundQuestion,
    RoundScalePoint,
)
from storage.common import Period, PeriodCount
from storage.delivery import OutboxMessage
from storage.people import PersonKey
from storage.stores import Stores

log = logging.getLogger("valuesbot.barometer")

TICK_JOB = "barometer.tick"
# Set (in the closing transaction) when a round closed; the housekeeping then scrubs the
# physical traces of the deleted rows (``storage.scrub``) and clears it.
SCRUB_PENDING = "barometer_scrub_pending"
MAX_REMINDERS = 2
HISTORY = 36
COMMENTS_PER_REQUEST = 10
# Earlier than any round closed (the first round's results card counts every action done).
BEFORE_ANY_ROUND = datetime(2000, 1, 1, tzinfo=UTC)
# An unknown word is repeated back this long at most (someone may paste a whole text).
WORD_SHOWN = 40


ResultsNote = Callable[[Stores, datetime], Awaitable[str | None]]
"""A line another feature adds to a round's results card when it closes (the scorecard's
headline of what moved), or None."""


class ChannelDirectory(Protocol):
    """Who is in a channel, as the platform says: each platform's adapter implements it
    (Slack: ``conversations.members``; Teams: the conversation's members)."""

    async def members(self, place: ConversationRef, stores: Stores) -> Sequence[str]:
        """The user ids of the channel's members (people, not bots)."""
        ...


class AudienceError(Exception):
    """The people to ask cannot be worked out (a channel on a platform with no directory)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenResult:
    """What ``open_round`` did: ``opened`` is False when the month already had a round."""

    round: BarometerRound
    opened: bool
    invited: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class RemindResult:
    """What ``send_reminders`` did: reminder ``number`` queued for ``reminded`` people."""

    round: BarometerRound
    number: int
    reminded: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CloseResult:
    """What ``close_round`` did: the closed round, its results and the card posted."""

    round: BarometerRound
    results: RoundResults
    card: Card
    posted_to: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class TickResult:
    """What ``tick`` did (all None when nothing was due)."""

    opened: OpenResult | None = None
    reminded: RemindResult | None = None
    closed: CloseResult | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


class Barometer:
    """The staff barometer: commands, clicks and the round's life."""

    def __init__(
        self,
        *,
        content: Content,
        settings: Settings,
        directories: Mapping[Platform, ChannelDirectory] | None = None,
        answer_key: AnswerKey | None = None,
    ) -> None:
        self.content = content
        self.text: BarometerText = content.barometer
        self.settings = settings
        self.directories: dict[Platform, ChannelDirectory] = dict(directories or {})
        self.timetable = Timetable(
            zone=settings.zone,
            open_day=settings.barometer_open_day,
            open_time=settings.barometer_time,
            days=settings.barometer_days,
            reminder_days=settings.barometer_reminders,
        )
        self.follow_up = FollowUp(settings=settings, barometer=self, answer_key=answer_key)
        self.results_notes: list[ResultsNote] = []

    @property
    def page(self) -> str | None:
        """The address of the results page, when the public address is set."""
        if self.settings.public_url is None:
            return None
        return f"{self.settings.public_url}/barometer"

    def router(self) -> Router:
        """The barometer's command, clicks and schedule job."""
        router = Router()
        router.command("barometer", self.command)
        # A round's answers come by the thousand when it opens: the thanks can wait for
        # whoever is in a conversation with the bot meanwhile.
        router.action(cards.ANSWER, self.answer, patient=True)
        router.action(cards.CHANGE, self.change)
        router.action(cards.KEEP, self.keep)
        router.action(cards.ASK, self.ask)
        router.action(cards.APPROVE, self.approve)
        router.action(cards.REJECT, self.reject)
        router.schedule(TICK_JOB, self.scheduled)
        router.undelivered("barometer:", self.results_undelivered)
        router.include(self.follow_up.router())
        return router

    async def results_undelivered(self, turn: Turn[DeliveryFailed]) -> None:
        """A round's results card could not be posted in a results channel: comms are told
        (a poll or reminder a person cannot get is only counted, in ``valuesbot
        deliveries``)."""
        event = turn.event
        if event.to_person or not event.job.endswith(":results"):
            return
        period = event.job.removeprefix("barometer:").removesuffix(":results")
        label = await place_label(turn.stores, event)
        card = Card(
            title="The barometer results were not posted",
            text=f"I could not post the results of the {month_name(period)} barometer in "
            f"{label}: {why(event)}.\n\nAdd valuesbot to {label}; then whoever runs valuesbot "
            f"can post them again with valuesbot deliveries requeue {event.job} --failed. "
            "Meanwhile anyone can see them with /barometer results.",
            footer=f"Reason: {event.reason}",
        )
        await tell_comms(turn.stores, self.settings, event, card, turn.now)

    # Commands

    async def command(self, turn: Turn[CommandReceived]) -> None:
        """``/barometer [results | trend | help | open | close | status | preview | remind |
        comments]``, and "You said, we did": ``responses``, ``actions``, ``respond``,
        ``withdraw`` (``FollowUp``)."""
        word = " ".join(turn.event.text.split()).lower()
        stores, now = turn.stores, turn.now
        first, _, rest = turn.event.text.strip().partition(" ")
        if first.lower() in FOLLOW_UP_WORDS:
            comms = self._is_comms(turn)
            await self.follow_up.command(turn, first.lower(), rest, comms=comms)
        elif word in {"", "answer"}:
            turn.reply(await self.my_card(stores, turn.person, now), private=True)
        elif word in {"results", "result"}:
            turn.reply(await self.latest_results_card(stores), private=True)
        elif word == "trend":
            turn.reply(cards.trend_card(self.text, await self.published(stores)), private=True)
        elif word in {"help", "?"}:
            help_card = self.help_card(self._is_comms(turn))
            turn.reply(commands_typed_with(help_card, turn.command_prefix), private=True)
        elif word in {"open", "close", "status", "preview", "remind", "comments"}:
            if not self._is_comms(turn):
                turn.reply(
                    Card(
                        title="Only the comms team can do this",
                        text=f"/barometer {word} is for the comms team. You can answer the "
                        "barometer with /barometer and see results with /barometer results.",
                    ),
                    private=True,
                )
                return
            await self._comms(turn, word)
        else:
            help_card = self.help_card(
                self._is_comms(turn), f"I don't know {shorten(word, WORD_SHOWN)!r}."
            )
            turn.reply(commands_typed_with(help_card, turn.command_prefix), private=True)

    async def _comms(self, turn: Turn[CommandReceived], word: str) -> None:
        stores, now = turn.stores, turn.now
        actor = person_actor(turn.person)
        if word == "open":
            turn.reply(await self.open_card(stores, now, actor), private=True)
        elif word == "close":
            turn.reply(await self.close_card(stores, now, actor), private=True)
        elif word == "status":
            turn.reply(await self.status_card(stores, now), private=True)
        elif word == "preview":
            turn.reply(await self.preview_card(stores, now), private=True)
        elif word == "remind":
            turn.reply(await self.remind_card(stores, now, actor), private=True)
        elif word == "comments":
            for card in await self.comment_cards(stores):
                turn.reply(card, private=True)

    def help_card(self, comms: bool, problem: str = "") -> Card:
        """What ``/barometer`` can do (and, for the comms team, what it can do for them)."""
        rows = [
            Field(
                label="/barometer",
                value="Answer this month's barometer, or see the latest results.",
            ),
            Field(label="/barometer results", value="The latest published results."),
            Field(label="/barometer trend", value="How the answers have moved, month by month."),
            Field(
                label="/barometer responses",
                value="You said, we did: the comms team's responses to the latest comments.",
            ),
            Field(
                label="/barometer actions",
                value="You said, we did: what is being done, and where each action has got to.",
            ),
        ]
        if comms:
            rows += [
                Field(
                    label="/barometer open",
                    value="Open this month's round now and send it to everyone.",
                ),
                Field(
                    label="/barometer close", value="Close the open round and publish its results."
                ),
                Field(label="/barometer status", value="Response rate of the open round."),
                Field(
                    label="/barometer preview",
                    value="See the card people get (nothing is recorded).",
                ),
                Field(
                    label="/barometer remind",
                    value="Remind everyone who has not answered "
                    f"(at most {MAX_REMINDERS} a round).",
                ),
                Field(
                    label="/barometer comments",
                    value="Once a round has closed, approve or reject its comments before "
                    "they are published.",
                ),
                Field(
                    label="/barometer respond",
                    value="Respond to the published comments, one by one or by theme "
                    '(typed: /barometer respond ID "response" or ID ID --theme NAME '
                    '"response"); /barometer withdraw ID takes a response back.',
                ),
                Field(
                    label="/barometer actions add",
                    value='Record an action: /barometer actions add "what" [--theme NAME] '
                    "[--owner TEAM] [--due 2027-01-31]; then /barometer actions N done "
                    "(or planned, in-progress, dropped).",
                ),
            ]
        intro = (
            "Every month everyone is asked whether their work is making a positive difference. "
            "Answers are anonymous and the results are published for all to see."
        )
        return Card(
            title=self.text.title,
            text=f"{problem}\n\n{intro}".strip(),
            fields=tuple(rows),
            footer=f"Full results: {self.page}" if self.page else "",
        )

    async def my_card(self, stores: Stores, person: PersonKey, now: datetime) -> Card:
        """The open round's questions for this person, a note if they answered, or results."""
        current = await stores.barometer.current()
        if current is None or current.closes_at <= now:
            return await self.latest_results_card(stores)
        if await stores.barometer.has_answered(current.id, person):
            return cards.already_card(self.text, current, self.settings.zone)
        if not await self.may_answer(stores, current, person):
            return self._not_asked(current, person)
        return cards.question_card(self.text, current, self.settings.zone)

    async def may_answer(self, stores: Stores, round_: BarometerRound, person: PersonKey) -> bool:
        """True when the person may answer the round: it was sent to them, or it takes answers
        from anyone who asks (``BarometerRound.others_may_answer``)."""
        return round_.others_may_answer or await stores.barometer.invited(round_.id, person)

    def _not_asked(self, round_: BarometerRound, person: PersonKey) -> Card:
        return cards.not_asked_card(
            self.text, round_, self.settings.zone, person.platform, person.tenant
        )

    async def home_card(self, stores: Stores, person: PersonKey, now: datetime) -> Card | None:
        """The barometer on the person's home page: this month's round to answer (or answered),
        else the latest results in a line."""
        current = await stores.barometer.current()
        if (
            current is not None
            and current.closes_at > now
            and await self.may_answer(stores, current, person)
        ):
            answered = await stores.barometer.has_answered(current.id, person)
            return cards.home_card(self.text, current, answered, None, self.settings.zone)
        history = await self.published(stores, limit=1)
        latest = history[0] if history else None
        return cards.home_card(self.text, None, False, latest, self.settings.zone, self.page)

    async def latest_results_card(self, stores: Stores) -> Card:
        """The newest closed round's results, or a note when there are none yet."""
        history = await self.published(stores)
        if not history:
            return Card(
                title=f"{self.text.title} results",
                text="No round has closed yet. Results are published for everyone when a "
                "round closes.",
            )
        return cards.results_card(
            self.text,
            history[0],
            history[1:],
            self.page,
            we_did=await self.we_did_since_last(stores, history[0].round),
            responses_page=self.follow_up.page,
        )

    async def we_did_since_last(self, stores: Stores, round_: BarometerRound) -> str | None:
        """ "You said ..., we did ..." for the actions finished between the close of the round
        before ``round_`` and ``round_``'s close (what its results card carries)."""
        if round_.closed_at is None:
            return None
        earlier = [
            r.closed_at
            for r in await stores.barometer.closed(HISTORY)
            if r.closed_at is not None and r.closed_at < round_.closed_at
        ]
        since = max(earlier) if earlier else BEFORE_ANY_ROUND
        return await self.follow_up.we_did(stores, since, round_.closed_at)

    async def open_card(self, stores: Stores, now: datetime, actor: str = SCHEDULE) -> Card:
        """Open the month's round (comms: ``actor``, for the audit trail) and say what
        happened."""
        current = await stores.barometer.current()
        if current is not None:
            return Card(
                title="A round is already open",
                text=f"The {month_name(current.period)} round is open until "
                f"{local_time(current.closes_at, self.settings.zone)}.",
            )
        try:
            result = await self.open_round(stores, now, actor=actor)
        except AudienceError as problem:
            return Card(title="The round was not opened", text=str(problem))
        if not result.opened:
            upcoming = self.timetable.opens(next_period(result.round.period))
            return Card(
                title="This month's round has already run",
                text=f"The {month_name(result.round.period)} round has already run. The next "
                f"one opens {local_time(upcoming, self.settings.zone)}.",
            )
        return Card(
            title=f"Opened: {cards.title(self.text, result.round)}",
            text=f"The questions are queued for {plural(result.invited, 'person', 'people')}, "
            "delivered in their working hours. The round closes "
            f"{local_time(result.round.closes_at, self.settings.zone)}.",
            footer=cards.rule(result.round),
        )

    async def close_card(self, stores: Stores, now: datetime, actor: str = SCHEDULE) -> Card:
        """Close the open round (comms: ``actor``): its results, and where they were
        posted."""
        result = await self.close_round(stores, now, actor=actor)
        if result is None:
            return Card(title="No round is open", text="There is no open round to close.")
        where = (
            f"The results are queued for {plural(result.posted_to, 'results channel')}."
            if result.posted_to
            else "No results channel is set (VALUESBOT_BAROMETER_RESULTS): everyone sees the "
            "results with /barometer results and on the web page."
        )
        waiting = (
            []
            if self.why_no_comments(result.round)
            else await stores.barometer.comments(result.round.id, ("pending",))
        )
        if waiting:
            where += (
                f" {plural(len(waiting), 'comment')} {'waits' if len(waiting) == 1 else 'wait'} "
                "for the comms team to read: /barometer comments."
            )
        return Card(
            title=result.card.title,
            text=f"{where}\n\n{result.card.text}",
            bars=result.card.bars,
            fields=result.card.fields,
            footer=result.card.footer,
        )

    async def status_card(self, stores: Stores, now: datetime) -> Card:
        """How the open round is going: asked, answered, reminders, comments to read."""
        zone = self.settings.zone
        current = await stores.barometer.current()
        if current is None:
            upcoming = self.timetable.opens(period_of(now, zone))
            if upcoming <= now or await stores.barometer.by_period(period_of(now, zone)):
                upcoming = self.timetable.opens(next_period(period_of(now, zone)))
            auto = (
                f"The next round opens by itself {local_time(upcoming, zone)}."
                if self.settings.barometer_auto
                else "Rounds open only when the comms team opens them (/barometer open)."
            )
            return Card(title=f"{self.text.title}: no round open", text=auto)
        asked, answered = await stores.barometer.participation(current.id)
        rate = f" ({percent(answered / asked)})" if asked else ""
        fields = [
            Field(label="Answered", value=f"{answered} of {asked}{rate}"),
            Field(label="Closes", value=local_time(current.closes_at, zone)),
            Field(label="Reminders sent", value=f"{current.reminders_sent} of {MAX_REMINDERS}"),
            Field(
                label="Comments to read",
                value=f"once the round closes, if {current.comment_min} or more have answered",
            ),
        ]
        return Card(
            title=f"Status: {cards.title(self.text, current)}",
            text="Response rate only: nobody, comms included, sees answers before the round "
            "closes.",
            fields=tuple(fields),
            footer=cards.rule(current),
        )

    async def preview_card(self, stores: Stores, now: datetime) -> Card:
        """The card people get, marked as a preview (answering it records nothing)."""
        current = await stores.barometer.current()
        round_ = current or self.new_round(now, period_of(now, self.settings.zone))
        return cards.question_card(self.text, round_, self.settings.zone, preview=True)

    async def remind_card(self, stores: Stores, now: datetime, actor: str = SCHEDULE) -> Card:
        """Send the next reminder now (comms: ``actor``)."""
        current = await stores.barometer.current()
        if current is None:
            return Card(title="No round is open", text="There is nobody to remind.")
        if current.reminders_sent >= MAX_REMINDERS:
            return Card(
                title="No more reminders",
                text=f"This round has had its {MAX_REMINDERS} reminders: people are asked at "
                "most that often.",
            )
        result = await self.send_reminders(stores, now, force=True, actor=actor)
        if result is None:
            return Card(title="No reminder sent", text="Someone else sent it just now.")
        return Card(
            title=f"Reminder {result.number} of {MAX_REMINDERS} queued",
            text=f"{plural(result.reminded, 'person', 'people')} who "
            f"{'has' if result.reminded == 1 else 'have'} not answered will be reminded in "
            "their working hours.",
        )

    def why_no_comments(self, round_: BarometerRound) -> str:
        """Why the comments of ``round_`` cannot be shown or moderated, or "" when they can.

        The one rule for every way to a comment (``/barometer comments``, the CLI, an Approve or
        Reject click carrying a comment's id): only once the round has closed (until then
        nobody, comms included, reads any answer), and only when at least ``comment_min``
        people answered it, so that no comment can be tied to one of a few people."""
        month = month_name(round_.period)
        if round_.is_open:
            return (
                f"Comments on the {month} round are read once it closes, "
                f"{local_time(round_.closes_at, self.settings.zone)}: until then nobody, comms "
                "included, reads any answer."
            )
        if round_.answered < round_.comment_min:
            return (
                f"Comments on the {month} round are shown only when {round_.comment_min} or "
                f"more people answer, and {round_.answered} did, so that no comment can be tied "
                "to one of a few people."
            )
        return ""

    async def comment_cards(self, stores: Stores) -> list[Card]:
        """The latest closed round's comments waiting for the comms team (``why_no_comments``
        decides whether they may be read at all)."""
        closed = await stores.barometer.closed(1)
        if not closed:
            current = await stores.barometer.current()
            if current is None:
                return [Card(title="No comments", text="No round has run yet.")]
            return [Card(title="No comments to read yet", text=self.why_no_comments(current))]
        round_ = closed[0]
        problem = self.why_no_comments(round_)
        if problem:
            return [Card(title="No comments to read", text=problem)]
        waiting = await stores.barometer.comments(round_.id, ("pending",))
        if not waiting:
            return [Card(title="No comments to read", text="Every comment has been read.")]
        shown = [cards.comment_card(round_, c) for c in waiting[:COMMENTS_PER_REQUEST]]
        if len(waiting) > COMMENTS_PER_REQUEST:
            shown.append(
                Card(text=f"{len(waiting) - COMMENTS_PER_REQUEST} more: /barometer comments again.")
            )
        return shown

    async def moderate_by_id(
        self, stores: Stores, comment_id: str, status: str, actor: str = SCHEDULE, *, now: datetime
    ) -> str:
        """Approve or reject a comment of the latest closed round (the CLI, as ``actor``): ""
        when done, else why not."""
        closed = await stores.barometer.closed(1)
        if not closed:
            return "No round has closed yet: comments are read once a round closes."
        round_ = closed[0]
        problem = self.why_no_comments(round_)
        if problem:
            return problem
        if not await stores.barometer.moderate(round_.id, comment_id, status):
            return f"There is no comment {comment_id!r} in the {month_name(round_.period)} round."
        await record(stores, actor, f"barometer.comment.{status}", comment_id, now)
        return ""

    # Clicks

    async def answer(self, turn: Turn[ActionSubmitted]) -> None:
        """The "Send my answers" button: a first answer, or a new one through the card's
        token."""
        values = turn.event.values
        round_id = values.get("round", "")
        if round_id == cards.PREVIEW:
            turn.reply(Card(title="This was a preview", text="Nothing was recorded."), private=True)
            return
        round_ = await turn.stores.barometer.get(round_id)
        if round_ is None or not round_.is_open or round_.closes_at <= turn.now:
            turn.reply(cards.closed_card(self.text), private=True)
            return
        token = values.get("token", "")
        answer, problem = self._read(round_, values)
        if answer is None:
            card = cards.question_card(
                self.text, round_, self.settings.zone, lead=problem, token=token
            )
            turn.reply(card, private=True)
            return
        zone = self.settings.zone
        if token:
            outcome = await turn.stores.barometer.change(round_.id, token_hash(token), answer)
            if outcome is AnswerOutcome.CHANGED:
                turn.update(self._thanks(turn, round_, token, changed=True, answer=answer))
            elif outcome is AnswerOutcome.CLOSED:
                turn.reply(cards.closed_card(self.text), private=True)
            else:
                turn.reply(self._unknown_token(), private=True)
            return
        token = new_token()
        outcome = await turn.stores.barometer.answer(
            round_.id, turn.person, answer, token_hash(token)
        )
        if outcome is AnswerOutcome.RECORDED:
            turn.update(self._thanks(turn, round_, token, changed=False, answer=answer))
        elif outcome is AnswerOutcome.ALREADY:
            turn.reply(cards.already_card(self.text, round_, zone), private=True)
        elif outcome is AnswerOutcome.NOT_ASKED:
            turn.reply(self._not_asked(round_, turn.person), private=True)
        else:
            turn.reply(cards.closed_card(self.text), private=True)

    async def ask(self, turn: Turn[ActionSubmitted]) -> None:
        """ "Answer now" on the home page: the questions (or a note, or results) in the
        person's own conversation."""
        turn.reply(await self.my_card(turn.stores, turn.person, turn.now), private=True)

    async def change(self, turn: Turn[ActionSubmitted]) -> None:
        """ "Change my answer": the questions again, on the same card, with its token."""
        round_, token = await self._held(turn)
        if round_ is not None:
            keep = {k: v for k, v in turn.event.values.items() if k == "commented"}
            turn.update(cards.change_card(self.text, round_, self.settings.zone, token, keep))

    async def keep(self, turn: Turn[ActionSubmitted]) -> None:
        """ "Keep my answer": back to the thank-you card."""
        round_, token = await self._held(turn)
        if round_ is not None:
            commented = turn.event.values.get("commented") == "1"
            turn.update(self._thanks(turn, round_, token, changed=False, commented=commented))

    def _thanks(
        self,
        turn: Turn[ActionSubmitted],
        round_: BarometerRound,
        token: str,
        *,
        changed: bool,
        answer: BarometerAnswer | None = None,
        commented: bool = False,
    ) -> Card:
        """The "thank you, recorded" card, marked for the person who holds it."""
        return cards.thanks_card(
            self.text,
            round_,
            self.settings.zone,
            token,
            changed=changed,
            holder=self.follow_up.holder_mark(token_hash(token), turn.person),
            commented=bool(answer.comment) if answer is not None else commented,
        )

    async def approve(self, turn: Turn[ActionSubmitted]) -> None:
        """The comms team approves a comment for publication."""
        await self._moderate(turn, "approved", "✓ Approved: it is published with the results.")

    async def reject(self, turn: Turn[ActionSubmitted]) -> None:
        """The comms team rejects a comment: it is never published."""
        await self._moderate(turn, "rejected", "✗ Rejected: it will not be published.")

    async def scheduled(self, turn: Turn[ScheduleFired]) -> None:
        """The ``barometer.tick`` job: do whatever is due."""
        await self.tick(turn.stores, turn.now)

    async def _held(self, turn: Turn[ActionSubmitted]) -> tuple[BarometerRound | None, str]:
        values = turn.event.values
        round_ = await turn.stores.barometer.get(values.get("round", ""))
        token = values.get("token", "")
        if round_ is None or not round_.is_open or round_.closes_at <= turn.now:
            turn.reply(cards.closed_card(self.text), private=True)
            return None, token
        if not token or not await turn.stores.barometer.holds(round_.id, token_hash(token)):
            turn.reply(self._unknown_token(), private=True)
            return None, token
        return round_, token

    async def _moderate(self, turn: Turn[ActionSubmitted], status: str, done: str) -> None:
        if not self._is_comms(turn):
            turn.reply(
                Card(
                    title="Only the comms team can do this",
                    text="Comments are approved by the comms team.",
                ),
                private=True,
            )
            return
        values = turn.event.values
        round_ = await turn.stores.barometer.get(values.get("round", ""))
        problem = self.why_no_comments(round_) if round_ is not None else ""
        if problem:
            # The card is left as it was: nothing about the comment is shown or changed.
            turn.reply(Card(title="Comments cannot be read yet", text=problem), private=True)
            return
        comment_id = values.get("comment", "")
        found = (
            [c for c in await turn.stores.barometer.comments(round_.id) if c.id == comment_id]
            if round_ is not None
            else []
        )
        if round_ is None or not found:
            turn.reply(
                Card(
                    title="That comment has gone",
                    text="It is not among the comments of that round.",
                ),
                private=True,
            )
            return
        await turn.stores.barometer.moderate(round_.id, comment_id, status)
        await record(
            turn.stores,
            person_actor(turn.person),
            f"barometer.comment.{status}",
            comment_id,
            turn.now,
        )
        turn.update(cards.comment_card(round_, found[0], done))

    def _read(
        self, round_: BarometerRound, values: Mapping[str, str]
    ) -> tuple[BarometerAnswer | None, str]:
        points = {p.id for p in round_.scale}
        answers: dict[str, str] = {}
        missing = []
        for question in round_.questions:
            given = values.get(f"q_{question.id}", "")
            if given in points:
                answers[question.id] = given
            else:
                missing.append(question.short)
        if missing:
            return None, f"Please answer every question (still to answer: {', '.join(missing)})."
        group = values.get("group") or None
        if group is not None and group not in {g.id for g in round_.groups}:
            return None, "Please pick your group from the list, or leave it empty."
        comment = " ".join(values.get("comment", "").split()) if round_.asks_comment else ""
        if len(comment) > cards.COMMENT_LIMIT:
            return None, f"Please keep the comment under {cards.COMMENT_LIMIT} characters."
        return BarometerAnswer(values=answers, group=group, comment=comment), ""

    def _unknown_token(self) -> Card:
        return Card(
            title="This card cannot change an answer",
            text="Only whoever holds the token in the message where you answered can change "
            "that answer, while the round is open.",
        )

    def _is_comms(self, turn: Turn[Any]) -> bool:
        actor = turn.event.actor
        return self.settings.is_comms(
            str(turn.event.conversation.platform), actor.id, actor.aliases
        )

    # The round's life

    def new_round(
        self, now: datetime, period: str, closes_at: datetime | None = None
    ) -> BarometerRound:
        """A round of ``period`` opening at ``now``, with today's content and rules."""
        text = self.text
        return BarometerRound(
            id=secrets.token_hex(8),
            period=period,
            opened_at=now,
            closes_at=closes_at or self.timetable.closes(now),
            min_group=self.settings.min_group,
            comment_min=self.settings.comment_min,
            questions=tuple(
                RoundQuestion(id=q.id, text=q.text, short=q.short) for q in text.questions
            ),
            scale=tuple(RoundScalePoint(id=p.id, label=p.label, agree=p.agree) for p in text.scale),
            groups=tuple(RoundGroup(id=g.id, label=g.label) for g in text.groups),
            asks_comment=True,
            channels=self.settings.barometer_channels,
            others_may_answer=not self.settings.barometer_channels
            or self.settings.barometer_open_to_all,
        )

    async def audience(self, stores: Stores) -> list[PersonKey]:
        """The people to ask: members of the configured channels, else everyone the bot
        knows."""
        if not self.settings.barometer_channels:
            return await stores.people.everyone()
        people: dict[PersonKey, None] = {}
        for setting in self.settings.barometer_channels:
            platform, tenant, conversation = parse_place(setting)
            directory = self.directories.get(Platform(platform))
            if directory is None:
                raise AudienceError(
                    f"I cannot list the members of {platform} channels yet "
                    f"(VALUESBOT_BAROMETER_CHANNELS has {setting})."
                )
            place = await stores.people.conversation(platform, tenant, conversation)
            place = place or ConversationRef(
                platform=Platform(platform),
                tenant=tenant,
                conversation=conversation,
                kind=ConversationKind.CHANNEL,
            )
            for member in await directory.members(place, stores):
                people[PersonKey(platform, tenant, member)] = None
        return list(people)

    async def open_round(
        self,
        stores: Stores,
        now: datetime,
        *,
        period: str | None = None,
        closes_at: datetime | None = None,
        actor: str = SCHEDULE,
    ) -> OpenResult:
        """Open the round of ``period`` (default: this month) and queue its questions for
        everyone in scope, one outbox message each, in the caller's transaction. If the month
        already has a round, nothing changes (``opened`` False)."""
        period = period or period_of(now, self.settings.zone)
        existing = await stores.barometer.by_period(period)
        if existing is not None:
            return OpenResult(round=existing, opened=False)
        people = await self.audience(stores)
        round_ = self.new_round(now, period, closes_at)
        if not await stores.barometer.open(round_):
            raced = await stores.barometer.by_period(period)
            assert raced is not None
            return OpenResult(round=raced, opened=False)
        await stores.barometer.invite(round_.id, people)
        card = card_to_json(cards.question_card(self.text, round_, self.settings.zone)).decode()
        # In multi-row statements: one a person took most of the time to open a round.
        await stores.outbox.enqueue_many(
            [
                OutboxMessage(
                    key=f"barometer:{period}:{person.platform}:{person.tenant}:{person.user}",
                    job=f"barometer:{period}",
                    platform=person.platform,
                    tenant=person.tenant,
                    recipient=person.user,
                    to_person=True,
                    card=card,
                )
                for person in people
            ],
            now,
        )
        await record(stores, actor, "barometer.open", period, now)
        log.info("barometer round opened period=%s asked=%d", period, len(people))
        return OpenResult(round=round_, opened=True, invited=len(people))

    def reminders_due(self, round_: BarometerRound, now: datetime) -> int:
        """How many reminders the timetable wants sent by ``now``."""
        times = self.timetable.reminders(round_.opened_at, round_.closes_at)
        return min(MAX_REMINDERS, sum(1 for t in times if t <= now))

    async def send_reminders(
        self, stores: Stores, now: datetime, *, force: bool = False, actor: str = SCHEDULE
    ) -> RemindResult | None:
        """Queue a reminder for everyone asked in the open round who has not answered, if one is
        due by the timetable (or ``force``, for the comms team), and fewer than two were sent.
        None when nothing was sent. Reminders missed while the bot was down are not sent twice:
        only the latest due goes out."""
        round_ = await stores.barometer.current()
        if round_ is None or round_.closes_at <= now:
            return None
        sent = round_.reminders_sent
        wanted = sent + 1 if force else self.reminders_due(round_, now)
        if wanted <= sent or wanted > MAX_REMINDERS:
            return None
        if not await stores.barometer.reminded(round_.id, sent, wanted):
            return None
        waiting = await stores.barometer.waiting(round_.id)
        card = card_to_json(cards.reminder_card(self.text, round_, self.settings.zone)).decode()
        await stores.outbox.enqueue_many(
            [
                OutboxMessage(
                    key=f"barometer:{round_.period}:reminder{wanted}:"
                    f"{person.platform}:{person.tenant}:{person.user}",
                    job=f"barometer:{round_.period}:reminder{wanted}",
                    platform=person.platform,
                    tenant=person.tenant,
                    recipient=person.user,
                    to_person=True,
                    card=card,
                )
                for person in waiting
            ],
            now,
        )
        await record(stores, actor, "barometer.remind", f"{round_.period}#{wanted}", now)
        log.info(
            "barometer reminder queued period=%s number=%d people=%d",
            round_.period,
            wanted,
            len(waiting),
        )
        return RemindResult(round=round_, number=wanted, reminded=len(waiting))

    async def close_round(
        self, stores: Stores, now: datetime, *, actor: str = SCHEDULE
    ) -> CloseResult | None:
        """Close the open round, seal its rows, and queue its results card for every results
        channel. None when no round is open (or someone closed it first)."""
        current = await stores.barometer.current()
        if current is None:
            return None
        closed = await stores.barometer.close(current.id, now)
        if closed is None:
            return None
        tally = await stores.barometer.tally(closed.id)
        sizes: dict[str | None, int] = {}
        first = closed.questions[0].id
        for (question, group, _), count in tally.counts.items():
            if question == first:
                sizes[group] = sizes.get(group, 0) + count
        keep = publishable_groups(sizes, closed.min_group)
        await stores.barometer.seal(
            closed.id,
            keep,
            keep_comments=tally.respondents >= closed.comment_min,
            keep_answers=tally.respondents >= closed.min_group,
        )
        await stores.meta.put(SCRUB_PENDING, closed.period)
        history = await self.published(stores)
        results = history[0]
        card = cards.results_card(
            self.text,
            results,
            history[1:],
            self.page,
            we_did=await self.we_did_since_last(stores, closed),
            responses_page=self.follow_up.page,
        )
        for note in self.results_notes:
            try:
                line = await note(stores, now)
            except Exception:
                # Another feature's line is not worth losing the round's close over.
                log.exception("barometer results note failed period=%s", closed.period)
                continue
            if line:
                card = replace(card, text=f"{card.text}\n\n{line}")
        posted = 0
        body = card_to_json(card).decode()
        for setting in self.settings.barometer_results:
            platform, tenant, conversation = parse_place(setting)
            if await stores.outbox.enqueue(
                OutboxMessage(
                    key=f"barometer:{closed.period}:results:{platform}:{tenant}:{conversation}",
                    job=f"barometer:{closed.period}:results",
                    platform=platform,
                    tenant=tenant,
                    recipient=conversation,
                    to_person=False,
                    card=body,
                    respect_working_hours=False,
                    counts_towards_cap=False,
                ),
                now,
            ):
                posted += 1
        await record(stores, actor, "barometer.close", closed.period, now)
        log.info("barometer round closed period=%s", closed.period)
        return CloseResult(round=closed, results=results, card=card, posted_to=posted)

    async def tick(self, stores: Stores, now: datetime) -> TickResult:
        """Whatever the timetable says is due: close a round whose time is up, send a due
        reminder, open the month's round (when rounds open by themselves). Safe to run often
        and on several instances at once: each step is claimed in the database."""
        current = await stores.barometer.current()
        if current is not None and current.closes_at <= now:
            return TickResult(closed=await self.close_round(stores, now))
        if current is not None:
            return TickResult(reminded=await self.send_reminders(stores, now))
        if not self.settings.barometer_auto:
            return TickResult()
        period = period_of(now, self.settings.zone)
        opens = self.timetable.opens(period)
        due = opens <= now < self.timetable.closes(opens)
        if not due or await stores.barometer.by_period(period) is not None:
            return TickResult()
        try:
            result = await self.open_round(
                stores, now, period=period, closes_at=self.timetable.closes(opens)
            )
        except AudienceError as problem:
            log.error("barometer round not opened: %s", problem)
            return TickResult(notes=(str(problem),))
        return TickResult(opened=result)

    async def next_due(self, stores: Stores, now: datetime) -> datetime:
        """When ``tick`` next has something to do (for a scheduler that sleeps until then)."""
        current = await stores.barometer.current()
        if current is not None:
            upcoming = [
                t
                for t in self.timetable.reminders(current.opened_at, current.closes_at)[
                    current.reminders_sent :
                ]
                if t > now
            ]
            return min([current.closes_at, *upcoming])
        period = period_of(now, self.settings.zone)
        opens = self.timetable.opens(period)
        if opens <= now:
            opens = self.timetable.opens(next_period(period))
        return opens

    async def results(self, stores: Stores, round_: BarometerRound) -> RoundResults:
        """What a closed round shows."""
        tally = await stores.barometer.tally(round_.id)
        approved = await stores.barometer.comments(round_.id, ("approved",))
        replies = await stores.follow_up.replies(round_.id) if approved else []
        return round_results(tally, approved, replies)

    async def published(self, stores: Stores, limit: int = HISTORY) -> list[RoundResults]:
        """The results of closed rounds, newest first."""
        return [await self.results(stores, r) for r in await stores.barometer.closed(limit)]


class Headlines:
    """The latest published result in one line, for the weekly digest: "64% agreed: My work is
    making a positive difference to the NHS (May 2027)". None until a round is published with
    enough answers to show."""

    def __init__(self, barometer: Barometer) -> None:
        self.barometer = barometer

    async def latest(self, stores: Stores, now: datetime) -> str | None:
        """The headline of the latest round closed by ``now``."""
        published = await self.barometer.published(stores, 1)
        if not published:
            return None
        latest = published[0]
        closed = latest.round.closed_at
        if not latest.shown or not latest.questions or closed is None or closed > now:
            return None
        first = latest.questions[0]
        month = month_name(latest.round.period)
        return f"{percent(first.agree_share)} agreed: {first.question.text} ({month})"


class SaidDidActivity:
    """ "You said, we did" counted by period for the scorecard (``engagement:said_did_*``):
    responses published and actions done. They count what the comms team did, in the open on
    ``/you-said-we-did``: no person is behind them (``people`` is 0)."""

    async def said_did(
        self, stores: Stores, what: str, periods: Sequence[Period]
    ) -> Mapping[str, PeriodCount] | None:
        """``"responses"`` or ``"actions"`` in each period."""
        counted = await stores.follow_up.activity(what, periods)
        return {period: PeriodCount(count=n, people=0) for period, n in counted.items()}


class ActionsDone:
    """ "You said ..., we did ..." for the weekly digest: the actions the comms team marked
    done in a time, in one line (``FollowUp.we_did``)."""

    def __init__(self, barometer: Barometer) -> None:
        self.barometer = barometer

    async def line(self, stores: Stores, after: datetime, until: datetime) -> str | None:
        """The line for the actions done in (after, until], or None."""
        return await self.barometer.follow_up.we_did(stores, after, until)
