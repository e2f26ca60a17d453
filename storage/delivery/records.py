"""The outbox's records and its two interfaces: ``OutboxStore`` (what features use to queue
proactive messages) and ``DeliveryQueue`` (what the delivery workers use: claims, leases, send
budgets and weekly caps)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from storage.people import PersonKey


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxMessage:
    """A proactive message waiting to be sent to one recipient.

    ``key`` makes it idempotent ("barometer:2027-05:slack:T1:U123"): queueing the same key again
    does nothing. ``job`` groups the messages of one delivery (a barometer round, a digest) for
    progress reports. The recipient is a person (``to_person``: their direct chat with the bot)
    or a conversation id (a channel), optionally a ``thread`` in it (Slack ``thread_ts``, a
    Teams reply chain). ``card`` is the card's JSON (``bot.ui.card_to_json``). Messages to
    people wait for their working hours and count towards their weekly cap unless told
    otherwise. ``replaces`` (a channel message's platform id, as ``CardPosted`` gave it) makes
    it a change to that message instead of a new one: the card posted there takes this face.
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
    replaces: str | None = None


class OutboxStatus(StrEnum):
    """Where an outbox message has got to (see ``storage.delivery.tables.OutboxRow``)."""

    QUEUED = "queued"
    CLAIMED = "claimed"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNCERTAIN = "uncertain"
    CANCELLED = "cancelled"
    """Never to be sent: its recipient left (or was erased) before it went."""


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
    cancelled: int = 0
    """Not sent because their recipient left."""
    sent_recently: int = 0
    window: timedelta = timedelta(minutes=5)
    created_at: datetime
    last_sent_at: datetime | None = None
    next_waiting_at: datetime | None = None
    keeps_hours: bool = False
    """Some of the messages still to send wait for their recipients' working hours."""

    @property
    def total(self) -> int:
        """Every message of the job."""
        return (
            self.queued
            + self.waiting
            + self.in_flight
            + self.sent
            + self.failed
            + self.uncertain
            + self.cancelled
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

    async def waiting_for(self, person: PersonKey) -> int:
        """How many messages to the person are still to be sent."""
        ...

    async def cancel_to(self, person: PersonKey, now: datetime) -> int:
        """Cancel the messages to the person not sent yet (queued, or claimed by a worker that
        has not started sending): the workers never send them. How many."""
        ...

    async def forget(self, person: PersonKey, keys_starting: Sequence[str] = ()) -> int:
        """Erase every message to the person, whatever its state, their weekly counts, and the
        messages whose key starts with one of ``keys_starting`` (channel posts about them).
        How many rows."""
        ...

    async def forget_mentions(
        self, job_prefix: str, platform: str, tenant: str, needles: Sequence[str]
    ) -> int:
        """Erase finished messages (sent, failed, uncertain, cancelled) of jobs starting with
        ``job_prefix`` whose card holds one of ``needles`` (an erased person's name as a
        channel post showed it); how many. Messages still to send are left to go."""
        ...

    async def forget_before(self, when: datetime, week: str) -> int:
        """Retention: messages finished (sent, failed, uncertain, cancelled) before ``when``,
        and weekly counts of weeks before ``week`` ("2026-W49"), go. How many rows."""
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
    replaces: str | None = None

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
