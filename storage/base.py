"""The storage interfaces the core and the dialogs use, and the records they exchange.

Each store is a small ``Protocol``; ``storage.sql`` implements them all on SQLAlchemy (SQLite or
PostgreSQL) and ``tests/contract`` runs one suite against both. Records are frozen dataclasses, so
no database object ever leaves a unit of work.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
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
    extra: Mapping[str, str] = field(default_factory=dict)


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


class CommitmentStatus(StrEnum):
    """Whether a commitment is still being worked on."""

    OPEN = "open"
    DONE = "done"


@dataclass(frozen=True, slots=True, kw_only=True)
class Commitment:
    """A personal commitment ("My contribution is to..."): private to its owner until shared.

    ``review_on`` is the day its owner wants a nudge to look back at it; ``review_nudged_at``
    says the nudge for that day has been queued."""

    id: str
    owner: PersonKey
    text: str
    behaviours: tuple[str, ...] = ()
    source: str | None = None
    status: str = CommitmentStatus.OPEN
    review_on: date | None = None
    created_at: datetime
    shared_at: datetime | None = None
    done_at: datetime | None = None
    review_nudged_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        """True until its owner marks it done."""
        return self.status == CommitmentStatus.OPEN


class CaseStudyStatus(StrEnum):
    """Where a case study is in moderation. Only ``APPROVED`` ones are ever published."""

    PENDING = "pending"
    CHANGES_REQUESTED = "changes_requested"
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseStudy:
    """A story of what good looks like, submitted by a member of staff for comms to moderate.

    ``revision`` counts submissions (an edit after "ask for changes" is the next revision), so a
    moderator's click on an older revision's card is recognised. ``named`` is the author's
    consent to be named when it is published."""

    id: str
    author: PersonKey
    title: str
    story: str
    behaviours: tuple[str, ...]
    difference: str
    named: bool
    status: str = CaseStudyStatus.PENDING
    revision: int = 1
    moderator: str | None = None
    moderator_note: str | None = None
    submitted_at: datetime
    decided_at: datetime | None = None


class DigestScheduleStatus(StrEnum):
    """Whether a digest schedule sends."""

    ACTIVE = "active"
    PAUSED = "paused"


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestSchedule:
    """A weekly digest to one channel: ``weekday`` (0 = Monday) at ``hour``:``minute`` in
    ``timezone``. One schedule per channel. Slots before ``active_since`` (when it was made,
    changed or resumed) never fire. ``if_empty`` is "message" or "skip"."""

    id: str
    place: ConversationRef
    label: str
    weekday: int
    hour: int
    minute: int
    timezone: str
    if_empty: str
    status: str = DigestScheduleStatus.ACTIVE
    created_by: str
    created_at: datetime
    active_since: datetime

    @property
    def is_active(self) -> bool:
        """True unless paused."""
        return self.status == DigestScheduleStatus.ACTIVE


class DigestRunStatus(StrEnum):
    """What a claimed digest slot became."""

    CLAIMED = "claimed"
    QUEUED = "queued"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestRun:
    """One digest to one channel for one period (``schedule_id`` + ``period`` are unique: the
    slot). ``body`` is the digest's content as JSON, for the web page."""

    id: str
    schedule_id: str
    period: str
    place: ConversationRef
    claimed_at: datetime
    as_of: datetime
    status: str = DigestRunStatus.CLAIMED
    body: str | None = None
    case_studies: int = 0
    commitments: int = 0


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

    async def get_many(self, keys: Sequence[PersonKey]) -> dict[PersonKey, Person]:
        """Those of the people the bot has met, by key, in a few statements."""
        ...

    async def conversation(
        self, platform: str, tenant: str, conversation: str
    ) -> ConversationRef | None:
        """A conversation the bot has been in, to post there again."""
        ...

    async def everyone(self) -> list[PersonKey]:
        """Everyone the bot has met, on every platform and tenant."""
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

    async def last_closed(self, place: ConversationRef) -> TeamCheckin | None:
        """The team check-in in this place that closed last, if any."""
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
    """Personal commitments. Changes name the owner, so nobody changes another's."""

    async def add(self, commitment: Commitment) -> Commitment:
        """Store it; with a ``source`` already stored, the stored one is returned instead."""
        ...

    async def get(self, commitment_id: str) -> Commitment | None:
        """One commitment, if it exists."""
        ...

    async def for_owner(self, owner: PersonKey, limit: int) -> list[Commitment]:
        """The owner's commitments, newest first."""
        ...

    async def by_source(self, source: str) -> Commitment | None:
        """The commitment made from a source (a check-in), if any."""
        ...

    async def edit(
        self,
        commitment_id: str,
        owner: PersonKey,
        *,
        text: str,
        behaviours: Sequence[str],
        review_on: date | None,
        now: datetime,
    ) -> Commitment | None:
        """Change what it says; a new review date gets its own nudge. None if not the owner's."""
        ...

    async def set_status(
        self, commitment_id: str, owner: PersonKey, status: str, now: datetime
    ) -> Commitment | None:
        """Mark it done (or open again); None if not the owner's."""
        ...

    async def set_review(
        self, commitment_id: str, owner: PersonKey, review_on: date | None, now: datetime
    ) -> Commitment | None:
        """A new review date (None: no review); None if not the owner's."""
        ...

    async def mark_shared(self, commitment_id: str, owner: PersonKey, now: datetime) -> bool:
        """Record that it was shared; False if it was shared before (or is not the owner's)."""
        ...

    async def delete(self, commitment_id: str, owner: PersonKey) -> bool:
        """Delete it; False if not the owner's."""
        ...

    async def shared_between(
        self, platform: str, tenant: str, after: datetime, until: datetime, limit: int
    ) -> list[Commitment]:
        """Commitments shared in (after, until] in a workspace or tenant, newest first."""
        ...

    async def count_shared_between(
        self, platform: str, tenant: str, after: datetime, until: datetime
    ) -> int:
        """How many commitments were shared in (after, until]."""
        ...

    async def due_for_review(self, today: date, limit: int) -> list[Commitment]:
        """Open commitments whose review day has come and whose nudge is not yet queued."""
        ...

    async def mark_nudged(self, commitment_id: str, review_on: date, now: datetime) -> bool:
        """Record that the nudge for ``review_on`` is queued; False if already recorded or the
        review date changed meanwhile."""
        ...


