"""The storage interfaces the core and the dialogs use, and the records they exchange.

Each store is a small ``Protocol``; ``storage.sql`` implements them all on SQLAlchemy (SQLite or
PostgreSQL) and ``tests/contract`` runs one suite against both. Records are frozen dataclasses, so
no database object ever leaves a unit of work.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from bot.events import Actor, ConversationRef, Event


class ConcurrentUpdate(Exception):
    """Someone else changed the same dialog state first (another click, another instance)."""


@dataclass(frozen=True, slots=True)
class PersonKey:
    """Who someone is, across the platforms: a member of a workspace or tenant."""

    platform: str
    tenant: str
    user: str

    @classmethod
    def of(cls, event: Event) -> PersonKey:
        """The person who caused the event."""
        ref = event.conversation
        return cls(str(ref.platform), ref.tenant, event.actor.id)


@dataclass(frozen=True, slots=True)
class DialogKey:
    """Which conversation state an event belongs to: one per person and conversation."""

    platform: str
    tenant: str
    conversation: str
    actor: str

    @classmethod
    def of(cls, event: Event) -> DialogKey:
        """The state key of the event's person in the event's conversation."""
        ref = event.conversation
        return cls(str(ref.platform), ref.tenant, ref.conversation, event.actor.id)


@dataclass(slots=True, kw_only=True)
class DialogState:
    """Where a dialog has got to. ``data`` must stay JSON-serialisable."""

    dialog: str
    step: str
    data: dict[str, Any] = field(default_factory=dict)
    version: int = 0
    started_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Person:
    """Someone the bot has met."""

    key: PersonKey
    display_name: str
    timezone: str | None
    direct_conversation: str | None
    service_url: str | None
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class RatingEntry:
    """How a check-in rated one behaviour."""

    behaviour: str
    rating: str
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkin:
    """A completed personal values lens check-in."""

    id: str
    owner: PersonKey
    work: str
    action: str
    focus: str | None
    ratings: tuple[RatingEntry, ...]
    started_at: datetime
    completed_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class TeamCheckin:
    """A team values lens in a channel."""

    id: str
    place: ConversationRef
    work: str
    started_by: str
    opened_at: datetime
    closes_at: datetime
    status: str = "open"
    closed_at: datetime | None = None
    participants: int = 0

    @property
    def is_open(self) -> bool:
        """True until the starter closes it or its time runs out."""
        return self.status == "open"


class RateOutcome(StrEnum):
    """What happened to a member's team ratings."""

    NEW = "new"
    REPLACED = "replaced"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True, kw_only=True)
