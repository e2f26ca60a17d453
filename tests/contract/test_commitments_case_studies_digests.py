"""The commitment, case study and digest stores: one contract, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from bot.events import ConversationKind, ConversationRef, Platform
from storage.case_studies import CaseStudy, CaseStudyStatus
from storage.commitments import Commitment, CommitmentStatus
from storage.digests import DigestRun, DigestRunStatus, DigestSchedule, DigestScheduleStatus
from storage.engine import Database
from storage.people import PersonKey

NOW = datetime(2027, 3, 22, 9, 0, tzinfo=UTC)
ALICE = PersonKey("slack", "T1", "U1")
BOB = PersonKey("slack", "T1", "U2")
VALUES = ConversationRef(
    platform=Platform.SLACK, tenant="T1", conversation="C1", kind=ConversationKind.CHANNEL
)
OTHER = ConversationRef(
    platform=Platform.SLACK, tenant="T1", conversation="C2", kind=ConversationKind.CHANNEL
)


def commitment(commitment_id: str, owner: PersonKey = ALICE, **extra: object) -> Commitment:
    values: dict[str, object] = {
        "id": commitment_id,
        "owner": owner,
        "text": f"do {commitment_id}",
        "behaviours": ("listen",),
        "created_at": NOW,
    }
    values.update(extra)
    return Commitment(**values)  # type: ignore[arg-type]


async def test_a_commitment_is_changed_only_by_its_owner(database: Database) -> None:
    async with database.unit() as stores:
        await stores.commitments.add(commitment("m1", review_on=date(2027, 4, 1)))
    later = NOW + timedelta(hours=1)
    async with database.unit() as stores:
        assert (
            await stores.commitments.edit(
                "m1", BOB, text="hijack", behaviours=(), review_on=None, now=later
            )
            is None
        )
        assert await stores.commitments.set_status("m1", BOB, CommitmentStatus.DONE, later) is None
        assert not await stores.commitments.mark_shared("m1", BOB, later)
        assert not await stores.commitments.delete("m1", BOB)
        edited = await stores.commitments.edit(
            "m1",
            ALICE,
            text="Publish the minutes",
            behaviours=("open", "listen"),
            review_on=date(2027, 5, 1),
            now=later,
        )
        assert edited is not None
        assert (edited.text, edited.behaviours, edited.review_on) == (
            "Publish the minutes",
            ("open", "listen"),
            date(2027, 5, 1),
        )
        done = await stores.commitments.set_status("m1", ALICE, CommitmentStatus.DONE, later)
        assert done is not None
        assert (done.status, done.done_at, done.is_open) == ("done", later, False)
        reopened = await stores.commitments.set_status("m1", ALICE, CommitmentStatus.OPEN, later)
        assert reopened is not None
        assert reopened.done_at is None
    async with database.unit() as stores:
        assert await stores.commitments.mark_shared("m1", ALICE, later)
        assert not await stores.commitments.mark_shared("m1", ALICE, later + timedelta(days=1))
        shared = await stores.commitments.get("m1")
        assert shared is not None
        assert shared.shared_at == later
        assert await stores.commitments.delete("m1", ALICE)
        assert await stores.commitments.get("m1") is None
        assert not await stores.commitments.delete("m1", ALICE)


async def test_shared_commitments_are_counted_per_workspace_and_window(database: Database) -> None:
    async with database.unit() as stores:
        for n in range(4):
            await stores.commitments.add(commitment(f"s{n}"))
            await stores.commitments.mark_shared(f"s{n}", ALICE, NOW + timedelta(days=n))
        await stores.commitments.add(commitment("private"))
        elsewhere = PersonKey("slack", "T2", "U1")
        await stores.commitments.add(commitment("t2", owner=elsewhere))
        await stores.commitments.mark_shared("t2", elsewhere, NOW)
    async with database.unit() as stores:
        after, until = NOW, NOW + timedelta(days=2)
        found = await stores.commitments.shared_between("slack", "T1", after, until, 10)
        assert [c.id for c in found] == ["s2", "s1"]
        assert await stores.commitments.count_shared_between("slack", "T1", after, until) == 2
        assert len(await stores.commitments.shared_between("slack", "T1", after, until, 1)) == 1
        assert await stores.commitments.count_shared_between("teams", "T1", after, until) == 0


async def test_review_nudges_are_due_once_per_review_date(database: Database) -> None:
    async with database.unit() as stores:
        await stores.commitments.add(commitment("due", review_on=date(2027, 3, 22)))
        await stores.commitments.add(commitment("later", review_on=date(2027, 3, 23)))
        await stores.commitments.add(commitment("none"))
        await stores.commitments.add(
            commitment("done", review_on=date(2027, 3, 1), status=CommitmentStatus.DONE)
        )
    async with database.unit() as stores:
        due = await stores.commitments.due_for_review(date(2027, 3, 22), 10)
        assert [c.id for c in due] == ["due"]
        assert await stores.commitments.mark_nudged("due", date(2027, 3, 22), NOW)
        assert not await stores.commitments.mark_nudged("due", date(2027, 3, 22), NOW)
        assert not await stores.commitments.mark_nudged("later", date(2027, 3, 1), NOW)
        assert await stores.commitments.due_for_review(date(2027, 3, 22), 10) == []
        # A new review date earns a new nudge.
        await stores.commitments.set_review("due", ALICE, date(2027, 3, 23), NOW)
        again = await stores.commitments.due_for_review(date(2027, 3, 23), 10)
        assert [c.id for c in again] == ["due", "later"]


def case_study(case_id: str, author: PersonKey = ALICE, **extra: object) -> CaseStudy:
    values: dict[str, object] = {
        "id": case_id,
        "author": author,
        "title": f"Story {case_id}",
        "story": "We asked patients first.",
        "behaviours": ("patients", "listen"),
        "difference": "Fewer complaints.",
        "named": True,
        "submitted_at": NOW,
    }
    values.update(extra)
    return CaseStudy(**values)  # type: ignore[arg-type]


async def test_case_study_moderation_is_decided_once_per_revision(database: Database) -> None:
    async with database.unit() as stores:
        assert await stores.case_studies.add(case_study("k1"))
        assert not await stores.case_studies.add(case_study("k1", title="again"))
        assert await stores.case_studies.get("k1") == case_study("k1")
        assert [c.id for c in await stores.case_studies.pending("slack", "T1", 10)] == ["k1"]
    later = NOW + timedelta(hours=2)
    async with database.unit() as stores:
        asked = await stores.case_studies.decide(
            "k1", 1, CaseStudyStatus.CHANGES_REQUESTED, "U9", "Add an outcome", later
        )
        assert asked is not None
        assert (asked.status, asked.moderator, asked.moderator_note) == (
            "changes_requested",
            "U9",
            "Add an outcome",
        )
        # A second moderator clicking the same card finds it decided.
        assert (
            await stores.case_studies.decide("k1", 1, CaseStudyStatus.APPROVED, "U8", None, later)
            is None
        )
        assert await stores.case_studies.pending("slack", "T1", 10) == []
        assert (
            await stores.case_studies.resubmit(
                "k1",
                BOB,
                title="x",
                story="x",
                behaviours=(),
                difference="x",
                named=False,
                now=later,
            )
            is None
        )
        again = await stores.case_studies.resubmit(
            "k1",
            ALICE,
            title="Story k1, with the outcome",
            story="We asked patients first.",
            behaviours=("patients",),
            difference="Complaints halved.",
            named=False,
            now=later,
        )
        assert again is not None
        assert (again.status, again.revision, again.named) == ("pending", 2, False)
        # The card of revision 1 no longer decides anything.
        assert (
            await stores.case_studies.decide("k1", 1, CaseStudyStatus.APPROVED, "U9", None, later)
            is None
        )
        approved = await stores.case_studies.decide(
            "k1", 2, CaseStudyStatus.APPROVED, "U9", None, later
        )
        assert approved is not None
        assert (approved.status, approved.decided_at) == ("approved", later)
        assert (
            await stores.case_studies.resubmit(
                "k1",
                ALICE,
                title="x",
                story="x",
                behaviours=(),
                difference="x",
                named=False,
                now=later,
            )
            is None
        )
        await stores.case_studies.add(case_study("k2", submitted_at=later + timedelta(minutes=1)))
        assert [c.id for c in await stores.case_studies.for_author(ALICE, 10)] == ["k2", "k1"]


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