class CaseStudyStore(Protocol):
    """Case studies and their moderation."""

    async def add(self, case_study: CaseStudy) -> bool:
        """Store a new submission; False when its id is stored already (a second click on the
        same form)."""
        ...

    async def get(self, case_study_id: str) -> CaseStudy | None:
        """One case study, if it exists."""
        ...

    async def resubmit(
        self,
        case_study_id: str,
        author: PersonKey,
        *,
        title: str,
        story: str,
        behaviours: Sequence[str],
        difference: str,
        named: bool,
        now: datetime,
    ) -> CaseStudy | None:
        """The author's edited version, back to pending as the next revision; None unless it is
        theirs and waiting for them (pending or changes requested)."""
        ...

    async def decide(
        self,
        case_study_id: str,
        revision: int,
        status: str,
        moderator: str,
        note: str | None,
        now: datetime,
    ) -> CaseStudy | None:
        """Approve, ask for changes or reject this revision if it is still pending; None when
        someone decided first or the author sent a newer revision."""
        ...

    async def pending(self, platform: str, tenant: str, limit: int) -> list[CaseStudy]:
        """Submissions waiting for comms, oldest first."""
        ...

    async def for_author(self, author: PersonKey, limit: int) -> list[CaseStudy]:
        """The author's case studies, newest first."""
        ...

    async def approved_for_digest(
        self, place: ConversationRef, after: datetime, until: datetime, limit: int
    ) -> list[CaseStudy]:
        """Approved in (after, until] in the place's workspace or tenant and never yet in a
        digest to that place, oldest approval first."""
        ...


