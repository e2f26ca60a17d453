"""The heart of the bot: every event from every adapter goes through ``Dispatcher.handle``.

For each event it opens one unit of work, skips an event it has already handled (a platform's
retry), remembers the person and the conversation, lets a dialog under way or the router handle
it, commits, and only then sends the replies through the platform's ``Outbound``. One log line
per event says what happened and how long it took. A card sent with a ``remember`` key is then
announced to its feature (``CardPosted``, handled like any event), with where it landed.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from bot.clock import Clock
from bot.dialogs import DialogRunner, finished_card
from bot.events import (
    ActionSubmitted,
    AppRemoved,
    CardPosted,
    ConversationOpened,
    ConversationRef,
    DeliveryFailed,
    Event,
    MessageReceived,
    MessageRef,
    PersonLeft,
    Platform,
    ScheduleFired,
)
from bot.logs import fields as log_fields
from bot.logs import new_request_id, request_id
from bot.outbound import Outbound, Reply
from bot.router import Router
from bot.turn import Turn
from bot.ui import Card
from storage.common import ConcurrentUpdate
from storage.dialog_states import DialogKey
from storage.engine import Database, DatabaseUnavailable
from storage.people import PersonKey

log = logging.getLogger("valuesbot.events")

# A turn that lost a race with another click or instance is run again from scratch this often.
CONCURRENCY_RETRIES = 3
# A turn that found the database unavailable waits this long (seconds) for it and runs again.
# The platform has had its answer (2xx) for the event, so this is the only way it is not lost;
# while the database is known to be down the adapters answer 503 instead, so few events wait.
DATABASE_PATIENCE = 120.0
# Turns whose unit of work runs at once in one process; the others wait their turn. Unbounded,
# a burst of clicks (hundreds of people answering the barometer) has every turn hold a database
# connection and a share of the event loop at once: each one gets slower, the pool runs dry and
# acknowledging new requests waits behind them (bench/answers.py: p99 ack latency).
TURNS_AT_ONCE = 12
# ...and while requests are being acknowledged: a platform waits for our answer (Slack gives
# up after 3 s and tries again), a person who clicked waits for their card to change. Under a
# burst of clicks the acknowledgements go first and the turns behind them run a few at a time.
# On SQLite one: a turn's statements run on the event loop's thread and its writes wait for
# each other's lock, so a second turn in only delays the answers.
TURNS_WHILE_ACKNOWLEDGING = 1
# On PostgreSQL a turn mostly waits for the server's round trips, with the loop free to answer
# meanwhile: four at once (bench.ack_latency, 50 people sending /values on PostgreSQL: from one
# to four took 223-291 turns/s to 440-461 and the visible p99 from 338-360 ms to 253-264 ms;
# eight and twelve were slower again, 318 and 380 turns/s).
TURNS_WHILE_ACKNOWLEDGING_ON_A_SERVER = 4
# A burst is over when no request has been answered for this long (seconds). Between two
# requests of a burst the loop is free for a moment; without this, turns went in at each such
# moment and the answers queued behind them again.
ACKNOWLEDGING_QUIET = 0.05

# Events that are not something a person did (the clock, the outbox, a card landing) or that
# say a person is gone: they neither remember nor refresh anyone.
NOT_BY_A_PERSON = (ScheduleFired, DeliveryFailed, CardPosted, PersonLeft, AppRemoved)

SORRY = Card(
    title="Sorry, something went wrong on our side",
    text="Nothing you said was lost. Please try again in a moment.",
)


# Requests being read after their acknowledgement, at once (see ``Dispatcher.intake``).
INTAKE_AT_ONCE = 32


class _HandledBefore(Exception):
    """A turn found its event recorded at the end of its unit: undone (``Dispatcher._run``)."""


class TurnGate:
    """How many turns run their unit of work at once: ``most``, or ``few`` while requests are
    being acknowledged (``acknowledging``, or one was answered less than ``quiet`` seconds
    ago), so the event loop answers the platforms first. Turns are let in in the order they
    came, except that a patient turn (``enter(patient=True)``: a poll answer, whose thanks can
    wait) goes in only when no other turn waits: a person in a conversation with the bot is not
    queued behind a burst of thousands of answers. A waiting turn takes no share of the loop."""

    def __init__(
        self,
        most: int = TURNS_AT_ONCE,
        few: int = TURNS_WHILE_ACKNOWLEDGING,
        *,
        quiet: float = ACKNOWLEDGING_QUIET,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.most = most
        self.few = min(few, most)
        self.quiet = quiet
        self._now = now
        self._running = 0
        self._acknowledging = 0
        self._last_answer = -math.inf
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._patient: deque[asyncio.Future[None]] = deque()
        self._wake: asyncio.TimerHandle | None = None

    @contextmanager
    def acknowledging(self) -> Iterator[None]:
        """Around the handling of one inbound request, until its answer is written."""
        self._acknowledging += 1
        try:
            yield
        finally:
            self._acknowledging -= 1
            self._last_answer = self._now()
            self._let_in()
            if self.waiting and self._wake is None:
                # Whoever waits goes in when the requests stop, even if no turn leaves then.
                self._wake = asyncio.get_running_loop().call_later(self.quiet, self._woken)

    def _woken(self) -> None:
        self._wake = None
        self._let_in()
        if self.waiting and self._busy():
            self._wake = asyncio.get_running_loop().call_later(self.quiet, self._woken)

    def _busy(self) -> bool:
        """Requests are being answered, or were a moment ago (a burst has gaps between them)."""
        return bool(self._acknowledging) or self._now() - self._last_answer < self.quiet

    @property
    def running(self) -> int:
        """Turns inside the gate now."""
        return self._running

    @property
    def waiting(self) -> int:
        """Turns waiting to go in, patient ones included."""
        return len(self._waiting) + len(self._patient)

    def _room(self) -> bool:
        return self._running < (self.few if self._busy() else self.most)

    def _let_in(self) -> None:
        while self._room():
            lane = self._waiting or self._patient
            if not lane:
                return
            waiter = lane.popleft()
            if not waiter.done():
                self._running += 1
                waiter.set_result(None)

    def enter(self, *, patient: bool = False) -> _Entry:
        """``async with gate.enter(patient=...)``: a turn's place in the gate (``async with
        gate`` is the same, not patient)."""
        return _Entry(self, patient)

    async def _enter(self, patient: bool) -> None:
        ahead = bool(self._waiting) or (patient and bool(self._patient))
        if not ahead and self._room():
            self._running += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        (self._patient if patient else self._waiting).append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._leave()  # let in just as it was cancelled: give the place back
            raise

    async def __aenter__(self) -> None:
        await self._enter(False)

    async def __aexit__(self, *exc_info: object) -> None:
        self._leave()

    def _leave(self) -> None:
        self._running -= 1
        self._let_in()


class _Entry:
    """One turn's way through a ``TurnGate``."""

    __slots__ = ("gate", "patient")

    def __init__(self, gate: TurnGate, patient: bool) -> None:
        self.gate = gate
        self.patient = patient

    async def __aenter__(self) -> None:
        await self.gate._enter(self.patient)

    async def __aexit__(self, *exc_info: object) -> None:
        self.gate._leave()