class TeamTally:
    """How a team rated each behaviour: ``counts[behaviour][rating]``, never who."""

    checkin: TeamCheckin
    participants: int
    counts: Mapping[str, Mapping[str, int]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Commitment:
    """A personal commitment ("My contribution is to...")."""

    id: str
    owner: PersonKey
    text: str
    behaviours: tuple[str, ...] = ()
    source: str | None = None
    status: str = "open"
    review_on: date | None = None
    created_at: datetime
    shared_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsolePost:
    """A card posted into a console conversation (its JSON, see ``bot.ui.card_to_json``)."""

    id: int
    conversation: str
    card: str


class DialogStore(Protocol):
    """Dialog states, with optimistic concurrency on ``version``."""

    async def load(self, key: DialogKey) -> DialogState | None:
        """The state for this key, if a dialog is under way."""
        ...

    async def save(self, key: DialogKey, state: DialogState, now: datetime) -> DialogState:
        """Store ``state`` if nobody changed it since it was loaded (its ``version``); the stored
        state (next version) is returned, ``ConcurrentUpdate`` raised otherwise."""
        ...

    async def delete(self, key: DialogKey, state: DialogState) -> None:
        """End the dialog; ``ConcurrentUpdate`` if someone changed it since it was loaded."""
        ...


class EventLog(Protocol):
    """Events already handled."""

    async def first_time(self, platform: str, event_id: str, now: datetime) -> bool:
        """Record the event; False when it was recorded before (a retry)."""
        ...

    async def forget_before(self, when: datetime) -> int:
        """Drop records older than ``when``; how many went."""
        ...


class PeopleStore(Protocol):
    """People and conversations the bot has met."""

    async def seen(self, place: ConversationRef, actor: Actor, now: datetime) -> None:
        """Remember (or refresh) the person and the conversation."""
        ...

    async def get(self, key: PersonKey) -> Person | None:
        """The person, if the bot has met them."""
        ...

    async def conversation(
        self, platform: str, tenant: str, conversation: str
    ) -> ConversationRef | None:
        """A conversation the bot has been in, to post there again."""
        ...


class CheckinStore(Protocol):
    """Completed personal check-ins."""

    async def add(self, checkin: Checkin) -> None:
        """Store a completed check-in."""
        ...

    async def get(self, checkin_id: str) -> Checkin | None:
        """One check-in, if it exists."""
        ...

    async def recent(self, owner: PersonKey, limit: int) -> list[Checkin]:
        """The owner's latest check-ins, newest first."""
        ...


class TeamCheckinStore(Protocol):
    """Team check-ins and their ratings."""

    async def open(self, checkin: TeamCheckin) -> TeamCheckin:
        """Open a team check-in; if the place already has an open one, that one is returned."""
        ...

    async def current(self, place: ConversationRef) -> TeamCheckin | None:
        """The open team check-in in this place, if any."""
        ...

    async def get(self, checkin_id: str) -> TeamCheckin | None:
        """One team check-in, open or closed."""
        ...

    async def rate(
        self, checkin_id: str, member_key: str, ratings: Mapping[str, str]
    ) -> RateOutcome:
        """Store one member's ratings, replacing their earlier ones, if still open."""
        ...

    async def close(self, checkin_id: str, now: datetime) -> TeamCheckin | None:
        """Close it if still open, returning it closed; None if someone closed it first."""
        ...

    async def due(
        self, now: datetime, limit: int, platforms: Sequence[str] | None = None
    ) -> list[TeamCheckin]:
        """Open check-ins whose time has run out (on these platforms, when given)."""
        ...

    async def tally(self, checkin_id: str) -> TeamTally:
        """The counts per behaviour and rating."""
        ...


class CommitmentStore(Protocol):
    """Personal commitments."""

    async def add(self, commitment: Commitment) -> Commitment:
        """Store it; with a ``source`` already stored, the stored one is returned instead."""
        ...

    async def for_owner(self, owner: PersonKey, limit: int) -> list[Commitment]:
        """The owner's commitments, newest first."""
        ...

    async def by_source(self, source: str) -> Commitment | None:
        """The commitment made from a source (a check-in), if any."""
        ...


class ConsoleFeed(Protocol):
    """Cards posted to console conversations, read by every terminal in them."""

    async def post(
        self, conversation: str, card: str, now: datetime, *, outbox_key: str | None = None
    ) -> int:
        """Append a card (a proactive one with its outbox key); its id."""
        ...

    async def has_outbox_key(self, conversation: str, outbox_key: str) -> bool:
        """True when a card with this outbox key was posted to the conversation."""
        ...

    async def since(self, conversation: str, after: int, limit: int = 100) -> list[ConsolePost]:
        """Cards posted after id ``after``, oldest first."""
        ...

    async def last_id(self, conversation: str) -> int:
        """The id of the newest card (0 when none)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxMessage:
    """A proactive message waiting to be sent to one recipient.

    ``key`` makes it idempotent ("barometer:2027-05:slack:T1:U123"): queueing the same key again
    does nothing. ``job`` groups the messages of one delivery (a barometer round, a digest) for
    progress reports. The recipient is a person (``to_person``: their direct chat with the bot)
    or a conversation id (a channel). ``card`` is the card's JSON (``bot.ui.card_to_json``).
    Messages to people wait for their working hours and count towards their weekly cap unless
    told otherwise.
    """

    key: str
    job: str
    platform: str
    tenant: str
    recipient: str
    to_person: bool
    card: str
    not_before: datetime | None = None
    respect_working_hours: bool = True
    counts_towards_cap: bool = True


class OutboxStatus(StrEnum):
    """Where an outbox message has got to (see ``storage.tables.OutboxRow``)."""

    QUEUED = "queued"
    CLAIMED = "claimed"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNCERTAIN = "uncertain"


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryProgress:
    """How far one delivery job (all outbox messages with one ``job``) has got.

    ``queued`` are due now, ``waiting`` are queued for later (working hours, weekly cap,
    backoff), ``in_flight`` are claimed or being sent. ``sent_recently`` counts messages sent
    in the ``window`` before ``now``, for the current rate.
    """

    job: str
    queued: int = 0
    waiting: int = 0
    in_flight: int = 0
    sent: int = 0
    failed: int = 0
    uncertain: int = 0
    sent_recently: int = 0
    window: timedelta = timedelta(minutes=5)
    created_at: datetime
    last_sent_at: datetime | None = None
    next_waiting_at: datetime | None = None

    @property
    def total(self) -> int:
        """Every message of the job."""
        return (
            self.queued + self.waiting + self.in_flight + self.sent + self.failed + self.uncertain
        )

    @property
    def remaining(self) -> int:
        """Messages still to send."""
        return self.queued + self.waiting + self.in_flight


class OutboxStore(Protocol):
    """Proactive messages waiting to be sent: what features use (``DeliveryQueue`` is what the
    delivery machinery uses)."""

    async def enqueue(self, message: OutboxMessage, now: datetime) -> bool:
        """Queue the message; False when its key was queued before (nothing changes)."""
        ...

    async def enqueue_many(self, messages: Sequence[OutboxMessage], now: datetime) -> int:
        """Queue many messages at once (keys queued before are skipped); how many were new."""
        ...

    async def progress(
        self, now: datetime, *, job: str | None = None, limit: int = 20
    ) -> list[DeliveryProgress]:
        """Progress of the newest jobs (or of one), newest first."""
        ...

    async def requeue(self, job: str, status: OutboxStatus, now: datetime) -> int:
        """Send a job's failed or uncertain messages again (a person's decision); how many."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimedMessage:
    """An outbox message a worker holds, with what it needs to send it."""

    id: int
    key: str
    job: str
    platform: str
    tenant: str
    recipient: str
    to_person: bool
    card: str
    attempts: int
    respect_working_hours: bool
    counts_towards_cap: bool
    cap_week: str | None
    timezone: str | None = None
    sending_at: datetime | None = None

    @property
    def person(self) -> PersonKey:
        """The recipient as a person (meaningful when ``to_person``)."""
        return PersonKey(self.platform, self.tenant, self.recipient)


