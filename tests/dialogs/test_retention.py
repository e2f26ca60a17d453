"""The retention job on SQLite and PostgreSQL: rows older than each limit go, younger ones stay;
each slot runs once however many instances share the database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import text

from bot.app import App, build_app
from bot.clock import ManualClock
from bot.delivery import to_person
from bot.events import ConversationKind, ConversationRef, Platform
from bot.ui import Card
from dialogs.records import RETENTION_JOB
from storage.dialog_states import DialogKey, DialogState
from storage.identifiers import Identifier, Statement
from storage.people import PersonKey
from storage.values_lens import Checkin, TeamCheckin
from tests.conftest import START, _empty, make_settings
from tests.dialogs.test_records import hold
from tests.dialogs.test_values_lens import rows
from tests.harness import TENANT

ALICE = PersonKey("console", TENANT, "alice")
DAY = timedelta(days=1)


async def started(database_url: str, clock: ManualClock, **settings: str) -> App:
    app = await build_app(make_settings(database_url, **settings), clock=clock, prepare=False)
    if app.database.dialect == "postgresql":
        await _empty(app.database)
    return app


@pytest.fixture
async def app(database_url: str, clock: ManualClock) -> AsyncIterator[App]:
    built = await started(database_url, clock)
    yield built
    await built.close()


async def aged(app: App, at: datetime, tag: str) -> None:
    """One row of each kind the job limits, made at ``at``."""
    async with app.database.unit() as stores:
        await stores.dialogs.save(
            DialogKey("console", TENANT, f"dm-{tag}", tag), DialogState(dialog="lens", step="w"), at
        )
        await stores.events.first_time("console", f"event-{tag}", at)
        await stores.outbox.enqueue(to_person(f"sent-{tag}", "nudge", ALICE, Card(text="sent")), at)
        await stores.outbox.enqueue(
            to_person(f"queued-{tag}", "nudge", ALICE, Card(text="waits")), at
        )
        await stores.records.issue_link(tag * 8, ALICE, "json", at, at + timedelta(minutes=15))
        await stores.records.audit("cli:dpo", "export", tag, at)
        checkin = await stores.team_checkins.open(
            TeamCheckin(
                id=f"team-{tag}",
                place=ConversationRef(
                    platform=Platform.CONSOLE,
                    tenant=TENANT,
                    conversation=f"team-{tag}",
                    kind=ConversationKind.CHANNEL,
                ),
                work="Team work",
                started_by="carol",
                opened_at=at,
                closes_at=at + DAY,
            )
        )
        await stores.team_checkins.rate(checkin.id, f"key-{tag}", {"patients": "strongly"})
        await stores.team_checkins.close(checkin.id, at)
    async with app.database.engine.begin() as connection:
        await connection.execute(
            text("UPDATE outbox SET status = 'sent', sent_at = created_at WHERE key = :key"),
            {"key": f"sent-{tag}"},
        )


async def test_rows_older_than_each_limit_go_and_younger_ones_stay(
    app: App, clock: ManualClock
) -> None:
    await app.ensure_schedules()
    await hold(app, ALICE, "old")  # a check-in completed at START
    await aged(app, START, "old")
    clock.advance(700 * DAY)
    await hold(app, PersonKey("console", TENANT, "bob"), "new")
    async with app.database.unit() as stores:
        await stores.checkins.add(
            Checkin(
                id="young",
                owner=ALICE,
                work="young",
                action="",
                focus=None,
                ratings=(),
                started_at=clock.now(),
                completed_at=clock.now(),
            )
        )
        await stores.identifiers.add(
            Identifier(
                id="00000000000f",
                author=ALICE,
                title="young",
                statements=(Statement(behaviour="patients", text="young"),),
                vision="young",
                owner="team",
                intended=date(2029, 1, 1),
                submitted_at=clock.now(),
            )
        )
    clock.advance(31 * DAY)  # START + 731 days: past two years
    await aged(app, clock.now() - 6 * DAY, "new")

    assert await app.run_schedules(RETENTION_JOB)
    assert await rows(app, "SELECT id FROM checkins WHERE owner = 'alice' ORDER BY id") == [
        ("young",)
    ]
    # Identifiers never approved go a year after their last change; approved ones stay.
    assert await rows(app, "SELECT title, status FROM identifiers ORDER BY title") == [
        ("A publication", "approved"),
        ("A publication", "approved"),
        ("young", "pending"),
    ]
    assert await rows(app, "SELECT conversation FROM dialog_states") == [("dm-new",)]
    assert await rows(app, "SELECT event_id FROM processed_events") == [("event-new",)]
    assert await rows(app, "SELECT key FROM outbox WHERE job = 'nudge' ORDER BY key") == [
        ("queued-new",),
        ("queued-old",),
        ("sent-new",),
    ]
    assert await rows(app, "SELECT subject FROM audit_log") == [("new",)]
    assert await rows(app, "SELECT count(*) FROM export_links") == [(0,)]
    # Team ratings: the old check-in keeps only its counts, the younger one its rows.
    assert await rows(app, "SELECT DISTINCT team_checkin_id FROM team_ratings ORDER BY 1") == [
        ("team-new",),
        ("team1",),
    ]
    assert await rows(app, "SELECT team_checkin_id, count FROM team_rating_counts") == [
        ("team-old", 1)
    ]
    async with app.database.unit() as stores:
        tally = await stores.team_checkins.tally("team-old")
    assert tally.counts == {"patients": {"strongly": 1}}


async def test_limits_are_settings(database_url: str, clock: ManualClock) -> None:
    app = await started(
        database_url,
        clock,
        VALUESBOT_RETAIN_DIALOGS_DAYS="60",
        VALUESBOT_RETAIN_EVENTS_DAYS="60",
    )
    try:
        await app.ensure_schedules()
        await aged(app, START, "old")
        clock.advance(40 * DAY)
        await app.run_schedules(RETENTION_JOB)
        assert await rows(app, "SELECT count(*) FROM dialog_states") == [(1,)]
        assert await rows(app, "SELECT count(*) FROM processed_events") == [(1,)]
    finally:
        await app.close()


@pytest.mark.postgres
async def test_two_instances_run_each_retention_slot_once(pg_url: str, clock: ManualClock) -> None:
    first = await started(pg_url, clock)
    second = await build_app(make_settings(pg_url), clock=clock, prepare=False)
    try:
        await first.ensure_schedules()
        await aged(first, START, "old")
        clock.advance(400 * DAY)
        for app in (first, second):
            await app.scheduler.sync()
        ran = await asyncio.gather(
            first.scheduler.tick({RETENTION_JOB}), second.scheduler.tick({RETENTION_JOB})
        )
        assert sorted(len(r) for r in ran) == [0, 1]
        assert await rows(first, "SELECT count(*) FROM schedule_runs") == [(1,)]
        assert await rows(first, "SELECT count(*) FROM audit_log") == [(0,)]  # it ran: gone
        again = await asyncio.gather(
            first.scheduler.tick({RETENTION_JOB}), second.scheduler.tick({RETENTION_JOB})
        )
        assert again == [[], []]
    finally:
        await second.close()
        await first.close()
