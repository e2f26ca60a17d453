"""The delivery worker: takes proactive messages from the outbox and sends them, once each.

The protocol, per message (docs/delivery.md draws it):

1. **claim** a batch (one transaction): due queued rows of the platforms this process has an
   adapter for, ``FOR UPDATE SKIP LOCKED``, marked "claimed" under this worker's lease. In the
   same transaction, messages to people outside their working hours, or over their weekly cap,
   go back to the queue until the time they may be sent.
2. wait for this instance's slot in the workspace/tenant budget (``SharedBudget``).
3. **start** (its own committed transaction): the row becomes "sending" only if this worker
   still holds the claim and the conversation's own budget has room.
4. **call** the platform through the adapter's ``Outbound``, with the outbox key.
5. **finish** (one transaction): "sent"; or back to the queue (429, 5xx, timeouts, with
   backoff), or "failed" with the reason (the recipient cannot be reached, or too many
   attempts).

A message given up for good is logged at WARNING (its job, key and reason, never its card) and,
once its failure is committed, a ``DeliveryFailed`` event goes through the dispatcher to the
feature that queued it (``router.undelivered``), in a unit of work of its own: only the worker
whose "failed" mark took effect sends it, so the reaction happens once however many instances
run.

A crash between 3 and 5 leaves a "sending" row. When its lease runs out, a worker asks the
platform whether the message arrived (``Outbound.was_sent``): yes, it is marked sent; no, it
is sent again; cannot tell, it is marked "uncertain" and never resent, so nobody gets a message
twice. A database lost between 3 and 5 leaves the same, and is settled the same way. A change
to a message already posted (``replaces``) needs no asking: made twice, it shows the same card,
so an interrupted one is simply made again.

``stop`` ends it gracefully (``valuesbot serve`` on SIGTERM): no new claim, the sends under way
finish, and the messages of the batch in hand not yet started go straight back to the queue for
the other instances, instead of waiting for the lease to run out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from prometheus_client import CollectorRegistry, Counter, Gauge

from bot.clock import Clock
from bot.delivery.hours import WorkingHours, next_week, week_of, zone_or
from bot.delivery.limits import (
    LeadTimes,
    PlatformLimits,
    SharedBudget,
    conversation_bucket,
    tenant_bucket,
)
from bot.delivery.scheduler import BOT
from bot.dispatch import Dispatcher
from bot.events import (
    ConversationKind,
    ConversationRef,
    DeliveryFailed,
    Failure,
    MessageRef,
    Platform,
)
from bot.outbound import (
    Outbound,
    RateLimited,
    RecipientUnreachable,
    SendError,
    TemporarySendError,
)
from bot.ui import Card, card_from_json
from storage.delivery import ClaimedMessage, SendStart, SendToStart
from storage.engine import Database, DatabaseUnavailable
from storage.people import Person, PersonKey
from storage.stores import Stores

log = logging.getLogger("valuesbot.delivery")

# How far back a "did it arrive?" question looks before the send began (clock differences
# between this machine and the platform).
PROBE_MARGIN = timedelta(minutes=2)
# Backoff after a temporary failure: base * 2^attempts, capped, with full jitter.
BACKOFF_BASE = 2.0
BACKOFF_CAP = 600.0
# Distinct cards kept read (a fan-out sends one card to everyone).
CARDS_KEPT = 16


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryConfig:
    """How the worker behaves (from ``Settings``; see ``bot.app``)."""

    limits: Mapping[str, PlatformLimits]
    working_hours: WorkingHours
    weekly_cap: int = 3
    timezone: str = "Europe/London"
    concurrency: int = 8
    send_timeout: float = 30.0
    max_attempts: int = 8
    poll: float = 1.0
    lease_margin: float = 30.0
    backoff_base: float = BACKOFF_BASE
    batch_seconds: float = 5.0
    max_batch: int = 200

    def limits_for(self, platform: str) -> PlatformLimits:
        """The platform's limits (a generous default for platforms without documented ones)."""
        return self.limits.get(platform, PlatformLimits(rate=50.0))

    def batch_for(self, platform: str) -> int:
        """How many messages one claim takes: a few seconds' worth at the platform's rate."""
        rate = self.limits_for(platform).rate
        return max(1, min(self.max_batch, int(rate * self.batch_seconds)))

    def claim_lease(self, platform: str, size: int) -> timedelta:
        """How long a worker holds a claimed batch: long enough to pace through it."""
        pacing = 2 * size / self.limits_for(platform).rate
        return timedelta(seconds=pacing + self.send_timeout + self.lease_margin)

    @property
    def sending_lease(self) -> timedelta:
        """How long a "sending" row is left alone before recovery asks the platform about it:
        past the send timeout, so the call that marked it has certainly ended."""
        return timedelta(seconds=self.send_timeout + self.lease_margin)