class DigestStore(Protocol):
    """Digest schedules, the slots they claimed, and what each digest held."""

    async def save_schedule(self, schedule: DigestSchedule, now: datetime) -> DigestSchedule:
        """Create the place's schedule, or replace its timing if it has one (one per place)."""
        ...

    async def schedules(
        self, platform: str | None = None, tenant: str | None = None
    ) -> list[DigestSchedule]:
        """Schedules (of one workspace or tenant, when given), in creation order."""
        ...

    async def get_schedule(self, schedule_id: str) -> DigestSchedule | None:
        """One schedule, if it exists."""
        ...

    async def set_schedule_status(
        self, schedule_id: str, status: str, now: datetime
    ) -> DigestSchedule | None:
        """Pause or resume; resuming starts a new ``active_since``. None if it does not exist."""
        ...

    async def delete_schedule(self, schedule_id: str) -> bool:
        """Cancel a schedule (its past runs are kept)."""
        ...

    async def claim(self, run: DigestRun) -> bool:
        """Claim the run's slot (schedule + period): True for exactly one caller, however many
        instances try at once (``INSERT ... ON CONFLICT DO NOTHING``)."""
        ...

    async def finish(
        self,
        run_id: str,
        *,
        status: str,
        body: str | None,
        case_studies: int,
        commitments: int,
    ) -> None:
        """Record what the claimed run became."""
        ...

    async def include(self, run_id: str, place: ConversationRef, case_study_id: str) -> bool:
        """Record that a case study is in a digest to the place; False if it already was."""
        ...

    async def run_for(self, schedule_id: str, period: str) -> DigestRun | None:
        """The run of a slot, if claimed."""
        ...

    async def get_run(self, run_id: str) -> DigestRun | None:
        """One run, by its id."""
        ...

    async def last_run(self, place: ConversationRef) -> DigestRun | None:
        """The latest digest run to the place (any schedule), if any."""
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
    or a conversation id (a channel), optionally a ``thread`` in it (Slack ``thread_ts``, a
    Teams reply chain). ``card`` is the card's JSON (``bot.ui.card_to_json``). Messages to
    people wait for their working hours and count towards their weekly cap unless told
    otherwise.
    """

    key: str
    job: str
    platform: str
    tenant: str
    recipient: str
    to_person: bool
    card: str
    thread: str | None = None
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
    thread: str | None = None
    respect_working_hours: bool
    counts_towards_cap: bool
    cap_week: str | None
    timezone: str | None = None
    sending_at: datetime | None = None

    @property
    def person(self) -> PersonKey:
        """The recipient as a person (meaningful when ``to_person``)."""
        return PersonKey(self.platform, self.tenant, self.recipient)


@dataclass(frozen=True, slots=True, kw_only=True)
class SendToStart:
    """A claimed message about to be sent, and its conversation's own budget."""

    message: ClaimedMessage
    bucket: str
    """The conversation's budget (``bot.delivery.limits.conversation_bucket``)."""
    interval: float
    """Seconds between two sends to the conversation; 0 when it has no budget of its own."""


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

    async def hold_caps(self, wanted: Sequence[tuple[ClaimedMessage, str]], cap: int) -> list[bool]:
        """``hold_cap`` for each (message, week) of a claimed batch, in order, in a few
        statements; whether each was held."""
        ...

    async def defer(
        self, message_id: int, owner: str, until: datetime, reason: str | None = None
    ) -> bool:
        """Put a held message back in the queue until ``until`` (no attempt is counted)."""
        ...

    async def start_sends(
        self, starts: Sequence[SendToStart], owner: str, now: datetime, lease_until: datetime,
        wall: float,
    ) -> list[tuple[SendStart, datetime | None]]:  # fmt: skip
        """Commit "sending" just before the platform calls, for each message still held by
        ``owner`` whose conversation's own budget allows a message at ``wall`` (epoch seconds),
        in a few statements; what became of each, in order. DEFERRED (with when) puts the
        message back until its conversation is free (a second message to one conversation in
        the same call waits for the first); LOST means another worker holds it now."""
        ...

    async def mark_sent(
        self, message_id: int, owner: str, now: datetime, message_ref: str | None
    ) -> bool:
        """The platform took the message."""
        ...

    async def mark_sent_many(
        self, sent: Sequence[tuple[int, str | None]], owner: str, now: datetime
    ) -> list[bool]:
        """``mark_sent`` for several (message id, platform message id) at once, in a few
        statements; whether each was still held, in order."""
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

    async def forget_runs_before(self, when: datetime) -> int:
        """Drop the records of slots scheduled before ``when`` (long past any grace period);
        how many went."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundQuestion:
    """A question as a round asked it (kept with the round, so later content edits do not
    change what past results mean)."""

    id: str
    text: str
    short: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundScalePoint:
    """A point of the round's answer scale, most negative first."""

    id: str
    label: str
    agree: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundGroup:
    """A group people could say they belong to in this round."""

    id: str
    label: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BarometerRound:
    """One month's staff barometer.

    ``min_group`` and ``comment_min`` are fixed when the round opens. ``invited`` and
    ``answered`` are final once it has closed (while open, ``BarometerStore.participation``
    counts them).
    """

    id: str
    period: str
    opened_at: datetime
    closes_at: datetime
    min_group: int
    comment_min: int
    questions: tuple[RoundQuestion, ...]
    scale: tuple[RoundScalePoint, ...]
    groups: tuple[RoundGroup, ...] = ()
    asks_comment: bool = True
    status: str = "open"
    closed_at: datetime | None = None
    invited: int = 0
    answered: int = 0
    reminders_sent: int = 0

    @property
    def is_open(self) -> bool:
        """True until it closes."""
        return self.status == "open"


@dataclass(frozen=True, slots=True, kw_only=True)
class BarometerAnswer:
    """What one person answered: a scale point per question, optionally a group and a
    comment."""

    values: Mapping[str, str]
    group: str | None = None
    comment: str = ""


