"""The scheduler: recurring jobs whose truth lives in our tables.

Schedules are rows (``storage.schedules.Schedule``); features register what a *kind* of job does on
the router (``router.schedule("barometer.open", handler)``), with the same handler shape as
commands. Each instance follows the rows: it polls a change counter and re-reads them when it
moves, so a schedule changed on one instance is followed by all within ``poll`` seconds.

APScheduler 3.11 (``AsyncIOScheduler``) is only the alarm clock: it wakes this instance at each
slot of each schedule, in the schedule's own time zone (so "Monday 09:00 Europe/London" is 09:00
on both sides of a clock change). Whether a slot runs is decided in the database: a firing first
claims its slot (``INSERT ... ON CONFLICT DO NOTHING`` on schedule and period) and runs the
handler **in the same transaction**, so exactly one instance runs it and a crash half-way rolls
both back (the slot is then free for a retry). On start, and at every poll, each schedule's
latest slot within its grace period runs if nobody claimed it: missed firings during downtime
run once (coalesced), never twice.

The handler does not run through ``Dispatcher.handle``: a slot's claim must commit together
with the handler's work, which the dispatcher's event log (kept a day) cannot promise, and a
timer has no conversation to reply in. Handlers send through the outbox (``stores.outbox`` or
``turn.post``, which becomes an outbox message here); replies are dropped with a warning.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Collection, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.clock import Clock
from bot.delivery.hours import zone_or
from bot.events import Actor, ConversationKind, ConversationRef, Platform, ScheduleFired
from bot.router import Router
from bot.turn import Turn
from bot.ui import card_to_json
from storage.delivery import OutboxMessage
from storage.engine import Database, DatabaseUnavailable
from storage.schedules import Schedule

log = logging.getLogger("valuesbot.scheduler")

# A timer may wake a hair before its slot; a wake-up this close still counts as the slot.
EARLY_WAKE = timedelta(seconds=1)
# At most this many slots are stepped over when looking for the latest one in a grace period.
MAX_STEPS = 100_000

BOT = Actor(id="valuesbot", name="valuesbot")


def parse_cron(expression: str, timezone: str) -> CronTrigger:
    """A trigger for ``"minute hour day month day_of_week"`` (or with seconds first) in the
    time zone. Days of the week must be names (``mon-fri``): APScheduler 3 numbers them from
    Monday, crontab from Sunday, and a number would silently mean the wrong day."""
    fields = expression.split()
    if len(fields) not in (5, 6):
        raise ValueError("a schedule needs 5 fields (minute hour day month day-of-week)")
    if len(fields) == 5:
        fields.insert(0, "0")
    second, minute, hour, day, month, day_of_week = fields
    if re.search(r"\d", day_of_week):
        raise ValueError("write days of the week as names (mon, tue, ... sun), not numbers")
    zone = zone_or(timezone, "UTC")
    if timezone and zone.key != timezone:
        raise ValueError(f"unknown time zone {timezone!r}")
    return CronTrigger(
        second=second,
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=day_of_week,
        timezone=zone,
    )


def validate(schedule: Schedule) -> None:
    """Raise ``ValueError`` naming what is wrong with a schedule."""
    if not schedule.id.strip() or not schedule.kind.strip():
        raise ValueError("a schedule needs an id and a kind")
    parse_cron(schedule.cron, schedule.timezone)
    if schedule.grace < timedelta(0):
        raise ValueError("the grace period cannot be negative")


def latest_slot(trigger: CronTrigger, since: datetime, now: datetime) -> datetime | None:
    """The latest slot of ``trigger`` in ``[since, now]``, if any (UTC)."""
    slot = trigger.get_next_fire_time(None, since)
    latest: datetime | None = None
    for _ in range(MAX_STEPS):
        if slot is None or slot > now:
            break
        latest = slot
        slot = trigger.get_next_fire_time(slot, slot)
    return None if latest is None else latest.astimezone(UTC)


def next_slot(trigger: CronTrigger, after: datetime) -> datetime | None:
    """The first slot after ``after`` (UTC)."""
    slot = trigger.get_next_fire_time(None, after + timedelta(microseconds=1))
    return None if slot is None else slot.astimezone(UTC)


def period_of(slot: datetime) -> str:
    """The name of a slot: its instant in UTC ("2027-03-29T08:00:00Z")."""
    return slot.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Scheduler:
    """Follows the schedule rows and runs each slot once across all instances."""

    def __init__(
        self,
        *,
        database: Database,
        router: Router,
        clock: Clock,
        instance: str,
        poll: float = 15.0,
    ) -> None:
        self.database = database
        self.router = router
        self.clock = clock
        self.instance = instance
        self.poll = poll
        self.schedules: dict[str, Schedule] = {}
        self._triggers: dict[str, CronTrigger] = {}
        self._revision: int | None = None
        self._timer: AsyncIOScheduler | None = None
        self._lock = asyncio.Lock()
        self._firing: set[asyncio.Task[None]] = set()

    # -- following the rows ------------------------------------------------------------------

    async def sync(self) -> bool:
        """Re-read the schedules if any changed since the last look; True when they did."""
        async with self.database.unit() as stores:
            revision = await stores.schedules.revision()
            if revision == self._revision:
                return False
            rows = await stores.schedules.all()
        self._load(rows)
        self._revision = revision
        return True

    def _load(self, rows: Iterable[Schedule]) -> None:
        schedules: dict[str, Schedule] = {}
        triggers: dict[str, CronTrigger] = {}
        for schedule in rows:
            if not schedule.enabled:
                continue
            if schedule.kind not in self.router.schedules:
                log.warning(
                    "schedule %s: no handler for kind %r in this version; not run here",
                    schedule.id,
                    schedule.kind,
                )
                continue
            try:
                triggers[schedule.id] = parse_cron(schedule.cron, schedule.timezone)
            except ValueError as error:
                log.error("schedule %s is not valid: %s", schedule.id, error)
                continue
            schedules[schedule.id] = schedule
        self.schedules, self._triggers = schedules, triggers
        self._arm()

    def _arm(self) -> None:
        timer = self._timer
        if timer is None:
            return
        wanted = {f"{s.id}@{self._revision}" for s in self.schedules.values()}
        for job in timer.get_jobs():
            if job.id not in wanted:
                job.remove()
        existing = {job.id for job in timer.get_jobs()}
        for schedule in self.schedules.values():
            job_id = f"{schedule.id}@{self._revision}"
            if job_id in existing:
                continue
            timer.add_job(
                self.wake,
                trigger=self._triggers[schedule.id],
                args=[schedule.id],
                id=job_id,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=max(1, int(schedule.grace.total_seconds())),
            )

    # -- firing ------------------------------------------------------------------------------

    def due(self, schedule: Schedule, now: datetime) -> datetime | None:
        """The slot of ``schedule`` that should run at ``now``: the latest one within its grace
        period and after its rule last changed."""
        trigger = self._triggers.get(schedule.id)
        if trigger is None:
            return None
        since = now - schedule.grace
        if schedule.active_from is not None:
            since = max(since, schedule.active_from)
        return latest_slot(trigger, since, now)

    async def tick(self, kinds: Collection[str] | None = None) -> list[str]:
        """Run every schedule's due slot that nobody has claimed (of these kinds only, when
        given); the periods this instance ran (as "schedule@period")."""
        ran = []
        now = self.clock.now()
        for schedule in list(self.schedules.values()):
            if kinds is not None and schedule.kind not in kinds:
                continue
            slot = self.due(schedule, now)
            if slot is None:
                continue
            try:
                if await self.fire(schedule, slot):
                    ran.append(f"{schedule.id}@{period_of(slot)}")
            except DatabaseUnavailable:
                raise  # the poll says so once; the slot is tried again while in grace
            except Exception:
                # Rolled back, slot and all: the next poll tries again while in grace.
                log.exception("schedule %s failed at %s", schedule.id, period_of(slot))
        return ran

    async def wake(self, schedule_id: str) -> None:
        """APScheduler calls this at a slot. The slot runs as a task of the scheduler's own:
        disarming the timer at a stop cancels the jobs APScheduler is running, and a slot cut
        off half-way would be an error for nothing; ``settled`` waits for it instead."""
        task = asyncio.create_task(self._wake(schedule_id), name=f"schedule-{schedule_id}")
        self._firing.add(task)
        task.add_done_callback(self._firing.discard)

    async def settled(self) -> None:
        """Wait until the slots the timer started have run."""
        while self._firing:
            await asyncio.gather(*list(self._firing), return_exceptions=True)

    def abandon(self) -> None:
        """Cancel the slots still running (their transactions roll back; the slot is tried
        again while in its grace period)."""
        for task in list(self._firing):
            task.cancel()

    async def _wake(self, schedule_id: str) -> None:
        schedule = self.schedules.get(schedule_id)
        if schedule is None:
            return
        slot = self.due(schedule, self.clock.now() + EARLY_WAKE)
        if slot is not None:
            try:
                await self.fire(schedule, slot)
            except Exception:
                log.exception("schedule %s failed at %s", schedule_id, period_of(slot))

    async def fire(self, schedule: Schedule, slot: datetime) -> bool:
        """Claim the slot and run the handler in one transaction; False when another
        instance (or an earlier firing) had it."""
        period = period_of(slot)
        async with self._lock, self.database.unit() as stores:
            now = self.clock.now()
            if not await stores.schedules.claim(schedule.id, period, slot, now, self.instance):
                return False
            event = ScheduleFired(
                # A timer has no conversation: this placeholder names the schedule.
                conversation=ConversationRef(
                    platform=Platform.CONSOLE,
                    tenant="",
                    conversation=f"schedule:{schedule.id}",
                    kind=ConversationKind.CHANNEL,
                ),
                actor=BOT,
                event_id=f"schedule:{schedule.id}:{period}",
                job=schedule.kind,
                period=period,
                schedule=schedule.id,
                scheduled_for=slot,
                params=dict(schedule.params),
            )
            turn: Turn[ScheduleFired] = Turn(event, stores, now)
            await self.router.dispatch(turn)
            for index, post in enumerate(turn.posts):
                await stores.outbox.enqueue(
                    OutboxMessage(
                        key=f"{event.event_id}:post:{index}",
                        job=f"{schedule.id}:{period}",
                        platform=str(post.place.platform),
                        tenant=post.place.tenant,
                        recipient=post.place.conversation,
                        thread=post.place.thread,
                        to_person=False,
                        card=card_to_json(post.card).decode(),
                        respect_working_hours=False,
                        counts_towards_cap=False,
                    ),
                    now,
                )
            if turn.replies:
                log.warning(
                    "schedule %s: %d replies dropped (schedule handlers send through the outbox)",
                    schedule.id,
                    len(turn.replies),
                )
        log.info(
            "schedule ran schedule=%s kind=%s period=%s instance=%s",
            schedule.id,
            schedule.kind,
            period,
            self.instance,
        )
        return True

    # -- running -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the schedules, run what was missed, and arm the timer."""
        timer = AsyncIOScheduler(timezone=UTC)
        timer.start()
        self._timer = timer
        await self.sync()
        self._arm()
        await self.tick()

    async def follow(self) -> None:
        """Poll for changes (and missed slots) until cancelled."""
        while True:
            await asyncio.sleep(self.poll)
            try:
                await self.sync()
                await self.tick()
            except asyncio.CancelledError:
                raise
            except DatabaseUnavailable:
                log.warning("schedule poll skipped: the database is unavailable")
            except Exception:
                log.exception("schedule poll failed")

    def stop(self) -> None:
        """Disarm the timer."""
        if self._timer is not None and self._timer.running:
            self._timer.shutdown(wait=False)
        self._timer = None


def describe(schedule: Schedule, now: datetime) -> dict[str, Any]:
    """A schedule as a person reads it, with its next slot."""
    try:
        upcoming = next_slot(parse_cron(schedule.cron, schedule.timezone), now)
    except ValueError:
        upcoming = None
    return {
        "id": schedule.id,
        "kind": schedule.kind,
        "cron": schedule.cron,
        "timezone": schedule.timezone,
        "enabled": schedule.enabled,
        "grace": schedule.grace,
        "next": upcoming,
    }
