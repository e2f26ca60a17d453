"""The digest store's contract, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from bot.events import ConversationKind, ConversationRef, Platform
from storage.case_studies import CaseStudyStatus
from storage.digests import DigestRun, DigestRunStatus, DigestSchedule, DigestScheduleStatus
from storage.engine import Database
from storage.people import PersonKey
from tests.contract.test_case_studies import NOW, case_study

VALUES = ConversationRef(
    platform=Platform.SLACK, tenant="T1", conversation="C1", kind=ConversationKind.CHANNEL
)
OTHER = ConversationRef(
    platform=Platform.SLACK, tenant="T1", conversation="C2", kind=ConversationKind.CHANNEL
)


def schedule(schedule_id: str = "d1", place: ConversationRef = VALUES) -> DigestSchedule:
    return DigestSchedule(
        id=schedule_id,
        place=place,
        label="#values",
        weekday=0,
        hour=9,
        minute=0,
        timezone="Europe/London",
        if_empty="message",
        created_by="U9",
        created_at=NOW,
        active_since=NOW,
    )


def run(run_id: str, period: str, schedule_id: str = "d1", when: datetime = NOW) -> DigestRun:
    return DigestRun(
        id=run_id, schedule_id=schedule_id, period=period, place=VALUES, claimed_at=when, as_of=when
    )


async def test_one_schedule_per_channel_and_its_status(database: Database) -> None:
    async with database.unit() as stores:
        first = await stores.digests.save_schedule(schedule("d1"), NOW)
        assert first == schedule("d1")
    later = NOW + timedelta(days=1)
    async with database.unit() as stores:
        changed = await stores.digests.save_schedule(
            DigestSchedule(
                id="d2",
                place=VALUES,
                label="#values",
                weekday=4,
                hour=16,
                minute=30,
                timezone="Europe/Paris",
                if_empty="skip",
                created_by="U8",
                created_at=later,
                active_since=later,
            ),
            later,
        )
        assert changed.id == "d1"
        assert (changed.weekday, changed.hour, changed.minute, changed.timezone) == (
            4,
            16,
            30,
            "Europe/Paris",
        )
        assert (changed.if_empty, changed.active_since, changed.created_by) == ("skip", later, "U9")
        await stores.digests.save_schedule(schedule("d3", OTHER), NOW)
        assert [s.id for s in await stores.digests.schedules()] == ["d1", "d3"]
        assert [s.id for s in await stores.digests.schedules("slack", "T1")] == ["d1", "d3"]
        assert await stores.digests.schedules("teams") == []
    async with database.unit() as stores:
        paused = await stores.digests.set_schedule_status(
            "d1", DigestScheduleStatus.PAUSED, later + timedelta(hours=1)
        )
        assert paused is not None
        assert not paused.is_active
        resumed_at = later + timedelta(days=2)
        resumed = await stores.digests.set_schedule_status(
            "d1", DigestScheduleStatus.ACTIVE, resumed_at
        )
        assert resumed is not None
        assert (resumed.is_active, resumed.active_since) == (True, resumed_at)
        assert await stores.digests.set_schedule_status("nope", "paused", NOW) is None
        assert await stores.digests.delete_schedule("d3")
        assert not await stores.digests.delete_schedule("d3")
        assert await stores.digests.get_schedule("d3") is None


async def test_a_digest_slot_is_claimed_once(database: Database) -> None:
    async with database.unit() as stores:
        await stores.digests.save_schedule(schedule(), NOW)
        assert await stores.digests.claim(run("r1", "2027-03-22"))
        assert not await stores.digests.claim(run("r2", "2027-03-22"))
        assert await stores.digests.claim(run("r3", "2027-03-29", when=NOW + timedelta(days=7)))
    async with database.unit() as stores:
        found = await stores.digests.run_for("d1", "2027-03-22")
        assert found is not None
        assert (found.id, found.status) == ("r1", DigestRunStatus.CLAIMED)
        await stores.digests.finish(
            "r1", status=DigestRunStatus.QUEUED, body='{"a": 1}', case_studies=2, commitments=3
        )
        finished = await stores.digests.get_run("r1")
        assert finished is not None
        assert (finished.status, finished.body, finished.case_studies, finished.commitments) == (
            "queued",
            '{"a": 1}',
            2,
            3,
        )
        last = await stores.digests.last_run(VALUES)
        assert last is not None
        assert last.id == "r3"
        posted = await stores.digests.last_run(VALUES, DigestRunStatus.QUEUED)
        assert posted is not None
        assert posted.id == "r1"
        assert await stores.digests.last_run(VALUES, DigestRunStatus.SKIPPED) is None
        assert await stores.digests.last_run(OTHER) is None
        assert await stores.digests.run_for("d1", "2027-04-05") is None


async def test_two_instances_claiming_one_slot_at_once_let_exactly_one_win(
    database: Database,
) -> None:
    async with database.unit() as stores:
        await stores.digests.save_schedule(schedule(), NOW)

    async def attempt(run_id: str) -> bool:
        async with database.unit() as stores:
            claimed = await stores.digests.claim(run(run_id, "2027-03-22"))
            await asyncio.sleep(0.01)
            return claimed

    assert sorted(await asyncio.gather(attempt("a"), attempt("b"))) == [False, True]


async def test_approved_case_studies_reach_each_channel_once(database: Database) -> None:
    decided = NOW - timedelta(days=1)
    async with database.unit() as stores:
        await stores.digests.save_schedule(schedule(), NOW)
        await stores.case_studies.add(case_study("ok1"))
        await stores.case_studies.add(case_study("ok2"))
        await stores.case_studies.add(case_study("wait"))
        await stores.case_studies.add(case_study("no"))
        await stores.case_studies.add(case_study("teams", author=PersonKey("teams", "T1", "U1")))
        for case_id, status in (
            ("ok1", CaseStudyStatus.APPROVED),
            ("ok2", CaseStudyStatus.APPROVED),
            ("no", CaseStudyStatus.REJECTED),
            ("teams", CaseStudyStatus.APPROVED),
        ):
            assert await stores.case_studies.decide(case_id, 1, status, "U9", None, decided)
        await stores.digests.claim(run("r1", "2027-03-22"))
    window = (NOW - timedelta(days=7), NOW)
    async with database.unit() as stores:
        found = await stores.case_studies.approved_for_digest(VALUES, *window, 10)
        assert [c.id for c in found] == ["ok1", "ok2"]
        assert await stores.digests.include("r1", VALUES, "ok1")
        assert not await stores.digests.include("r1", VALUES, "ok1")
    async with database.unit() as stores:
        found = await stores.case_studies.approved_for_digest(VALUES, *window, 10)
        assert [c.id for c in found] == ["ok2"]
        other = await stores.case_studies.approved_for_digest(OTHER, *window, 10)
        assert [c.id for c in other] == ["ok1", "ok2"]
        assert await stores.case_studies.approved_for_digest(VALUES, NOW, NOW, 10) == []


async def test_a_schedule_keeps_the_channels_service_url(database: Database) -> None:
    """Teams channels come with the connector's service URL: it is kept with the schedule."""
    teams = ConversationRef(
        platform=Platform.TEAMS,
        tenant="tenant-1",
        conversation="19:planning@thread.tacv2",
        kind=ConversationKind.CHANNEL,
        service_url="https://smba.trafficmanager.net/uk/",
    )
    async with database.unit() as stores:
        saved = await stores.digests.save_schedule(schedule("t1", teams), NOW)
        again = await stores.digests.save_schedule(schedule("t2", teams), NOW)
    assert saved.place.service_url == again.place.service_url == teams.service_url
    assert again.id == "t1"


async def test_digest_pages_can_be_rewritten_and_their_makers_forgotten(
    database: Database,
) -> None:
    async with database.unit() as stores:
        await stores.digests.save_schedule(schedule("d1"), NOW)
        await stores.digests.claim(run("r1", "p1"))
        await stores.digests.finish(
            "r1", status=DigestRunStatus.QUEUED, body='{"a": 1}', case_studies=0, commitments=2
        )
        await stores.digests.claim(run("r2", "p2"))
    async with database.unit() as stores:
        assert [r.id for r in await stores.digests.runs_with_body("slack", "T1")] == ["r1"]
        assert await stores.digests.runs_with_body("slack", "T2") == []
        await stores.digests.rewrite("r1", '{"a": 2}', 1)
        assert await stores.digests.forget_creator("slack", "T1", "U9") == 1
    async with database.unit() as stores:
        rewritten = await stores.digests.get_run("r1")
        assert rewritten is not None
        assert (rewritten.body, rewritten.commitments) == ('{"a": 2}', 1)
        kept = await stores.digests.get_schedule("d1")
        assert kept is not None
        assert kept.created_by == ""
