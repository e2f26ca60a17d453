"""The weekly values digest that comms schedule to channels (``/digest``, comms only).

A digest brings to a channel the case studies approved since its last digest, the commitments
shared since then (at most a week back: a count and a few examples), the latest published
barometer headline, "You said ..., we did ..." for the actions the barometer's "You said, we
did" finished since the channel's last digest, and a behaviour of the week, in rotation. A
week with nothing new sends a short note, or nothing when the schedule says so; never an empty
card.

Nothing is posted to a channel twice. A story goes to a channel once; commitments are counted
from the channel's last digest on; and a digest that follows another one to the same channel in
the same calendar week (``/digest send-now`` twice, or before the scheduled one) leaves out the
barometer headline that one gave, and is not sent at all when nothing is new since.

Long digests are split over several cards, each within the platforms' limits, and when
``VALUESBOT_PUBLIC_URL`` is set the last card links to the whole digest as a web page
(``GET /digest/<id>``, one of the hub's pages: ``dialogs/hub``).

Scheduling, exactly once. A schedule is "every <weekday> at <hh:mm> in <time zone>", one per
channel. Its slots are wall-clock times in that zone, so a Monday 09:00 Europe/London digest
goes at 09:00 local time in winter and in summer alike. The scheduler (another part of the
bot) asks ``Digests.due(stores, now)`` which slots are due and calls
``Digests.run_digest(stores, schedule, period, now)`` for each; ``run_digest`` first claims the
(schedule, period) slot with ``INSERT ... ON CONFLICT DO NOTHING`` (``claim_digest_slot``) and
only the winner composes and queues the digest, in the same transaction, through the outbox.
So several instances, retries and restarts send each digest once; and a case study reaches a
channel at most once (``digest_items``), even from two digests at once.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import TypeAdapter

from bot.audit import SCHEDULE, person_actor, record
from bot.content import Behaviour, Content
from bot.delivery import place_label, tell_comms, why
from bot.events import (
    CommandReceived,
    ConversationKind,
    ConversationRef,
    DeliveryFailed,
    Platform,
    ScheduleFired,
)
from bot.router import Router
from bot.settings import Settings
from bot.text import local_date, local_time, not_understood, plural, shorten
from bot.turn import Turn
from bot.ui import Card, Field, card_to_json, commands_typed_with
from dialogs.behaviours import behaviour_names
from dialogs.case_studies import only_comms
from dialogs.commitments import sentence
from storage.case_studies import CaseStudy
from storage.commitments import Commitment
from storage.delivery import OutboxMessage
from storage.digests import DigestRun, DigestRunStatus, DigestSchedule, DigestScheduleStatus
from storage.people import PersonKey
from storage.stores import Stores

log = logging.getLogger("valuesbot.digest")

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

# The schedule job that sends due digests; the default schedule runs it every minute.
TICK_JOB = "digest.tick"

# A slot missed (every instance down) is still sent this long after its time, not later.
CATCH_UP = timedelta(hours=12)
# A channel's first digest looks back this far for approved case studies.
FIRST_LOOKBACK = timedelta(days=7)
# "Commitments shared that week".
WEEK = timedelta(days=7)
COMMITMENT_EXAMPLES = 3
MAX_STORIES = 60

# Card budgets, in characters of plain text before the adapter escapes it. Slack allows 3000
# characters in a section's text and 150 in a header (api.slack.com/reference/block-kit/blocks);
# a Teams message may carry about 28 KB. Escaping (& to &amp;) can lengthen text, so the budget
# leaves room; adapters still check before sending.
TITLE_BUDGET = 140
CARD_TEXT_BUDGET = 2400
STORY_SHORT = 600
DIFFERENCE_SHORT = 300
EXAMPLE_SHORT = 200
WE_DID_SHORT = 400
MAX_DIGEST_CARDS = 6

RUN_ID = re.compile(r"^[0-9a-f]{32}$")


class BarometerHeadline(Protocol):
    """The latest published barometer result, in one line ("82% say their work makes a
    positive difference (May 2027)"), or None. The barometer feature provides it."""

    async def latest(self, stores: Stores, now: datetime) -> str | None:
        """The headline of the latest round published by ``now``."""
        ...


class NoBarometerHeadline:
    """Until the barometer is wired in: no headline."""

    async def latest(self, stores: Stores, now: datetime) -> str | None:
        """Always None."""
        return None


class ActionsFinished(Protocol):
    """ "You said ..., we did ..." in one line, for the barometer's actions finished in a
    time, or None. The barometer feature provides it (the digest reads none of its
    tables)."""

    async def line(self, stores: Stores, after: datetime, until: datetime) -> str | None:
        """The line for the actions done in (after, until]."""
        ...


class NoActionsFinished:
    """Until the barometer is wired in: no line."""

    async def line(self, stores: Stores, after: datetime, until: datetime) -> str | None:
        """Always None."""
        return None


# Slots


def slot_at(schedule: DigestSchedule, day: date) -> datetime:
    """The instant (UTC) of the schedule's wall-clock time on ``day`` in its time zone.

    A time that does not exist that day (the hour skipped when clocks go forward) is taken with
    the offset from before the change, so it falls just after the gap; a time that happens twice
    (clocks going back) is its first occurrence. Either way, one instant per day."""
    local = datetime.combine(day, time(schedule.hour, schedule.minute), ZoneInfo(schedule.timezone))
    return local.astimezone(UTC)


def latest_slot(schedule: DigestSchedule, now: datetime) -> tuple[date, datetime]:
    """The schedule's last slot at or before ``now``: its local date and its instant."""
    local = now.astimezone(ZoneInfo(schedule.timezone))
    day = local.date() - timedelta(days=(local.weekday() - schedule.weekday) % 7)
    slot = slot_at(schedule, day)
    if slot > now:
        day -= timedelta(days=7)
        slot = slot_at(schedule, day)
    return day, slot


def next_slot(schedule: DigestSchedule, now: datetime) -> datetime:
    """The schedule's first slot after ``now``."""
    day, _ = latest_slot(schedule, now)
    return slot_at(schedule, day + timedelta(days=7))


def behaviour_of_the_week(content: Content, day: date) -> Behaviour:
    """One behaviour per calendar week, in the content's order, round and round."""
    return content.behaviours[(day.toordinal() // 7) % len(content.behaviours)]


@dataclass(frozen=True, slots=True, kw_only=True)
class DueDigest:
    """A slot whose digest should go now."""

    schedule: DigestSchedule
    period: str
    slot: datetime


# What a digest holds


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestStory:
    """An approved case study, as published."""

    title: str
    story: str
    difference: str
    behaviours: str
    credit: str
    id: str = ""
    """The case study's id ("" in digests kept before ids were), so an erasure finds it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestCommitment:
    """A shared commitment, as published (it was already posted with its owner's name)."""

    text: str
    behaviours: str
    by: str
    id: str = ""
    """The commitment's id, so its web page shows it only while it is still shared (digests
    kept before ids were recorded have none: their examples are not shown on the web)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Digest:
    """Everything in one digest (kept as JSON with its run, for the web page)."""

    week_of: str
    behaviour: str
    behaviour_definition: str
    barometer: str | None
    stories: tuple[DigestStory, ...]
    shared: int
    commitments: tuple[DigestCommitment, ...]
    follows_up: bool = False
    """True when another digest went to the channel earlier this week: this one holds only
    what is new since."""
    held_barometer: str | None = None
    """The headline left out because the channel had it this week (``barometer`` is then
    None)."""
    we_did: str | None = None
    """ "You said ..., we did ..." for the barometer's actions finished since the channel's
    last digest."""

    @property
    def is_quiet(self) -> bool:
        """Nothing new: no stories and no commitments shared."""
        return not self.stories and self.shared == 0

    @property
    def has_nothing_new(self) -> bool:
        """Quiet, and no action of the barometer's was finished either: a digest not worth
        sending when the schedule says to skip empty weeks, or when it follows another."""
        return self.is_quiet and not self.we_did

    @property
    def title(self) -> str:
        """ "Values digest: week of 22 Mar 2027"."""
        return f"Values digest: week of {self.week_of}"


_DIGEST = TypeAdapter(Digest)


def digest_to_json(digest: Digest) -> str:
    """The digest as JSON."""
    return _DIGEST.dump_json(digest).decode()


def digest_from_json(data: str) -> Digest:
    """A digest stored with ``digest_to_json``."""
    return _DIGEST.validate_json(data)


def _story_block(number: int, story: DigestStory, short: bool = True) -> str:
    body = shorten(story.story, STORY_SHORT) if short else story.story
    difference = shorten(story.difference, DIFFERENCE_SHORT) if short else story.difference
    return (
        f"{number}. {shorten(story.title, TITLE_BUDGET)}\n{body}\n"
        f"The difference it made: {difference}\n"
        f"Shows: {story.behaviours} · Shared by {story.credit}"
    )


def digest_cards(digest: Digest, page_url: str | None = None) -> tuple[list[Card], int]:
    """The digest as cards for a channel, each within the budgets: a header card (behaviour of
    the week, barometer, commitments) and the stories packed into as few cards as fit. Returns
    the cards and how many stories they carry; with ``page_url`` every story counts as
    published (the page has them all), without it stories that do not fit wait for the next
    digest."""
    title = shorten(digest.title, TITLE_BUDGET)
    lines = [f"Behaviour of the week: {digest.behaviour}. {digest.behaviour_definition}"]
    if digest.barometer:
        lines.append(f"Staff barometer: {shorten(digest.barometer, 300)}")
    if digest.we_did:
        lines.append(shorten(digest.we_did, WE_DID_SHORT))
    invite = "Share a story with /casestudy. Make a commitment with /commitment."
    if digest.is_quiet:
        lines.insert(0, quiet_line(digest))
        return [Card(title=title, text="\n\n".join(lines), footer=invite)], 0
    stories = len(digest.stories)
    lines.insert(
        0,
        f"{'New since the last digest' if digest.follows_up else 'This week'}: "
        f"{plural(stories, 'story', 'stories')} of what good looks like and "
        f"{plural(digest.shared, 'commitment')} shared.",
    )
    fields = tuple(
        Field(
            label=f"A commitment from {c.by}",
            value=shorten(c.text, EXAMPLE_SHORT) + (f" ({c.behaviours})" if c.behaviours else ""),
        )
        for c in digest.commitments
    )
    cards = [Card(title=title, text="\n\n".join(lines), fields=fields, footer=invite)]
    blocks = [_story_block(n, s) for n, s in enumerate(digest.stories, start=1)]
    pages: list[list[str]] = []
    for block in blocks:
        if pages and len("\n\n".join([*pages[-1], block])) <= CARD_TEXT_BUDGET:
            pages[-1].append(block)
        elif len(pages) < MAX_DIGEST_CARDS - 1:
            pages.append([block])
        else:
            break
    carried = sum(len(p) for p in pages)
    for number, page in enumerate(pages, start=1):
        heading = "Stories of what good looks like"
        if len(pages) > 1:
            heading += f" ({number} of {len(pages)})"
        cards.append(Card(title=heading, text="\n\n".join(page)))
    if page_url:
        cards[-1] = replace(cards[-1], footer=f"Read the whole digest: {page_url}")
    elif carried < stories:
        more = plural(stories - carried, "more story", "more stories")
        cards[-1] = replace(cards[-1], footer=f"{more} next week.")
    return cards, stories if page_url else carried


def quiet_line(digest: Digest) -> str:
    """What a digest with nothing new says."""
    if digest.follows_up:
        return "Nothing new since the last digest: no new stories or shared commitments."
    return "A quiet week: no new stories or shared commitments."


def same_week(earlier: datetime, later: datetime, zone: ZoneInfo) -> bool:
    """True when both instants fall in one calendar week (Monday to Sunday) in ``zone``."""
    return earlier.astimezone(zone).isocalendar()[:2] == later.astimezone(zone).isocalendar()[:2]


async def claim_digest_slot(stores: Stores, run: DigestRun) -> bool:
    """Claim the run's (schedule, period) slot: True for exactly one caller across instances.

    The one place digests claim their slot, so it can move to a shared slot-claim mechanism:
    claim ``job=f"digest:{run.schedule_id}"`` + ``run.period`` there first, then record the run
    (which can then no longer conflict)."""
    return await stores.digests.claim(run)


# Parsing what comms type


class DigestUsageError(ValueError):
    """A /digest command that cannot be understood; the message says how to write it."""


_TIME = re.compile(r"^(\d{1,2})(?:[:.](\d{2}))?\s*(am|pm)?$")
USAGE = "/digest schedule #channel weekly monday 09:00 [Europe/London] [if-empty skip]"


def parse_day(word: str) -> int:
    """0 for "monday", "Mon", "mondays"."""
    word = word.lower().rstrip("s") if len(word) > 4 else word.lower()
    for number, day in enumerate(DAYS):
        if word in (day, day[:3], day[:4]):
            return number
    raise DigestUsageError(f'"{shorten(word, 20)}" is not a day of the week.')


def parse_time(word: str) -> tuple[int, int]:
    """(9, 30) for "09:30", "9.30", "9:30am"; (21, 0) for "9pm"."""
    match = _TIME.match(word.lower())
    if not match or (match[2] is None and match[3] is None):
        raise DigestUsageError(f'"{shorten(word, 20)}" is not a time; write it like 09:00.')
    hour, minute = int(match[1]), int(match[2] or 0)
    if match[3]:
        if not 1 <= hour <= 12:
            raise DigestUsageError(f'"{word}" is not a time.')
        hour = hour % 12 + (12 if match[3] == "pm" else 0)
    if hour > 23 or minute > 59:
        raise DigestUsageError(f'"{word}" is not a time of day.')
    return hour, minute


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleRequest:
    """``/digest schedule`` understood."""

    channel: str
    weekday: int
    hour: int
    minute: int
    timezone: str
    if_empty: str


def parse_schedule(words: Sequence[str], *, timezone: str, if_empty: str) -> ScheduleRequest:
    """``#channel weekly monday 09:00 [zone] [if-empty skip|message]`` (after "schedule")."""
    if len(words) < 4:
        raise DigestUsageError(f"Write it like this: {USAGE}")
    channel, every, day, at, *rest = words
    if every.lower() != "weekly":
        raise DigestUsageError(f"Digests are weekly for now. Write it like this: {USAGE}")
    weekday = parse_day(day)
    hour, minute = parse_time(at)
    zone, empty = timezone, if_empty
    rest = list(rest)
    while rest:
        word = rest.pop(0)
        lowered = word.lower()
        if lowered in {"if-empty", "when-empty"} and rest:
            choice = rest.pop(0).lower()
            if choice not in {"skip", "message"}:
                raise DigestUsageError("if-empty is followed by skip or message.")
            empty = choice
        elif lowered in {"skip-empty", "skip-if-empty"}:
            empty = "skip"
        else:
            try:
                ZoneInfo(word)
            except (ZoneInfoNotFoundError, ValueError):
                raise DigestUsageError(
                    f'"{shorten(word, 40)}" is not a time zone (e.g. Europe/London) or an '
                    "option (if-empty skip)."
                ) from None
            zone = word
    return ScheduleRequest(
        channel=channel, weekday=weekday, hour=hour, minute=minute, timezone=zone, if_empty=empty
    )


_SLACK_CHANNEL = re.compile(r"^<#([A-Z0-9]+)(?:\|([^>]*))?>$")


def channel_token(token: str) -> tuple[str, str]:
    """The conversation id and a label for a channel as typed: Slack's escaped mention
    ``<#C0123|values>``, ``#values`` or ``values``."""
    slack = _SLACK_CHANNEL.match(token)
    if slack:
        return slack[1], f"#{slack[2] or slack[1]}"
    name = token.lstrip("#")
    if not name or len(name) > 200 or any(c.isspace() or c in "<>" for c in name):
        raise DigestUsageError(f'"{shorten(token, 40)}" is not a channel.')
    return name, f"#{name}"


# The feature


class Digests:
    """``/digest`` for comms, and what the scheduler calls: ``due`` and ``run_digest``."""

    def __init__(
        self,
        *,
        content: Content,
        settings: Settings,
        barometer: BarometerHeadline | None = None,
        actions: ActionsFinished | None = None,
    ) -> None:
        self.content = content
        self.settings = settings
        self.barometer = barometer or NoBarometerHeadline()
        self.actions = actions or NoActionsFinished()

    def router(self) -> Router:
        """The routes of the digest, and its schedule job."""
        router = Router()
        router.command("digest", self.command)
        router.schedule(TICK_JOB, self.scheduled)
        router.undelivered("digest:", self.undelivered)
        return router

    async def undelivered(self, turn: Turn[DeliveryFailed]) -> None:
        """A digest's card could not be posted in its channel: comms are told, once per
        digest (however many of its cards failed)."""
        event = turn.event
        if event.to_person:
            return
        schedule_id = event.job.removeprefix("digest:").split(":", 1)[0]
        schedule = await turn.stores.digests.get_schedule(schedule_id)
        label = schedule.label if schedule else await place_label(turn.stores, event)
        card = Card(
            title="A values digest was not posted",
            text=f"I could not post the values digest in {label}: {why(event)}.\n\n"
            f"Add valuesbot to {label}, then type /digest send-now {label} to send it again.",
            footer=f"Reason: {event.reason}",
        )
        await tell_comms(turn.stores, self.settings, event, card, turn.now, about=event.job)

    # The scheduler's part

    async def scheduled(self, turn: Turn[ScheduleFired]) -> None:
        """The ``digest.tick`` job (every minute): queue every digest that is due, in the
        slot's transaction (each digest's own slot is claimed once, whatever the timer does)."""
        for item in await self.due(turn.stores, turn.now):
            run = await self.run_digest(turn.stores, item.schedule, item.period, turn.now)
            if run is not None:
                await record(turn.stores, SCHEDULE, "digest.send", run.id, turn.now)

    async def due(self, stores: Stores, now: datetime) -> list[DueDigest]:
        """The digests to send at ``now``: for every active schedule, its latest slot if that
        is at or before ``now`` (and not more than ``CATCH_UP`` ago), came after the schedule
        was made, changed or resumed, and has not been claimed. Cheap; call it every minute."""
        due = []
        for schedule in await stores.digests.schedules():
            if not schedule.is_active:
                continue
            day, slot = latest_slot(schedule, now)
            if slot < schedule.active_since or now - slot > CATCH_UP:
                continue
            period = day.isoformat()
            if await stores.digests.run_for(schedule.id, period) is None:
                due.append(DueDigest(schedule=schedule, period=period, slot=slot))
        return due

    async def run_digest(
        self, stores: Stores, schedule: DigestSchedule, period: str, now: datetime
    ) -> DigestRun | None:
        """Send the schedule's digest for ``period`` unless some instance already did: claim
        the slot, compose, record which case studies it carries, and queue its cards in the
        outbox, all in the caller's transaction. The run (queued, or skipped for a quiet week
        when the schedule says so); None when the slot was claimed before or the schedule is
        gone or paused."""
        current = await stores.digests.get_schedule(schedule.id)
        if current is None or not current.is_active:
            return None
        run = DigestRun(
            id=secrets.token_hex(16),
            schedule_id=current.id,
            period=period,
            place=current.place,
            claimed_at=now,
            as_of=now,
        )
        if not await claim_digest_slot(stores, run):
            return None
        digest, sources = await self.compose(stores, current, now, period)
        # A quiet note right after this week's digest would only repeat it: not sent.
        if digest.has_nothing_new and (current.if_empty == "skip" or digest.follows_up):
            await stores.digests.finish(
                run.id, status=DigestRunStatus.SKIPPED, body=None, case_studies=0, commitments=0
            )
            log.info("digest skipped schedule=%s period=%s (nothing new)", current.id, period)
            return await stores.digests.get_run(run.id)
        page = f"{self.settings.public_url}/digest/{run.id}" if self.settings.public_url else None
        cards, carried = digest_cards(digest, page)
        published = []
        for case_study, story in zip(sources[:carried], digest.stories[:carried], strict=True):
            # A case study another digest to this channel took meanwhile is left out here.
            if await stores.digests.include(run.id, current.place, case_study.id):
                published.append(story)
        if len(published) != carried:
            digest = _with_stories(digest, published)
            cards, _ = digest_cards(digest, page)
        else:
            digest = _with_stories(digest, list(digest.stories[:carried]))
        place = current.place
        for number, card in enumerate(cards):
            await stores.outbox.enqueue(
                OutboxMessage(
                    key=f"digest:{current.id}:{period}:{number}",
                    job=f"digest:{current.id}:{period}",
                    platform=str(place.platform),
                    tenant=place.tenant,
                    recipient=place.conversation,
                    to_person=False,
                    card=card_to_json(card).decode(),
                    # A second apart, so a sender working in order keeps the cards in order.
                    not_before=now + timedelta(seconds=number),
                    respect_working_hours=False,
                    counts_towards_cap=False,
                ),
                now,
            )
        await stores.digests.finish(
            run.id,
            status=DigestRunStatus.QUEUED,
            body=digest_to_json(digest),
            case_studies=len(digest.stories),
            commitments=digest.shared,
        )
        log.info(
            "digest queued schedule=%s period=%s cards=%d stories=%d",
            current.id,
            period,
            len(cards),
            len(digest.stories),
        )
        return await stores.digests.get_run(run.id)

    async def compose(
        self, stores: Stores, schedule: DigestSchedule, now: datetime, period: str
    ) -> tuple[Digest, list[CaseStudy]]:
        """The digest a channel would get at ``now`` (read only), and the case studies in it.

        Stories: approved since the schedule began (looking back ``FIRST_LOOKBACK`` before it)
        and never yet in a digest to this channel, so each goes out once and none is lost to a
        late commit or a full digest. Commitments: shared since the channel's last digest, at
        most a week back. The barometer headline: left out when a digest this week gave it.
        "You said, we did": the actions finished since the channel's last digest (its first
        looks a week back)."""
        place = schedule.place
        zone = ZoneInfo(schedule.timezone)
        previous = await stores.digests.last_run(place, DigestRunStatus.QUEUED)
        after = now - WEEK
        if previous is not None and previous.as_of > after:
            after = previous.as_of
        follows_up = previous is not None and same_week(previous.as_of, now, zone)
        floor = schedule.created_at - FIRST_LOOKBACK
        sources = await stores.case_studies.approved_for_digest(place, floor, now, MAX_STORIES)
        stories = []
        for case_study in sources:
            credit = ANONYMOUS
            if case_study.named:
                credit = await _name(stores, case_study.author)
            stories.append(
                DigestStory(
                    title=case_study.title,
                    story=case_study.story,
                    difference=case_study.difference,
                    behaviours=behaviour_names(self.content, case_study.behaviours),
                    credit=credit,
                    id=case_study.id,
                )
            )
        platform, tenant = str(place.platform), place.tenant
        shared = await stores.commitments.count_shared_between(platform, tenant, after, now)
        examples = []
        for commitment in await stores.commitments.shared_between(
            platform, tenant, after, now, COMMITMENT_EXAMPLES
        ):
            examples.append(
                DigestCommitment(
                    id=commitment.id,
                    text=sentence(self.content, commitment.text, whole=False),
                    behaviours=behaviour_names(self.content, commitment.behaviours),
                    by=await _name(stores, commitment.owner),
                )
            )
        day = _period_day(period, now, zone)
        behaviour = behaviour_of_the_week(self.content, day)
        headline = await self.barometer.latest(stores, now)
        held = None
        if follows_up and headline and previous is not None and previous.body:
            earlier = digest_from_json(previous.body)
            if headline in (earlier.barometer, earlier.held_barometer):
                held, headline = headline, None
        finished_since = previous.as_of if previous is not None else now - WEEK
        digest = Digest(
            we_did=await self.actions.line(stores, finished_since, now),
            week_of=f"{day.day} {day:%b %Y}",
            behaviour=behaviour.name,
            behaviour_definition=behaviour.definition,
            barometer=headline,
            stories=tuple(stories),
            shared=shared,
            commitments=tuple(examples),
            follows_up=follows_up,
            held_barometer=held,
        )
        return digest, sources

    async def sent(self, stores: Stores, run_id: str) -> Digest | None:
        """What a sent digest held (for its web page), or None when there is none with that
        id."""
        if not RUN_ID.match(run_id):
            return None
        run = await stores.digests.get_run(run_id)
        if run is None or run.body is None:
            return None
        return digest_from_json(run.body)

    # /digest

    async def command(self, turn: Turn[CommandReceived]) -> None:
        """``/digest schedule|list|preview|send-now|pause|resume|cancel|help`` (comms only)."""
        words = turn.event.text.split()
        verb = words[0].lower() if words else "help"
        if verb in {"help", "?"}:
            turn.reply(commands_typed_with(self.help_card(), turn.command_prefix), private=True)
            return
        platform = str(turn.event.conversation.platform)
        if not self.settings.is_comms(platform, turn.event.actor.id, turn.event.actor.aliases):
            turn.reply(only_comms("The values digest"), private=True)
            return
        handlers = {
            "schedule": self._schedule,
            "list": self._list,
            "preview": self._preview,
            "send-now": self._send_now,
            "sendnow": self._send_now,
            "pause": self._pause,
            "resume": self._resume,
            "cancel": self._cancel,
        }
        handler = handlers.get(verb)
        if handler is None:
            help_card = self.help_card(not_understood(words[0]))
            turn.reply(commands_typed_with(help_card, turn.command_prefix), private=True)
            return
        try:
            await handler(turn, words[1:])
        except DigestUsageError as problem:
            turn.reply(Card(title="Values digest", text=str(problem)), private=True)

    def help_card(self, problem: str = "") -> Card:
        """How comms schedule the digest (after ``problem``, when they typed a word it does not
        know)."""
        intro = (
            "A weekly digest for a channel: the case studies approved since the last one, "
            "commitments shared that week, the latest barometer headline and a behaviour of the "
            f"week. Times are in {self.settings.timezone} unless you name another zone."
        )
        return Card(
            title="Values digest (comms team)",
            text=f"{problem}\n\n{intro}" if problem else intro,
            fields=(
                Field(label=USAGE, value="Send a digest to the channel every Monday at 09:00."),
                Field(
                    label="/digest schedule here weekly friday 16:00",
                    value="The same, for the channel you type it in.",
                ),
                Field(label="/digest list", value="Every schedule, with its next and last digest."),
                Field(label="/digest preview [#channel]", value="See the next digest (only you)."),
                Field(
                    label="/digest send-now [#channel]",
                    value="Send the digest now, with only what the channel has not had: no "
                    "story twice, commitments since its last digest, the barometer headline "
                    "once a week. Nothing new: nothing is sent.",
                ),
                Field(
                    label="/digest pause | resume | cancel [#channel]",
                    value="Stop for a while, start again, or stop for good.",
                ),
            ),
            footer="Only comms can schedule digests. A quiet week sends a short note "
            "(or nothing, with if-empty skip).",
        )

    async def _place(self, turn: Turn[CommandReceived], token: str) -> tuple[ConversationRef, str]:
        event = turn.event
        here = event.conversation
        if token.lower() in {"here", "this"}:
            if here.is_direct:
                raise DigestUsageError(
                    "Type it in the channel itself to use here, or name the channel."
                )
            # An adapter that knows what people call the conversation says so in
            # ``extra["name"]`` (Teams: "General in Winter planning"); else its id.
            return here, here.extra.get("name") or f"#{here.conversation}"
        conversation, label = channel_token(token)
        if here.platform == Platform.CONSOLE:
            conversation = conversation.lower()
        known = await turn.stores.people.conversation(str(here.platform), here.tenant, conversation)
        if known is not None:
            if known.is_direct:
                raise DigestUsageError(f"{label} is a direct chat, not a channel.")
            return known, label
        if here.platform == Platform.CONSOLE:  # terminal channels exist once named
            return (
                ConversationRef(
                    platform=Platform.CONSOLE,
                    tenant=here.tenant,
                    conversation=conversation,
                    kind=ConversationKind.CHANNEL,
                ),
                label,
            )
        raise DigestUsageError(
            f"I have not been in {label} yet. Add me to the channel, then type "
            "/digest schedule here weekly monday 09:00 in it."
        )

    async def _schedule(self, turn: Turn[CommandReceived], words: list[str]) -> None:
        request = parse_schedule(
            words, timezone=self.settings.timezone, if_empty=self.settings.digest_empty
        )
        place, label = await self._place(turn, request.channel)
        existing = await self._for_place(turn.stores, place)
        saved = await turn.stores.digests.save_schedule(
            DigestSchedule(
                id=secrets.token_hex(8),
                place=place,
                label=label,
                weekday=request.weekday,
                hour=request.hour,
                minute=request.minute,
                timezone=request.timezone,
                if_empty=request.if_empty,
                status=DigestScheduleStatus.ACTIVE,
                created_by=turn.event.actor.id,
                created_at=turn.now,
                active_since=turn.now,
            ),
            turn.now,
        )
        await record(turn.stores, person_actor(turn.person), "digest.schedule", saved.id, turn.now)
        upcoming = next_slot(saved, turn.now)
        zone = ZoneInfo(saved.timezone)
        turn.reply(
            Card(
                title="Digest scheduled" if existing is None else "Digest schedule changed",
                text=f"A values digest goes to {saved.label} {describe_timing(saved)}. "
                f"The next one: {local_time(upcoming, zone)}.",
                footer="A quiet week "
                + ("is skipped." if saved.if_empty == "skip" else "sends a short note.")
                + " See every schedule with /digest list.",
            ),
            private=True,
        )

    async def _for_place(self, stores: Stores, place: ConversationRef) -> DigestSchedule | None:
        for schedule in await stores.digests.schedules(str(place.platform), place.tenant):
            if schedule.place.conversation == place.conversation:
                return schedule
        return None

    async def _target(self, turn: Turn[CommandReceived], words: list[str]) -> DigestSchedule:
        here = turn.event.conversation
        schedules = await turn.stores.digests.schedules(str(here.platform), here.tenant)
        if not schedules:
            raise DigestUsageError(f"There are no digest schedules yet. Make one: {USAGE}")
        if not words:
            if len(schedules) == 1:
                return schedules[0]
            mine = next((s for s in schedules if s.place.conversation == here.conversation), None)
            if mine is not None:
                return mine
            raise DigestUsageError(
                "Which channel? Name it (e.g. #values) or give its number from /digest list."
            )
        token = words[0]
        if token.isdigit() and 1 <= int(token) <= len(schedules):
            return schedules[int(token) - 1]
        place, label = await self._place(turn, token)
        found = next((s for s in schedules if s.place.conversation == place.conversation), None)
        if found is None:
            raise DigestUsageError(f"There is no digest schedule for {label}.")
        return found

    async def _list(self, turn: Turn[CommandReceived], words: list[str]) -> None:
        here = turn.event.conversation
        schedules = await turn.stores.digests.schedules(str(here.platform), here.tenant)
        if not schedules:
            turn.reply(
                Card(title="Digest schedules", text=f"None yet. Make one: {USAGE}"), private=True
            )
            return
        rows = []
        for number, schedule in enumerate(schedules, start=1):
            zone = ZoneInfo(schedule.timezone)
            bits = [describe_timing(schedule)]
            if schedule.is_active:
                bits.append(f"next {local_time(next_slot(schedule, turn.now), zone)}")
            else:
                bits.append("paused")
            last = await turn.stores.digests.last_run(schedule.place)
            if last is not None:
                what = (
                    "skipped (nothing new)"
                    if last.status == DigestRunStatus.SKIPPED
                    else f"{plural(last.case_studies, 'story', 'stories')}"
                )
                bits.append(f"last {local_date(last.claimed_at, zone)}: {what}")
            if schedule.if_empty == "skip":
                bits.append("quiet weeks skipped")
            rows.append(Field(label=f"{number}. {schedule.label}", value=" · ".join(bits)))
        turn.reply(
            Card(
                title="Digest schedules", fields=tuple(rows), footer="Type /digest help for more."
            ),
            private=True,
        )

    async def _preview(self, turn: Turn[CommandReceived], words: list[str]) -> None:
        here = turn.event.conversation
        has_any = await turn.stores.digests.schedules(str(here.platform), here.tenant)
        if has_any or words:
            schedule = await self._target(turn, words)
        else:  # nothing scheduled yet: what a new schedule here would send
            schedule = DigestSchedule(
                id="preview",
                place=here,
                label="this channel",
                weekday=0,
                hour=9,
                minute=0,
                timezone=self.settings.timezone,
                if_empty=self.settings.digest_empty,
                created_by=turn.event.actor.id,
                created_at=turn.now,
                active_since=turn.now,
            )
        zone = ZoneInfo(schedule.timezone)
        day = next_slot(schedule, turn.now).astimezone(zone).date()
        digest, _ = await self.compose(turn.stores, schedule, turn.now, day.isoformat())
        cards, _ = digest_cards(digest, None)
        note = f"Preview for {schedule.label}: only you see this; nothing is sent or marked."
        if digest.has_nothing_new and (schedule.if_empty == "skip" or digest.follows_up):
            note += " Nothing is new, so this digest would not be sent."
        turn.reply(Card(title="Digest preview", text=note), private=True)
        for card in cards:
            turn.reply(card, private=True)

    async def _send_now(self, turn: Turn[CommandReceived], words: list[str]) -> None:
        schedule = await self._target(turn, words)
        if not schedule.is_active:
            raise DigestUsageError(
                f"The digest to {schedule.label} is paused. Resume it first: /digest resume."
            )
        zone = ZoneInfo(schedule.timezone)
        previous = await turn.stores.digests.last_run(schedule.place, DigestRunStatus.QUEUED)
        follows = previous is not None and same_week(previous.as_of, turn.now, zone)
        since = (
            f"since its last digest ({local_time(previous.as_of, zone)})"
            if previous is not None and follows
            else ""
        )
        period = f"now-{turn.now:%Y%m%dT%H%M%SZ}"
        run = await self.run_digest(turn.stores, schedule, period, turn.now)
        if run is not None:
            await record(turn.stores, person_actor(turn.person), "digest.send", run.id, turn.now)
        if run is None:
            text = "A digest to that channel was just sent; try again in a moment."
        elif run.status == DigestRunStatus.SKIPPED and since:
            text = (
                f"Nothing new for {schedule.label} {since}: no new stories or shared "
                "commitments, so nothing was sent."
            )
        elif run.status == DigestRunStatus.SKIPPED:
            text = f"Nothing new for {schedule.label}, and its quiet weeks are skipped: not sent."
        else:
            text = (
                f"Sending the digest to {schedule.label} now: "
                f"{plural(run.case_studies, 'story', 'stories')}, "
                f"{plural(run.commitments, 'commitment')} shared {since or 'this week'}."
            )
            if since:
                text += " Nothing already posted there is repeated."
        turn.reply(Card(title="Values digest", text=text), private=True)

    async def _pause(self, turn: Turn[CommandReceived], words: list[str]) -> None:
        await self._set_status(turn, words, DigestScheduleStatus.PAUSED)

    async def _resume(self, turn: Turn[CommandReceived], words: list[str]) -> None:
        await self._set_status(turn, words, DigestScheduleStatus.ACTIVE)

    async def _set_status(
        self, turn: Turn[CommandReceived], words: list[str], status: DigestScheduleStatus
    ) -> None:
        schedule = await self._target(turn, words)
        changed = await turn.stores.digests.set_schedule_status(schedule.id, status, turn.now)
        assert changed is not None
        action = "digest.pause" if status == DigestScheduleStatus.PAUSED else "digest.resume"
        await record(turn.stores, person_actor(turn.person), action, schedule.id, turn.now)
        if status == DigestScheduleStatus.PAUSED:
            text = f"Paused: no digest goes to {changed.label} until you resume it."
        else:
            upcoming = next_slot(changed, turn.now)
            text = (
                f"Resumed: the next digest to {changed.label} goes "
                f"{local_time(upcoming, ZoneInfo(changed.timezone))}."
            )
        turn.reply(Card(title="Values digest", text=text), private=True)

    async def _cancel(self, turn: Turn[CommandReceived], words: list[str]) -> None:
        schedule = await self._target(turn, words)
        await turn.stores.digests.delete_schedule(schedule.id)
        await record(turn.stores, person_actor(turn.person), "digest.cancel", schedule.id, turn.now)
        turn.reply(
            Card(
                title="Values digest",
                text=f"Cancelled: no more digests to {schedule.label}. Past digests are kept; "
                f"schedule it again any time with {USAGE}",
            ),
            private=True,
        )


def describe_timing(schedule: DigestSchedule) -> str:
    """ "every Monday at 09:00 (Europe/London)"."""
    return (
        f"every {DAYS[schedule.weekday].capitalize()} at "
        f"{schedule.hour:02d}:{schedule.minute:02d} ({schedule.timezone})"
    )


def _with_stories(digest: Digest, stories: Sequence[DigestStory]) -> Digest:
    return replace(digest, stories=tuple(stories))


def _period_day(period: str, now: datetime, zone: ZoneInfo) -> date:
    try:
        return date.fromisoformat(period)
    except ValueError:  # a send-now period: the day it was sent
        return now.astimezone(zone).date()


ANONYMOUS = "a colleague"


async def forget_in_digests(
    stores: Stores,
    person: PersonKey,
    name: str,
    content: Content,
    *,
    commitments: Sequence[Commitment],
    removed: Sequence[CaseStudy],
    kept: Sequence[CaseStudy],
) -> int:
    """Take an erased person off the digests' web pages: their shared commitments go, their
    stories go (``removed``) or stay credited to nobody (``kept``), and they no longer show
    as the maker of a digest schedule. A digest kept before entries carried ids is matched on
    what it showed (the words and the name). How many digests changed."""
    platform, tenant = person.platform, person.tenant
    await stores.digests.forget_creator(platform, tenant, person.user)
    if name:
        # Digest posts already sent keep their cards in the outbox for a while: those that
        # named the person go (as a card shows it: JSON, so quotes and the like escaped).
        shown = json.dumps(name, ensure_ascii=False)[1:-1]
        await stores.outbox.forget_mentions(
            "digest:", platform, tenant, [f"A commitment from {shown}", f"Shared by {shown}"]
        )
    shared = [c for c in commitments if c.shared_at is not None]
    if not (shared or removed or kept):
        return 0
    shared_ids = {c.id for c in shared}
    shared_words = {sentence(content, c.text, whole=False) for c in shared}
    removed_ids, kept_ids = {c.id for c in removed}, {c.id for c in kept}
    removed_titles, kept_titles = {c.title for c in removed}, {c.title for c in kept}

    def theirs(entry_id: str, entry_ids: set[str], words: str, known: set[str], by: str) -> bool:
        if entry_id:
            return entry_id in entry_ids
        return bool(name) and by == name and words in known

    changed = 0
    for run in await stores.digests.runs_with_body(platform, tenant):
        if run.body is None:
            continue
        digest = digest_from_json(run.body)
        examples = tuple(
            c
            for c in digest.commitments
            if not theirs(c.id, shared_ids, c.text, shared_words, c.by)
        )
        stories = []
        for story in digest.stories:
            if theirs(story.id, removed_ids, story.title, removed_titles, story.credit):
                continue
            if theirs(story.id, kept_ids, story.title, kept_titles, story.credit):
                story = replace(story, credit=ANONYMOUS)
            stories.append(story)
        if examples == digest.commitments and tuple(stories) == digest.stories:
            continue
        gone = len(digest.commitments) - len(examples)
        rewritten = replace(
            digest,
            commitments=examples,
            stories=tuple(stories),
            shared=max(0, digest.shared - gone),
        )
        await stores.digests.rewrite(run.id, digest_to_json(rewritten), rewritten.shared)
        changed += 1
    return changed


async def _name(stores: Stores, person: PersonKey) -> str:
    found = await stores.people.get(person)
    return found.display_name if found and found.display_name else ANONYMOUS
