"""The case study store's contract, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from bot.events import ConversationKind, ConversationRef, Platform
from storage.case_studies import CaseStudy, CaseStudyStatus
from storage.digests import DigestRun
from storage.engine import Database
from storage.people import PersonKey

NOW = datetime(2027, 3, 22, 9, 0, tzinfo=UTC)
ALICE = PersonKey("slack", "T1", "U1")
BOB = PersonKey("slack", "T1", "U2")


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


async def test_a_persons_case_studies_are_erased_or_kept_without_them(database: Database) -> None:
    place = ConversationRef(
        platform=Platform.SLACK, tenant="T1", conversation="C1", kind=ConversationKind.CHANNEL
    )
    async with database.unit() as stores:
        for case_id in ("k1", "k2"):
            await stores.case_studies.add(case_study(case_id))
            await stores.case_studies.decide(
                case_id, 1, CaseStudyStatus.APPROVED, "U9", "Lovely", NOW
            )
        await stores.case_studies.add(case_study("b1", author=BOB))
        await stores.case_studies.decide("b1", 1, CaseStudyStatus.APPROVED, "U1", None, NOW)
        await stores.digests.claim(
            DigestRun(id="r1", schedule_id="d1", period="p", place=place, claimed_at=NOW, as_of=NOW)
        )
        await stores.digests.include("r1", place, "k1")
        await stores.digests.include("r1", place, "k2")
    async with database.unit() as stores:
        assert [c.id for c in await stores.case_studies.for_person(ALICE)] == ["k1", "k2"]
        theirs = await stores.case_studies.forget(ALICE, keep=("k2",))
        assert sorted(c.id for c in theirs) == ["k1", "k2"]
    async with database.unit() as stores:
        assert await stores.case_studies.get("k1") is None
        kept = await stores.case_studies.get("k2")
        assert kept is not None
        assert (kept.author.user, kept.named, kept.moderator_note, kept.story) == (
            "",
            False,
            None,
            "We asked patients first.",
        )
        assert await stores.case_studies.for_person(ALICE) == []
        moderated = await stores.case_studies.get("b1")
        assert moderated is not None
        assert moderated.moderator == ""
        items = await stores.session.exec(text("SELECT case_study_id FROM digest_items"))
        assert [i[0] for i in items] == ["k2"]