class AnswerOutcome(StrEnum):
    """What happened to an answer."""

    RECORDED = "recorded"
    ALREADY = "already"
    CHANGED = "changed"
    UNKNOWN = "unknown"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True, kw_only=True)
class BarometerTally:
    """How many answered each question with each scale point, by group (None: no group given
    or, after closing, a group too small to keep). ``respondents`` is the number of people."""

    round: BarometerRound
    respondents: int
    counts: Mapping[tuple[str, str | None, str], int]


@dataclass(frozen=True, slots=True, kw_only=True)
class BarometerComment:
    """A comment on a round (no person, no time, no group)."""

    id: str
    round_id: str
    text: str
    status: str = "pending"


class BarometerStore(Protocol):
    """Barometer rounds, participation (who) and responses (what), kept apart."""

    async def open(self, round_: BarometerRound) -> bool:
        """Store a new round; False when its period already has one (nothing changes)."""
        ...

    async def get(self, round_id: str) -> BarometerRound | None:
        """One round."""
        ...

    async def by_period(self, period: str) -> BarometerRound | None:
        """The round of a month ("2027-05"), if any."""
        ...

    async def current(self) -> BarometerRound | None:
        """The open round, if any (the latest opened when several are)."""
        ...

    async def closed(self, limit: int) -> list[BarometerRound]:
        """Closed rounds, newest first."""
        ...

    async def invite(self, round_id: str, people: Sequence[PersonKey]) -> int:
        """Record that these people are asked; how many were not asked before."""
        ...

    async def waiting(self, round_id: str) -> list[PersonKey]:
        """People asked who have not answered yet."""
        ...

    async def participation(self, round_id: str) -> tuple[int, int]:
        """(asked, answered) so far."""
        ...

    async def has_answered(self, round_id: str, person: PersonKey) -> bool:
        """True when the person has answered the round."""
        ...

    async def answer(
        self,
        round_id: str,
        person: PersonKey,
        answer: BarometerAnswer,
        token_hash: str,
        mix: int,
    ) -> AnswerOutcome:
        """Record a first answer: the participation row and the response rows, which carry
        ``token_hash`` but nothing of the person. ``ALREADY`` when the person has answered,
        ``CLOSED`` when the round is not open. ``mix`` other respondents' rows are written
        again with these, so that nothing about how rows were written (their physical place,
        PostgreSQL's transaction ids) singles out this answer among them."""
        ...

    async def change(
        self, round_id: str, token_hash: str, answer: BarometerAnswer, mix: int
    ) -> AnswerOutcome:
        """Replace the answer holding ``token_hash``: ``CHANGED``, ``UNKNOWN`` (no such
        answer) or ``CLOSED``."""
        ...

    async def holds(self, round_id: str, token_hash: str) -> bool:
        """True when an answer in the open round holds ``token_hash``."""
        ...

    async def reminded(self, round_id: str, sent: int, now_sent: int) -> bool:
        """Count reminders: ``now_sent`` instead of ``sent``, if ``sent`` were counted so far and
        the round is open; False if someone else counted them first."""
        ...

    async def tally(self, round_id: str) -> BarometerTally:
        """The counts of a round."""
        ...

    async def close(self, round_id: str, now: datetime) -> BarometerRound | None:
        """Close the round if open, returning it closed (None if someone closed it first). The
        counts of asked and answered are kept on the round and its participation rows are
        deleted: who took part is not needed once nobody can answer."""
        ...

    async def seal(self, round_id: str, keep_groups: Collection[str], keep_comments: bool) -> None:
        """Write a closed round's responses and comments again, in random order, with new
        response ids and no token hash (nothing can change them any more); groups not in
        ``keep_groups`` are erased from the responses, and the comments are deleted unless
        ``keep_comments`` (too few answered for them ever to be shown)."""
        ...

    async def comments(
        self, round_id: str, statuses: Collection[str] = ("pending", "approved", "rejected")
    ) -> list[BarometerComment]:
        """A round's comments with these statuses (in their random id order)."""
        ...

    async def moderate(self, round_id: str, comment_id: str, status: str) -> bool:
        """Set a comment's status; False when there is no such comment."""
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

    async def starting_with(self, prefix: str) -> dict[str, str]:
        """Every key beginning with ``prefix``, with its value."""
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
    def case_studies(self) -> CaseStudyStore: ...
    @property
    def digests(self) -> DigestStore: ...
    @property
    def console(self) -> ConsoleFeed: ...
    @property
    def meta(self) -> MetaStore: ...
    @property
    def outbox(self) -> OutboxStore: ...
    @property
    def barometer(self) -> BarometerStore: ...
    @property
    def delivery(self) -> DeliveryQueue: ...
    @property
    def schedules(self) -> ScheduleStore: ...