class DeliveryMetrics:
    """Outbox counters for ``/metrics``, in the process's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        def counter(name: str, what: str) -> Counter:
            return Counter(name, what, ["platform"], registry=registry)

        self.sent = counter("valuesbot_outbox_sent", "Proactive messages the platform took.")
        self.failed = counter("valuesbot_outbox_failed", "Proactive messages given up for good.")
        self.retried = counter(
            "valuesbot_outbox_retried", "Sends that failed for now and were queued again."
        )
        self.rate_limited = counter(
            "valuesbot_outbox_rate_limited", "429 answers (too many requests) from the platform."
        )
        self.uncertain = counter(
            "valuesbot_outbox_uncertain",
            "Sends interrupted where the platform cannot tell whether they arrived.",
        )
        self.deferred = Counter(
            "valuesbot_outbox_deferred",
            "Messages put back until later: working hours, weekly cap, a busy conversation.",
            ["platform", "reason"],
            registry=registry,
        )
        self.depth = Gauge(
            "valuesbot_outbox_depth",
            "Outbox messages by platform and status (refreshed by housekeeping).",
            ["platform", "status"],
            registry=registry,
        )


def backoff(
    attempts: int, base: float = BACKOFF_BASE, rng: Callable[[], float] = random.random
) -> timedelta:
    """How long to wait after the ``attempts``-th temporary failure (jittered exponential)."""
    ceiling = min(BACKOFF_CAP, base * (2 ** max(attempts - 1, 0)))
    return timedelta(seconds=ceiling * (0.5 + rng() / 2))


Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupCommit(Generic[Item, Result]):
    """Runs the database work of many concurrent sends together: one transaction and a few
    set-based statements for all the items waiting.

    Each send's "start" and "finish" stays conditional on the worker's lease, row by row, but a
    transaction (and statements) per message made the sends queue for the database (on SQLite,
    for its one write lock) more than for the platform. Items that arrive while a transaction
    runs go into the next one, so under load one commit carries many messages, and alone a
    message waits for nobody. If a shared transaction fails, its items are run again one
    transaction each, so one bad row fails only its own send.
    """

    def __init__(
        self,
        database: Database,
        work: Callable[[Stores, list[Item]], Awaitable[Sequence[Result]]],
    ) -> None:
        self.database = database
        self.work = work
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def run(self, item: Item) -> Result:
        """``item``'s result, once the transaction that carried it has committed."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting, []
            try:
                async with self.database.unit(bulk=True) as stores:
                    results = await self.work(stores, [item for item, _ in group])
            except Exception as error:
                if len(group) == 1:
                    _settle(group[0][1], error=error)
                    continue
                # All rolled back: each item again, alone.
                for item, future in group:
                    try:
                        async with self.database.unit(bulk=True) as stores:
                            (result,) = await self.work(stores, [item])
                    except Exception as alone:
                        _settle(future, error=alone)
                    else:
                        _settle(future, result)
                continue
            for (_, future), result in zip(group, results, strict=True):
                _settle(future, result)


def _settle(
    future: asyncio.Future[Any], result: Any = None, error: BaseException | None = None
) -> None:
    if future.done():  # its send was cancelled meanwhile
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


@dataclass(slots=True)
class _Batch:
    ready: list[ClaimedMessage] = field(default_factory=list)
    deferred: int = 0
    people: dict[PersonKey, Person] = field(default_factory=dict)