class Metrics:
    """Counters for ``/metrics``, in a registry of their own (one per process)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.events = Counter(
            "valuesbot_events",
            "Events handled, by platform, kind and outcome.",
            ["platform", "kind", "outcome"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "valuesbot_event_seconds",
            "Time to handle an event, until its replies were handed to the platform.",
            ["platform", "kind"],
            registry=self.registry,
        )


class Dispatcher:
    """Handles events: dedupe, route, commit, reply."""

    def __init__(
        self,
        *,
        database: Database,
        router: Router,
        runner: DialogRunner,
        clock: Clock,
        metrics: Metrics | None = None,
        gate: TurnGate | None = None,
    ) -> None:
        self.database = database
        self.router = router
        self.runner = runner
        self.clock = clock
        self.metrics = metrics or Metrics()
        self._outbounds: dict[Platform, Outbound] = {}
        self._command_prefixes: dict[Platform, str] = {}
        self.gate = gate or TurnGate(
            few=TURNS_WHILE_ACKNOWLEDGING
            if database.dialect == "sqlite"
            else TURNS_WHILE_ACKNOWLEDGING_ON_A_SERVER
        )
        # What adapters do between acknowledging a request and its turn (reading the payload,
        # asking the platform who the person is): the same rule, so a burst is answered first,
        # and as many at once as the turns they lead to (with one on PostgreSQL, a Slack event,
        # which passes here twice, waited half as long again as a Teams one: bench.ack_latency
        # on PostgreSQL, 216 turns/s and p99 422 ms; with four, 241 and 317-333 ms).
        self.intake = TurnGate(most=INTAKE_AT_ONCE, few=self.gate.few)

    @contextmanager
    def acknowledging(self) -> Iterator[None]:
        """Around an adapter's handling of one inbound request, until its answer is written:
        meanwhile turns and intake work run only a few at a time."""
        with self.gate.acknowledging(), self.intake.acknowledging():
            yield

    def connect(self, platform: Platform, outbound: Outbound, *, command_prefix: str = "/") -> None:
        """Send this platform's replies and posts through ``outbound``; its people type
        commands after ``command_prefix`` ("" where commands are plain words: ``Turn``)."""
        self._outbounds[platform] = outbound
        self._command_prefixes[platform] = command_prefix

    @property
    def platforms(self) -> tuple[Platform, ...]:
        """The platforms connected in this process."""
        return tuple(self._outbounds)

    def command_prefix(self, platform: Platform) -> str:
        """How a platform's people type commands ("/" unless its adapter said otherwise when
        it connected: ``Turn.command_prefix``)."""
        return self._command_prefixes.get(platform, "/")

    def outbound(self, platform: Platform) -> Outbound:
        """The outbound of a connected platform."""
        try:
            return self._outbounds[platform]
        except KeyError:
            raise LookupError(f"no {platform} adapter is connected") from None

    async def handle(self, event: Event) -> None:
        """Handle one event from start to finish (never raises for a handler's failure)."""
        token = request_id.set(new_request_id())
        started = time.perf_counter()
        platform = event.conversation.platform
        kind = type(event).__name__
        fields: dict[str, Any] = {"handler": None, "dialog": None, "step": None}
        outcome = "ok"
        replies: list[Reply] = []
        posted: list[tuple[ConversationRef, str, MessageRef]] = []
        try:
            outbound = self.outbound(platform)
            turn = await self._run_when_available(event, fields)
            if turn is None:
                outcome = "duplicate"
            else:
                replies = turn.replies
                if fields["handler"] is None and fields["dialog"] is None:
                    outcome = "unhandled"
                if isinstance(event, DeliveryFailed | CardPosted):
                    # Nobody is waiting for an answer there: handlers send through the outbox
                    # (``bot.delivery.notice``).
                    if turn.replies or turn.posts:
                        log.warning(
                            "%s handler=%s: %d replies and posts dropped (send through the outbox)",
                            kind,
                            fields["handler"],
                            len(turn.replies) + len(turn.posts),
                        )
                    replies = []
                elif isinstance(event, PersonLeft | AppRemoved):
                    # Nobody to answer: the person is gone (and with an uninstall the
                    # platform refuses the bot's token).
                    replies = []
                else:
                    landed = await outbound.deliver(event, replies)
                    for reply, ref in zip(replies, landed, strict=False):
                        if reply.remember and ref is not None:
                            posted.append((event.conversation, reply.remember, ref))
                    for post in turn.posts:
                        ref = await self.outbound(post.place.platform).post(post.place, post.card)
                        if post.remember and ref is not None:
                            posted.append((post.place, post.remember, ref))
        except Exception:
            outcome = "error"
            log.exception("event failed platform=%s kind=%s", platform, kind)
            if not isinstance(event, NOT_BY_A_PERSON):
                await self._apologise(event)
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.events.labels(str(platform), kind, outcome).inc()
            self.metrics.duration.labels(str(platform), kind).observe(elapsed)
            log.info(
                "event request_id=%s platform=%s kind=%s outcome=%s handler=%s dialog=%s step=%s "
                "replies=%d duration_ms=%.1f",
                request_id.get(),
                platform,
                kind,
                outcome,
                fields["handler"],
                fields["dialog"],
                fields["step"],
                len(replies),
                elapsed * 1000,
                extra=log_fields(
                    platform=str(platform),
                    kind=kind,
                    outcome=outcome,
                    handler=fields["handler"],
                    dialog=fields["dialog"],
                    step=fields["step"],
                    replies=len(replies),
                    duration_ms=round(elapsed * 1000, 1),
                ),
            )
            request_id.reset(token)
        for place, key, ref in posted:
            await self.handle(
                CardPosted(
                    conversation=place,
                    actor=event.actor,
                    event_id=f"posted:{key}:{ref.id}",
                    key=key,
                    message=ref,
                )
            )

    def patient(self, event: Event) -> bool:
        """Whether the event's turn may wait behind every other (``Router.action``'s
        ``patient``): for the gates its way goes through."""
        return self.router.patient(event)

    async def post(self, place: ConversationRef, card: Card) -> None:
        """Send a card to a conversation on the bot's own initiative."""
        await self.outbound(place.platform).post(place, card)

    async def post_direct(self, person: PersonKey, card: Card) -> None:
        """Send a card to a person's direct chat with the bot."""
        await self.outbound(Platform(person.platform)).post_direct(person, card)

    async def _run_when_available(self, event: Event, fields: dict[str, Any]) -> Turn[Event] | None:
        """``_run`` in the gate; when the database is unavailable, out of the gate until it is
        back (``DATABASE_PATIENCE`` at most), then again: nothing of the turn was kept, and a
        commit that did reach the database makes the next try a recognised retry."""
        deadline = time.monotonic() + DATABASE_PATIENCE
        while True:
            try:
                async with self.gate.enter(patient=self.patient(event)):
                    return await self._run(event, fields)
            except DatabaseUnavailable:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise
                log.warning("event waits for the database kind=%s", type(event).__name__)
                if not await self.database.wait_available(left):
                    raise

    async def _run(self, event: Event, fields: dict[str, Any]) -> Turn[Event] | None:
        """The turn, in one unit of work; None when the event was handled before. An event the
        platform sends once (``Event.sent_once``) is recorded at the end of its unit, and only
        if the turn changed something: a turn that changed nothing (the help) writes nothing,
        and one that did is undone if it finds its event recorded (a replay of the signed
        request, or a turn tried again after a commit whose answer was lost)."""
        for attempt in range(1, CONCURRENCY_RETRIES + 1):
            try:
                async with self.database.unit(watch=event.sent_once) as stores:
                    now = self.clock.now()
                    platform = str(event.conversation.platform)
                    # A turn of a dialog reads its state next: asked with the event's row.
                    dialog = DialogKey.of(event) if self._wants_dialog(event) else None
                    if not event.sent_once and not await stores.events.first_time(
                        platform, event.event_id, now, dialog=dialog
                    ):
                        return None
                    if not isinstance(event, NOT_BY_A_PERSON) and await stores.people.seen(
                        event.conversation, event.actor, now
                    ):
                        # Whoever does anything is here: a mark that they left is lifted (by
                        # the arrival that was written; the others came just after it).
                        await stores.records.returned(PersonKey.of(event))
                    turn: Turn[Event] = Turn(
                        event,
                        stores,
                        now,
                        command_prefix=self.command_prefix(event.conversation.platform),
                    )
                    await self._route(turn, fields)
                    if (
                        event.sent_once
                        and stores.changed
                        and not await stores.events.first_time(platform, event.event_id, now)
                    ):
                        raise _HandledBefore
                    return turn
            except _HandledBefore:
                return None
            except ConcurrentUpdate:
                if attempt == CONCURRENCY_RETRIES:
                    raise
                log.info("event lost a race, running it again attempt=%d", attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _wants_dialog(self, event: Event) -> bool:
        """Whether the event goes to the dialog under way, if there is one: a message, a
        return to the conversation, or a click on a dialog's card."""
        return isinstance(event, MessageReceived | ConversationOpened) or (
            isinstance(event, ActionSubmitted) and self.runner.owns(event)
        )

    async def _route(self, turn: Turn[Event], fields: dict[str, Any]) -> None:
        event = turn.event
        if self._wants_dialog(event):
            state = await self.runner.active(turn)
            if state is not None:
                fields["dialog"], fields["step"] = state.dialog, state.step
                if isinstance(event, ConversationOpened):
                    await self.runner.resume(
                        turn,
                        state,
                        f"Welcome back. You were in the middle of "
                        f"{self.runner.dialogs[state.dialog].describe(state.data)}.",
                    )
                else:
                    await self.runner.handle(turn, state)
                return
            if isinstance(event, ActionSubmitted):
                elsewhere = self.runner.not_theirs(turn)
                if elsewhere is not None:
                    fields["handler"] = "not_theirs"
                    turn.reply(elsewhere, private=True)
                    return
                fields["handler"] = "stale"
                turn.reply(finished_card(), private=True)
                return
        fields["handler"] = await self.router.dispatch(turn)

    async def _apologise(self, event: Event) -> None:
        try:
            outbound = self.outbound(event.conversation.platform)
            await outbound.deliver(event, [Reply(card=SORRY, private=True)])
        except Exception:  # the platform itself is failing; the log already says why
            log.warning("could not send the apology", exc_info=True)