class SendStart(StrEnum):
    """What ``DeliveryQueue.start_send`` decided."""

    STARTED = "started"
    DEFERRED = "deferred"
    LOST = "lost"


class DeliveryQueue(Protocol):
    """The outbox as the delivery workers see it: claims, leases, budgets and caps.

    Every change of a message is conditional on the worker still holding it (``owner``), so a
    worker whose lease ran out can never send or mark a message another worker took over.
    """

    async def claim(
        self,
        platforms: Sequence[str],
        owner: str,
        now: datetime,
        lease_until: datetime,
        limit: int,
    ) -> list[ClaimedMessage]:
        """Claim up to ``limit`` due queued messages of these platforms (oldest due first),
        skipping those other workers hold; the recipients' time zones come along."""
        ...

    async def expire_claims(self, now: datetime) -> int:
        """Give back claims whose lease ran out (their worker died before sending)."""
        ...

    async def hold_cap(self, message: ClaimedMessage, week: str, cap: int) -> bool:
        """Count the message in its recipient's ``week`` unless they already have ``cap``;
        False when the cap is reached."""
        ...

    async def defer(
        self, message_id: int, owner: str, until: datetime, reason: str | None = None
    ) -> bool:
        """Put a held message back in the queue until ``until`` (no attempt is counted)."""
        ...

    async def start_send(
        self,
        message: ClaimedMessage,
        owner: str,
        now: datetime,
        lease_until: datetime,
        conversation_bucket: str,
        interval: float,
        wall: float,
    ) -> tuple[SendStart, datetime | None]:
        """Commit "sending" just before the platform call, if the conversation's own budget
        allows a message at ``wall`` (epoch seconds). DEFERRED (with when) puts the message
        back until the conversation is free; LOST means another worker holds it now."""
        ...

    async def mark_sent(
        self, message_id: int, owner: str, now: datetime, message_ref: str | None
    ) -> bool:
        """The platform took the message."""
        ...

    async def retry_later(
        self, message_id: int, owner: str, when: datetime, error: str, *, attempt: bool = True
    ) -> bool:
        """Queue the message again for ``when`` (``attempt=False`` undoes the attempt count,
        for a 429 or a send that never happened)."""
        ...

    async def fail(self, message_id: int, owner: str, now: datetime, reason: str) -> bool:
        """The message cannot be sent, ever: failed, with the reason; its cap place is freed."""
        ...

    async def mark_uncertain(self, message_id: int, owner: str, now: datetime, reason: str) -> bool:
        """Nobody can know whether the message arrived: it is left alone (never resent)."""
        ...

    async def probe_later(self, message_id: int, owner: str, when: datetime, error: str) -> bool:
        """The send may have happened (a timeout): leave it "sending" until ``when``, when the
        recovery asks the platform whether it arrived."""
        ...

    async def take_expired_sends(
        self, platforms: Sequence[str], owner: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[ClaimedMessage]:
        """Messages left "sending" past their lease (a crash or a timeout during the call),
        taken over by ``owner`` to find out what happened."""
        ...

    async def take_slots(
        self, bucket: str, count: int, interval: float, wall: float
    ) -> tuple[float, float]:
        """Reserve ``count`` sends from a shared budget of one send per ``interval`` seconds
        (twice that while slowed): the epoch second of the first and the step between them."""
        ...

    async def slow_down(self, bucket: str, wall: float, pause: float, recovery: float) -> None:
        """A 429: nobody sends from the bucket for ``pause`` seconds, then at half speed for
        ``recovery`` seconds."""
        ...

    async def forget_buckets(self, before: float) -> int:
        """Drop budgets idle since before ``before`` (epoch seconds)."""
        ...

    async def depth(self) -> dict[tuple[str, str], int]:
        """Messages per (platform, status), for /metrics."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule:
    """A recurring job: run the handler registered for ``kind`` at each slot of ``cron``
    (``"minute hour day month day_of_week"``, optionally with seconds first) in ``timezone``.

    A slot missed while no instance was running still runs, once, if an instance starts within
    ``grace`` of it. ``active_from`` (set by the store) is when the rule last changed: slots
    before it never run.
    """

    id: str
    kind: str
    cron: str
    timezone: str = "Europe/London"
    params: Mapping[str, Any] = field(default_factory=dict)
    grace: timedelta = timedelta(hours=1)
    enabled: bool = True
    active_from: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleRun:
    """A slot of a schedule that ran."""

    schedule_id: str
    period: str
    scheduled_for: datetime
    claimed_at: datetime
    instance: str


class ScheduleStore(Protocol):
    """Schedules and their runs. Every change bumps ``revision``, which instances poll."""

    async def put(self, schedule: Schedule, now: datetime) -> Schedule:
        """Create or replace; the stored schedule."""
        ...

    async def add(self, schedule: Schedule, now: datetime) -> bool:
        """Create unless a schedule with this id exists (which is kept as it is)."""
        ...

    async def remove(self, schedule_id: str) -> bool:
        """Delete; False when there was none."""
        ...

    async def get(self, schedule_id: str) -> Schedule | None:
        """One schedule."""
        ...

    async def all(self) -> list[Schedule]:
        """Every schedule, by id."""
        ...

    async def revision(self) -> int:
        """A number that changes whenever any schedule changes."""
        ...

    async def claim(
        self, schedule_id: str, period: str, scheduled_for: datetime, now: datetime, instance: str
    ) -> bool:
        """Claim a slot; False when it was claimed before (by anyone)."""
        ...

    async def runs(self, schedule_id: str, limit: int = 10) -> list[ScheduleRun]:
        """The latest runs, newest first."""
        ...


class MetaStore(Protocol):
    """Small installation facts."""

    async def get(self, key: str) -> str | None:
        """The value, if set."""
        ...

    async def put_if_absent(self, key: str, value: str) -> str:
        """Set the value unless already set; the value that is stored."""
        ...

    async def put(self, key: str, value: str) -> None:
        """Set the value."""
        ...


class Stores(Protocol):
    """All stores, bound to one unit of work (one transaction)."""

    @property
    def dialogs(self) -> DialogStore: ...
    @property
    def events(self) -> EventLog: ...
    @property
    def people(self) -> PeopleStore: ...
    @property
    def checkins(self) -> CheckinStore: ...
    @property
    def team_checkins(self) -> TeamCheckinStore: ...
    @property
    def commitments(self) -> CommitmentStore: ...
    @property
    def console(self) -> ConsoleFeed: ...
    @property
    def meta(self) -> MetaStore: ...
    @property
    def outbox(self) -> OutboxStore: ...
    @property
    def delivery(self) -> DeliveryQueue: ...
    @property
    def schedules(self) -> ScheduleStore: ...