class DeliveryWorker:
    """Sends the outbox of every platform connected to the dispatcher in this process."""

    def __init__(
        self,
        *,
        database: Database,
        dispatcher: Dispatcher,
        clock: Clock,
        config: DeliveryConfig,
        metrics: DeliveryMetrics,
        instance: str,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.database = database
        self.dispatcher = dispatcher
        self.clock = clock
        self.config = config
        self.metrics = metrics
        self.instance = instance
        self.budget = SharedBudget(database, wall=wall)
        self.wall = wall
        self._sending = asyncio.Semaphore(config.concurrency)
        self._lead = LeadTimes()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._starts = GroupCommit(database, self._start_sends)
        self._finishes = GroupCommit(database, self._mark_sent)
        self._cards: dict[str, Card] = {}
        self._stopping: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None

    @property
    def platforms(self) -> list[str]:
        """The platforms whose messages this process can send."""
        return [str(p) for p in self.dispatcher.platforms]

    def _stop_event(self) -> asyncio.Event:
        loop = asyncio.get_running_loop()
        if self._stopping is None or self._stopping[0] is not loop:
            self._stopping = (loop, asyncio.Event())
        return self._stopping[1]

    @property
    def stopping(self) -> bool:
        """True once ``stop`` was called."""
        return self._stopping is not None and self._stopping[1].is_set()

    def stop(self) -> None:
        """Claim nothing more; ``run`` returns once the sends under way have finished and the
        rest of the batch in hand is back in the queue."""
        self._stop_event().set()

    async def run(self) -> None:
        """Deliver until stopped (or cancelled), resting ``poll`` seconds whenever nothing is
        due."""
        stopping = self._stop_event()
        try:
            while not stopping.is_set():
                try:
                    busy = await self._round()
                    if not busy:
                        busy = await self._finish_in_flight()
                except asyncio.CancelledError:
                    raise
                except DatabaseUnavailable:
                    log.warning("delivery waits for the database")
                    await self.database.wait_available(self.config.send_timeout)
                    continue
                except Exception:
                    log.exception("delivery round failed")
                    busy = 0
                if not busy:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stopping.wait(), self.config.poll)
        finally:
            await self._finish_in_flight()  # stopping: the sends under way finish

    async def run_once(self) -> int:
        """One round: recover interrupted sends, then one batch per platform, its sends
        finished; how many messages were handled."""
        handled = await self._round()
        await self._finish_in_flight()
        return handled

    async def _round(self) -> int:
        """``run_once`` without waiting for the batch's last sends (``run`` claims the next
        batch meanwhile)."""
        platforms = self.platforms
        if not platforms:
            return 0
        handled = await self.recover(platforms)
        results = await asyncio.gather(*(self.deliver_batch(p) for p in platforms))
        return handled + sum(results)

    async def drain(self, rounds: int = 10_000) -> None:
        """Run rounds until nothing is due (tests, the CLI)."""
        for _ in range(rounds):
            if not await self.run_once():
                return

    # -- claim -------------------------------------------------------------------------------

    async def deliver_batch(self, platform: str) -> int:
        """Claim one batch of the platform's due messages and send them."""
        limits = self.config.limits_for(platform)
        size = self.config.batch_for(platform)
        now = self.clock.now()
        lease = self.config.claim_lease(platform, size)
        async with self.database.unit(bulk=True) as stores:
            claimed = await stores.delivery.claim([platform], self.instance, now, now + lease, size)
            batch = _Batch()
            for message, until, reason in await self._sort(stores, claimed, now):
                if until is None:
                    batch.ready.append(message)
                else:
                    await stores.delivery.defer(message.id, self.instance, until)
                    self.metrics.deferred.labels(platform, reason).inc()
                    batch.deferred += 1
            # The recipients as stored, read together (each send would otherwise read its own).
            batch.people = await stores.people.get_many(
                [m.person for m in batch.ready if m.to_person]
            )
        if not claimed:
            return 0
        tasks: list[asyncio.Task[None]] = []
        try:
            for message in batch.ready:
                if self.stopping:
                    break
                # A place among the sends under way first, then the slot: a slot waits for
                # nothing else before its send starts.
                await self._sending.acquire()
                try:
                    bucket = tenant_bucket(platform, message.tenant)
                    lead = self.budget.lead(bucket, self._lead.lead)
                    slot = await self._unless_stopped(self.budget.acquire(bucket, limits, lead))
                except BaseException:
                    self._sending.release()
                    raise
                if slot is None:
                    self._sending.release()
                    break
                known = batch.people.get(message.person) if message.to_person else None
                task = asyncio.create_task(self._send_one(message, limits, slot, known))
                task.add_done_callback(self._sent_one)
                self._in_flight.add(task)
                tasks.append(task)
        except BaseException:
            # Stopping (or failing) half-way: sends under way finish, the rest of the batch
            # goes straight back to the queue instead of waiting for the lease to run out.
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            if len(tasks) < len(batch.ready):
                await self._give_back(batch.ready[len(tasks) :])
            raise
        if len(tasks) < len(batch.ready):  # stopped half-way
            await self._give_back(batch.ready[len(tasks) :])
        # The batch's last sends finish while the next batch is claimed: the sending never
        # waits for a claim (``run_once`` waits for them when nothing else is due).
        return len(claimed)

    async def _unless_stopped(self, wait: Awaitable[float]) -> float | None:
        """Wait for ``wait`` (a slot in a budget), unless ``stop`` comes first (None)."""
        waiting = asyncio.ensure_future(wait)
        stopped = asyncio.ensure_future(self._stop_event().wait())
        try:
            await asyncio.wait((waiting, stopped), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waiting, stopped):
                if not task.done():
                    task.cancel()
            await asyncio.gather(waiting, stopped, return_exceptions=True)
        if waiting.done() and not waiting.cancelled():
            return waiting.result()  # or its error
        return None

    def _sent_one(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._sending.release()

    async def _finish_in_flight(self) -> int:
        """Wait for the sends under way; how many there were."""
        tasks = list(self._in_flight)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        return len(tasks)

    async def _give_back(self, messages: list[ClaimedMessage]) -> None:
        now = self.clock.now()
        try:
            async with self.database.unit(bulk=True) as stores:  # it writes: not a ``reading`` unit
                for message in messages:
                    await stores.delivery.defer(message.id, self.instance, now)
        except Exception:
            log.warning("could not give back %d claimed messages", len(messages), exc_info=True)

    async def _sort(
        self, stores: Stores, claimed: list[ClaimedMessage], now: datetime
    ) -> list[tuple[ClaimedMessage, datetime | None, str]]:
        """Each claimed message, with when it must wait until (working hours, weekly cap) and
        why, or None when it may go now. The batch's weekly caps are counted together."""
        hours = self.config.working_hours
        sorted_: list[tuple[ClaimedMessage, datetime | None, str]] = []
        capped: list[tuple[int, ZoneInfo]] = []
        for message in claimed:
            if message.to_person:
                zone = zone_or(message.timezone, self.config.timezone)
                if message.respect_working_hours and not hours.contains(now, zone):
                    sorted_.append((message, hours.next_open(now, zone), "working_hours"))
                    continue
                if message.counts_towards_cap:
                    capped.append((len(sorted_), zone))
            sorted_.append((message, None, ""))
        held = await stores.delivery.hold_caps(
            [(sorted_[n][0], week_of(now, zone)) for n, zone in capped], self.config.weekly_cap
        )
        for (n, zone), ok in zip(capped, held, strict=True):
            if not ok:
                message = sorted_[n][0]
                if message.respect_working_hours:
                    sorted_[n] = (message, hours.next_week_open(now, zone), "cap")
                else:
                    sorted_[n] = (message, next_week(now, zone), "cap")
        return sorted_

    # -- send --------------------------------------------------------------------------------

    async def _target(self, message: ClaimedMessage) -> PersonKey | ConversationRef:
        if message.to_person:
            return message.person
        async with self.database.reading() as stores:
            known = await stores.people.conversation(
                message.platform, message.tenant, message.recipient
            )
        if known is not None:
            return replace(known, thread=message.thread)
        return ConversationRef(
            platform=Platform(message.platform),
            tenant=message.tenant,
            conversation=message.recipient,
            kind=ConversationKind.CHANNEL,
            thread=message.thread,
        )

    async def _call(
        self,
        outbound: Outbound,
        target: PersonKey | ConversationRef,
        card: Card,
        message: ClaimedMessage,
        known: Person | None,
    ) -> MessageRef | None:
        key = message.key
        if message.replaces is not None:
            if isinstance(target, PersonKey):
                raise RecipientUnreachable("only a channel message can be changed")
            changed = MessageRef(id=message.replaces)
            await outbound.replace(target, changed, card, key=key)
            return changed
        if isinstance(target, PersonKey):
            return await outbound.post_direct(target, card, key=key, known=known)
        return await outbound.post(target, card, key=key)

    async def _send_one(
        self,
        message: ClaimedMessage,
        limits: PlatformLimits,
        slot: float,
        known: Person | None = None,
    ) -> None:
        try:
            await self._send(message, limits, slot, known)
        except DatabaseUnavailable:
            # The lease runs out and recovery asks the platform whether it arrived.
            log.warning("outbox id=%s: the database went away during its send", message.id)
        except Exception:
            # The database failed under us: the lease runs out and recovery takes over.
            log.exception("delivery of outbox id=%s failed", message.id)

    def _card(self, stored: str) -> Card:
        """The card of a stored message. A fan-out's messages share one card: it is read once
        and the same object goes to every recipient (adapters keep what they drew of it)."""
        card = self._cards.get(stored)
        if card is None:
            card = card_from_json(stored)
            if len(self._cards) >= CARDS_KEPT:
                self._cards.pop(next(iter(self._cards)))
            self._cards[stored] = card
        return card

    async def _start_sends(
        self, stores: Stores, starts: list[SendToStart]
    ) -> list[tuple[SendStart, datetime | None]]:
        now = self.clock.now()
        lease = now + self.config.sending_lease
        return await stores.delivery.start_sends(starts, self.instance, now, lease, self.wall())

    async def _mark_sent(self, stores: Stores, sent: list[tuple[int, str | None]]) -> list[bool]:
        return await stores.delivery.mark_sent_many(sent, self.instance, self.clock.now())

    async def _send(
        self, message: ClaimedMessage, limits: PlatformLimits, slot: float, known: Person | None
    ) -> None:
        platform = message.platform
        owner = self.instance
        try:
            card = self._card(message.card)
        except Exception as error:
            reason = f"bad card: {type(error).__name__}"
            async with self.database.unit(bulk=True) as stores:
                failed = await stores.delivery.fail(message.id, owner, self.clock.now(), reason)
            self.metrics.failed.labels(platform).inc()
            if failed:
                await self._given_up(message, Failure.BAD_CARD, reason)
            return
        outbound = self.dispatcher.outbound(Platform(platform))
        begun = time.monotonic()
        target = await self._target(message)
        started, _until = await self._starts.run(
            SendToStart(
                message=message,
                bucket=conversation_bucket(platform, message.tenant, message.recipient),
                interval=limits.conversation_interval,
            )
        )
        if started is SendStart.DEFERRED:
            self.metrics.deferred.labels(platform, "conversation").inc()
            return
        if started is SendStart.LOST:
            log.info("outbox id=%s was taken over by another worker", message.id)
            return
        self._lead.took(time.monotonic() - begun)
        attempts = message.attempts + 1
        await self.budget.space(tenant_bucket(platform, message.tenant), limits, slot)
        try:
            ref = await asyncio.wait_for(
                self._call(outbound, target, card, message, known), self.config.send_timeout
            )
        except RateLimited as error:
            self.metrics.rate_limited.labels(platform).inc()
            await self.budget.penalise(tenant_bucket(platform, message.tenant), error.retry_after)
            when = self.clock.now() + timedelta(seconds=error.retry_after)
            async with self.database.unit(bulk=True) as stores:
                await stores.delivery.retry_later(
                    message.id, owner, when, str(error), attempt=False
                )
            self.metrics.retried.labels(platform).inc()
        except RecipientUnreachable as error:
            async with self.database.unit(bulk=True) as stores:
                failed = await stores.delivery.fail(
                    message.id, owner, self.clock.now(), error.reason
                )
            self.metrics.failed.labels(platform).inc()
            if failed:
                await self._given_up(message, Failure.UNREACHABLE, error.reason)
        except DatabaseUnavailable:
            raise  # the adapter's own lookup: the row stays "sending" until recovery settles it
        except Exception as error:
            maybe_sent = not isinstance(error, TemporarySendError) or error.maybe_sent
            await self._temporary(message, attempts, error, maybe_sent=maybe_sent)
        else:
            await self._finishes.run((message.id, ref.id if ref else None))
            self.metrics.sent.labels(platform).inc()

    async def _temporary(
        self, message: ClaimedMessage, attempts: int, error: BaseException, *, maybe_sent: bool
    ) -> None:
        platform = message.platform
        what = f"{type(error).__name__}: {error}".strip().rstrip(":")
        if not isinstance(error, TemporarySendError | TimeoutError):
            # Its type only: an unexpected error's message may repeat the card it failed on.
            log.error(
                "outbox id=%s: unexpected %s from the adapter", message.id, type(error).__name__
            )
        now = self.clock.now()
        given_up = f"gave up after {attempts} attempts: {what}"
        failed: bool | None = None  # whether this worker's "failed" took effect, if it tried
        async with self.database.unit(bulk=True) as stores:
            if maybe_sent:
                # It may have arrived: the recovery asks the platform before any resend.
                await stores.delivery.probe_later(
                    message.id,
                    self.instance,
                    now + backoff(attempts, self.config.backoff_base),
                    what,
                )
            elif attempts >= self.config.max_attempts:
                failed = await stores.delivery.fail(message.id, self.instance, now, given_up)
            else:
                await stores.delivery.retry_later(
                    message.id,
                    self.instance,
                    now + backoff(attempts, self.config.backoff_base),
                    what,
                )
        if failed is not None:
            self.metrics.failed.labels(platform).inc()
            if failed:
                await self._given_up(message, Failure.GAVE_UP, given_up)
            return
        self.metrics.retried.labels(platform).inc()

    async def _given_up(self, message: ClaimedMessage, failure: Failure, reason: str) -> None:
        """After a message's failure is committed (by this worker: only one can): say so in
        the log, and let the feature that queued it react (``router.undelivered``), through the
        dispatcher, in a unit of work of its own."""
        log.warning(
            "outbox message undelivered for good id=%s job=%s key=%s platform=%s failure=%s "
            "reason=%s",
            message.id,
            message.job,
            message.key,
            message.platform,
            failure,
            reason,
        )
        place = ConversationRef(
            platform=Platform(message.platform),
            tenant=message.tenant,
            conversation=message.recipient,
            kind=ConversationKind.DIRECT if message.to_person else ConversationKind.CHANNEL,
            thread=message.thread,
        )
        failed_at = self.clock.now()
        await self.dispatcher.handle(
            DeliveryFailed(
                conversation=place,
                actor=BOT,
                # One event per failure: a message sent again by hand may fail again.
                event_id=f"undelivered:{message.id}:{failed_at.timestamp():.6f}",
                key=message.key,
                job=message.job,
                to_person=message.to_person,
                failure=failure,
                reason=reason,
                update=message.replaces is not None,
            )
        )

    # -- recovery ----------------------------------------------------------------------------

    async def recover(self, platforms: list[str]) -> int:
        """Give back expired claims; find out what became of sends interrupted mid-call."""
        now = self.clock.now()
        async with self.database.unit(bulk=True) as stores:
            await stores.delivery.expire_claims(now)
            interrupted = await stores.delivery.take_expired_sends(
                platforms,
                self.instance,
                now,
                now + self.config.sending_lease,
                50,
            )
        for message in interrupted:
            await self._settle(message)
        return len(interrupted)

    async def _settle(self, message: ClaimedMessage) -> None:
        platform = message.platform
        outbound = self.dispatcher.outbound(Platform(platform))
        target = await self._target(message)
        since = (message.sending_at or self.clock.now()) - PROBE_MARGIN
        try:
            # A change to a posted message is made again rather than looked for: made twice,
            # it shows the same card.
            arrived = (
                False
                if message.replaces is not None
                else await asyncio.wait_for(
                    outbound.was_sent(message.key, target, since), self.config.send_timeout
                )
            )
        except Exception as error:
            # Ask again when the lease runs out; the message stays "sending" meanwhile.
            log.warning(
                "could not ask whether outbox id=%s arrived: %s",
                message.id,
                error if isinstance(error, SendError) else type(error).__name__,
            )
            return
        now = self.clock.now()
        report: str | None = None
        async with self.database.unit(bulk=True) as stores:
            if arrived is True:
                await stores.delivery.mark_sent(message.id, self.instance, now, None)
                self.metrics.sent.labels(platform).inc()
            elif arrived is False and message.attempts >= self.config.max_attempts:
                given_up = f"gave up after {message.attempts} attempts (last one interrupted)"
                if await stores.delivery.fail(message.id, self.instance, now, given_up):
                    report = given_up
                self.metrics.failed.labels(platform).inc()
            elif arrived is False:
                await stores.delivery.retry_later(
                    message.id, self.instance, now, "interrupted before it arrived; sending again"
                )
                self.metrics.retried.labels(platform).inc()
            else:
                await stores.delivery.mark_uncertain(
                    message.id,
                    self.instance,
                    now,
                    f"interrupted mid-send and {platform} cannot tell whether it arrived: "
                    "not resent, to avoid a duplicate",
                )
                self.metrics.uncertain.labels(platform).inc()
        log.info("outbox id=%s interrupted send settled: arrived=%s", message.id, arrived)
        if report is not None:
            await self._given_up(message, Failure.GAVE_UP, report)

    async def refresh_metrics(self) -> None:
        """Update the outbox depth gauge."""
        async with self.database.unit(bulk=True) as stores:
            depth = await stores.delivery.depth()
        self.metrics.depth.clear()
        for (platform, status), count in depth.items():
            self.metrics.depth.labels(platform, status).set(count)


def instance_name() -> str:
    """A name for this process, unique among instances (host, pid, random)."""
    import os
    import secrets
    import socket

    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


__all__ = ["DeliveryConfig", "DeliveryMetrics", "DeliveryWorker", "backoff", "instance_name"]
