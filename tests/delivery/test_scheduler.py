"""The scheduler with a controlled clock: slots in the schedule's time zone across clock changes,
one run per slot whatever the number of instances, missed slots run once within their grace,
changes made elsewhere followed."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import ManualClock, SystemClock
from bot.delivery.scheduler import Scheduler, parse_cron
from bot.events import ConversationKind, ConversationRef, Platform, ScheduleFired
from bot.router import Router
from bot.turn import Turn
from bot.ui import Card
from storage.delivery import OutboxMessage
from storage.engine import Database
from storage.schedules import Schedule

WEEKLY = Schedule(
    id="digest.weekly",
    kind="digest.send",
    cron="0 9 * * mon",
    timezone="Europe/London",
    grace=timedelta(hours=6),
)


class Recorder:
    """A feature: records each firing and queues one outbox message in the same transaction."""

    def __init__(self) -> None:
        self.fired: list[ScheduleFired] = []
        self.fail = False

    async def handle(self, turn: Turn[ScheduleFired]) -> None:
        self.fired.append(turn.event)
        await turn.stores.outbox.enqueue(
            OutboxMessage(
                key=f"digest:{turn.event.period}",
                job="digest",
                platform="console",
                tenant="t",
                recipient="general",
                to_person=False,
                card='{"title": "Digest"}',
            ),
            turn.now,
        )
        if self.fail:
            raise RuntimeError("the feature failed")

    def router(self) -> Router:
        router = Router()
        router.schedule("digest.send", self.handle)
        return router


def instance(
    database: Database, clock: ManualClock | SystemClock, recorder: Recorder, name: str
) -> Scheduler:
    return Scheduler(
        database=database, router=recorder.router(), clock=clock, instance=name, poll=3600
    )


async def create(database: Database, schedule: Schedule, at: datetime) -> None:
    async with database.unit() as stores:
        await stores.schedules.put(schedule, at)


async def outbox_keys(database: Database) -> list[str]:
    from sqlalchemy import text

    async with database.engine.connect() as connection:
        return [r[0] for r in await connection.execute(text("SELECT key FROM outbox ORDER BY key"))]


async def test_a_weekly_london_slot_fires_at_nine_local_across_the_clock_change(
    database: Database,
) -> None:
    clock = ManualClock(datetime(2027, 3, 20, 12, 0, tzinfo=UTC))
    await create(database, WEEKLY, clock.now())
    recorder = Recorder()
    scheduler = instance(database, clock, recorder, "a")
    await scheduler.sync()

    moments = [
        datetime(2027, 3, 22, 8, 59, 59, tzinfo=UTC),  # GMT: not yet
        datetime(2027, 3, 22, 9, 0, tzinfo=UTC),  # 09:00 GMT
        datetime(2027, 3, 29, 7, 59, 59, tzinfo=UTC),  # clocks went forward on the 28th
        datetime(2027, 3, 29, 8, 0, tzinfo=UTC),  # 09:00 BST
        datetime(2027, 11, 1, 8, 0, tzinfo=UTC),  # back on GMT since 31 October: not yet
        datetime(2027, 11, 1, 9, 0, tzinfo=UTC),  # 09:00 GMT
    ]
    ran = []
    for moment in moments:
        clock.set(moment)
        ran.append(await scheduler.tick())
    assert ran == [
        [],
        ["digest.weekly@2027-03-22T09:00:00Z"],
        [],
        ["digest.weekly@2027-03-29T08:00:00Z"],
        [],
        ["digest.weekly@2027-11-01T09:00:00Z"],
    ]
    assert [e.scheduled_for for e in recorder.fired] == [
        datetime(2027, 3, 22, 9, 0, tzinfo=UTC),
        datetime(2027, 3, 29, 8, 0, tzinfo=UTC),
        datetime(2027, 11, 1, 9, 0, tzinfo=UTC),
    ]


async def test_two_instances_run_each_slot_once(database: Database) -> None:
    clock = ManualClock(datetime(2026, 11, 29, 12, 0, tzinfo=UTC))
    await create(database, WEEKLY, clock.now())
    recorders = [Recorder(), Recorder()]
    schedulers = [instance(database, clock, r, n) for r, n in zip(recorders, "ab", strict=True)]
    for scheduler in schedulers:
        await scheduler.sync()
    clock.set(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))

    ran = await asyncio.gather(*(s.tick() for s in schedulers))

    assert sorted(len(r) for r in ran) == [0, 1]
    assert sum(len(r.fired) for r in recorders) == 1
    assert await outbox_keys(database) == ["digest:2026-11-30T09:00:00Z"]
    async with database.unit() as stores:
        runs = await stores.schedules.runs("digest.weekly")
    winner = "a" if ran[0] else "b"
    assert [(r.period, r.instance) for r in runs] == [("2026-11-30T09:00:00Z", winner)]


async def test_missed_slots_run_once_on_start_within_the_grace_period(database: Database) -> None:
    hourly = Schedule(
        id="reminders",
        kind="digest.send",
        cron="0 * * * *",
        timezone="UTC",
        grace=timedelta(hours=6),
    )
    clock = ManualClock(datetime(2026, 11, 30, 8, 30, tzinfo=UTC))
    await create(database, hourly, clock.now())
    # Nobody was running from 08:30 until 13:10: five slots missed, one run for the latest.
    clock.set(datetime(2026, 11, 30, 13, 10, tzinfo=UTC))
    recorder = Recorder()
    scheduler = instance(database, clock, recorder, "a")
    await scheduler.sync()
    assert await scheduler.tick() == ["reminders@2026-11-30T13:00:00Z"]
    assert await scheduler.tick() == []
    # Another instance starting later runs nothing again.
    later = instance(database, clock, Recorder(), "b")
    await later.sync()
    assert await later.tick() == []

    # Down for longer than the grace period: that slot is skipped, not run late.
    clock.set(datetime(2026, 11, 30, 21, 0, tzinfo=UTC) + timedelta(hours=7))
    daily = Schedule(
        id="daily",
        kind="digest.send",
        cron="0 20 * * *",
        timezone="UTC",
        grace=timedelta(hours=6),
    )
    await create(database, daily, datetime(2026, 11, 30, 19, 0, tzinfo=UTC))
    await scheduler.sync()
    assert "daily" not in " ".join(await scheduler.tick())


async def test_a_failing_handler_rolls_back_its_slot_and_its_messages(database: Database) -> None:
    clock = ManualClock(datetime(2026, 11, 29, 12, 0, tzinfo=UTC))
    await create(database, WEEKLY, clock.now())
    recorder = Recorder()
    recorder.fail = True
    scheduler = instance(database, clock, recorder, "a")
    await scheduler.sync()
    clock.set(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))

    assert await scheduler.tick() == []
    assert await outbox_keys(database) == []
    recorder.fail = False
    clock.advance(timedelta(seconds=15))  # the next poll, still within grace
    assert await scheduler.tick() == ["digest.weekly@2026-11-30T09:00:00Z"]
    assert await outbox_keys(database) == ["digest:2026-11-30T09:00:00Z"]


async def test_changes_made_by_another_instance_are_followed(database: Database) -> None:
    clock = ManualClock(datetime(2026, 11, 29, 12, 0, tzinfo=UTC))
    await create(database, WEEKLY, clock.now())
    scheduler = instance(database, clock, Recorder(), "a")
    assert await scheduler.sync() is True
    assert await scheduler.sync() is False
    # Someone (another instance, the CLI) moves the digest to Tuesdays at 10:00.
    moved = Schedule(
        id=WEEKLY.id,
        kind=WEEKLY.kind,
        cron="0 10 * * tue",
        timezone="Europe/London",
        grace=WEEKLY.grace,
    )
    await create(database, moved, clock.now())
    assert await scheduler.sync() is True
    clock.set(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    assert await scheduler.tick() == []
    clock.set(datetime(2026, 12, 1, 10, 0, tzinfo=UTC))
    assert await scheduler.tick() == ["digest.weekly@2026-12-01T10:00:00Z"]
    async with database.unit() as stores:
        assert await stores.schedules.remove(WEEKLY.id)
    assert await scheduler.sync() is True
    assert scheduler.schedules == {}


async def test_a_kind_this_version_does_not_know_is_left_alone(database: Database) -> None:
    clock = ManualClock(datetime(2026, 11, 29, 12, 0, tzinfo=UTC))
    unknown = Schedule(id="x", kind="not.registered", cron="0 9 * * mon", timezone="UTC")
    await create(database, unknown, clock.now())
    scheduler = instance(database, clock, Recorder(), "a")
    await scheduler.sync()
    clock.set(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    assert await scheduler.tick() == []
    async with database.unit() as stores:
        assert await stores.schedules.runs("x") == []


async def test_posts_from_a_schedule_handler_go_through_the_outbox(database: Database) -> None:
    place = ConversationRef(
        platform=Platform.SLACK, tenant="T1", conversation="C1", kind=ConversationKind.CHANNEL
    )

    async def digest(turn: Turn[ScheduleFired]) -> None:
        turn.post(place, Card(title="This week", text=str(turn.event.params["channel"])))

    router = Router()
    router.schedule("digest.send", digest)
    clock = ManualClock(datetime(2026, 11, 29, 12, 0, tzinfo=UTC))
    with_params = Schedule(
        id=WEEKLY.id,
        kind=WEEKLY.kind,
        cron=WEEKLY.cron,
        timezone=WEEKLY.timezone,
        params={"channel": "C1"},
    )
    await create(database, with_params, clock.now())
    scheduler = Scheduler(database=database, router=router, clock=clock, instance="a")
    await scheduler.sync()
    clock.set(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    await scheduler.tick()
    assert await outbox_keys(database) == ["schedule:digest.weekly:2026-11-30T09:00:00Z:post:0"]


def test_days_of_the_week_must_be_names() -> None:
    with pytest.raises(ValueError, match="names"):
        parse_cron("0 9 * * 1", "Europe/London")
    with pytest.raises(ValueError, match="5 fields"):
        parse_cron("0 9 * *", "Europe/London")
    with pytest.raises(ValueError, match="time zone"):
        parse_cron("0 9 * * mon", "Atlantis/Capital")


async def test_the_apscheduler_timer_wakes_the_scheduler_at_each_slot(sqlite_url: str) -> None:
    database = Database(sqlite_url)
    clock = SystemClock()
    every_second = Schedule(
        id="tick",
        kind="digest.send",
        cron="* * * * * *",
        timezone="UTC",
        grace=timedelta(seconds=30),
    )
    await create(database, every_second, clock.now())
    recorder = Recorder()
    # The poll is an hour away: only the timer can make it run.
    scheduler = instance(database, clock, recorder, "a")
    try:
        await scheduler.start()
        deadline = time.monotonic() + 15
        while len(recorder.fired) < 2 and time.monotonic() < deadline:  # noqa: ASYNC110 (bounded poll of a plain list)
            await asyncio.sleep(0.1)
    finally:
        scheduler.stop()
        await database.dispose()
    assert len(recorder.fired) >= 2
    periods = [e.period for e in recorder.fired]
    assert len(set(periods)) == len(periods)


async def test_a_slot_under_way_when_the_timer_is_disarmed_runs_to_its_end(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # At a stop (SIGTERM) the timer is disarmed, and APScheduler cancels the jobs it is
    # running: a slot half-run was cut off and logged as an error.
    database = Database(sqlite_url)
    entered, release = asyncio.Event(), asyncio.Event()

    class Slow(Recorder):
        async def handle(self, turn: Turn[ScheduleFired]) -> None:
            entered.set()
            await release.wait()
            await super().handle(turn)

    every_second = Schedule(
        id="tick",
        kind="digest.send",
        cron="* * * * * *",
        timezone="UTC",
        grace=timedelta(seconds=30),
    )
    await create(database, every_second, SystemClock().now())
    recorder = Slow()
    scheduler = instance(database, SystemClock(), recorder, "a")
    try:
        await scheduler.start()
        async with asyncio.timeout(30):
            await entered.wait()
        scheduler.stop()
        await asyncio.sleep(0)  # what the timer's shutdown cancelled has had its turn
        release.set()
        async with asyncio.timeout(30):
            await scheduler.settled()
    finally:
        scheduler.stop()
        await database.dispose()
    # The slot under way (and any that had already woken) ran to its end and was kept.
    assert recorder.fired
    reader = Database(sqlite_url)
    assert await outbox_keys(reader) == sorted(f"digest:{e.period}" for e in recorder.fired)
    await reader.dispose()
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
