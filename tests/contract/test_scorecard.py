"""The scorecard store's contract, and the aggregate counts each feature's store gives it, on
SQLite and PostgreSQL (the ``database`` fixture)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

from storage.barometer import BarometerAnswer, RoundGroup, RoundQuestion, RoundScalePoint
from storage.case_studies import CaseStudy, CaseStudyStatus
from storage.commitments import Commitment, CommitmentStatus
from storage.common import Period, PeriodCount
from storage.engine import Database
from storage.people import PersonKey
from storage.scorecard import Figure, FigureSource, LinkState, StakeholderRound
from storage.values_lens import Checkin, RatingEntry

NOW = datetime(2027, 5, 4, 9, 0, tzinfo=UTC)
MAY = Period("2027-05", datetime(2027, 5, 1, tzinfo=UTC), datetime(2027, 6, 1, tzinfo=UTC))
APRIL = Period("2027-04", datetime(2027, 4, 1, tzinfo=UTC), datetime(2027, 5, 1, tzinfo=UTC))
ALICE = PersonKey("slack", "T1", "U1")
BOB = PersonKey("slack", "T1", "U2")


def a_round(period: str = "2027-Q2", round_id: str = "s1", min_group: int = 5) -> StakeholderRound:
    return StakeholderRound(
        id=round_id,
        period=period,
        opened_at=NOW,
        closes_at=NOW + timedelta(days=28),
        min_group=min_group,
        comment_min=10,
        questions=(
            RoundQuestion(id="patients", text="Patients first", short="Patients"),
            RoundQuestion(id="open", text="Open", short="Open"),
        ),
        scale=(
            RoundScalePoint(id="no", label="Disagree"),
            RoundScalePoint(id="yes", label="Agree", agree=True),
        ),
        groups=(RoundGroup(id="provider", label="Provider"), RoundGroup(id="lg", label="LG")),
    )


def said(
    patients: str = "yes", open_: str = "yes", group: str | None = None, comment: str = ""
) -> BarometerAnswer:
    return BarometerAnswer(
        values={"patients": patients, "open": open_}, group=group, comment=comment
    )


def hashes(n: int) -> list[str]:
    return [f"{i:064x}" for i in range(n)]


async def test_figures_are_kept_and_replaced_by_source_key_and_period(database: Database) -> None:
    async with database.unit() as stores:
        put = await stores.scorecard.put_figures(
            [
                Figure(
                    source="staff_survey",
                    key="engagement",
                    period="2025",
                    value=6.8,
                    respondents=812,
                ),
                Figure(
                    source="staff_survey",
                    key="engagement",
                    period="2026",
                    value=7.0,
                    respondents=790,
                ),
                Figure(source="manual", key="engagement", period="2026", value=1.0),
            ],
            NOW,
        )
        assert put == 3
    async with database.unit() as stores:
        await stores.scorecard.put_figures(
            [
                Figure(
                    source="staff_survey",
                    key="engagement",
                    period="2026",
                    value=7.1,
                    respondents=801,
                )
            ],
            NOW,
        )
    async with database.unit() as stores:
        survey = await stores.scorecard.figures(FigureSource.STAFF_SURVEY)
        manual = await stores.scorecard.figures("manual", {"engagement"})
        none = await stores.scorecard.figures("manual", {"other"})
    assert [(f.period, f.value, f.respondents) for f in survey] == [
        ("2025", 6.8, 812),
        ("2026", 7.1, 801),
    ]
    assert [(f.key, f.value, f.respondents) for f in manual] == [("engagement", 1.0, None)]
    assert none == []


async def test_a_round_opens_once_per_period_and_one_at_a_time(database: Database) -> None:
    async with database.unit() as stores:
        assert await stores.scorecard.open_round(a_round(), hashes(3))
        assert not await stores.scorecard.open_round(a_round(round_id="s2"), [])
        assert not await stores.scorecard.open_round(a_round("2027-Q3", "s3"), [])
        current = await stores.scorecard.current_round()
        assert current is not None
        assert current.period == "2027-Q2"
        assert current.questions[0].text == "Patients first"
        assert await stores.scorecard.participation("s1") == (3, 0)
        assert await stores.scorecard.round_by_period("2027-Q2") == current


async def test_a_link_answers_once_and_says_why_not_after(database: Database) -> None:
    link = hashes(1)[0]
    async with database.unit() as stores:
        await stores.scorecard.open_round(a_round(), [link])
    async with database.unit() as stores:
        assert (await stores.scorecard.check_link(link, NOW)).state is LinkState.OK
        first = await stores.scorecard.answer(link, said(), NOW)
        assert first.state is LinkState.OK
        assert first.round is not None
        assert first.round.id == "s1"
    async with database.unit() as stores:
        assert (await stores.scorecard.check_link(link, NOW)).state is LinkState.USED
        assert (await stores.scorecard.answer(link, said("no"), NOW)).state is LinkState.USED
        assert (await stores.scorecard.check_link("f" * 64, NOW)).state is LinkState.UNKNOWN
        assert (await stores.scorecard.answer("f" * 64, said(), NOW)).state is LinkState.UNKNOWN
        assert await stores.scorecard.participation("s1") == (1, 1)
        assert await stores.scorecard.pending() == 1


async def test_a_link_expires_with_its_round(database: Database) -> None:
    link, other = hashes(2)
    async with database.unit() as stores:
        await stores.scorecard.open_round(a_round(), [link, other])
    late = NOW + timedelta(days=28)
    async with database.unit() as stores:
        assert (await stores.scorecard.check_link(link, late)).state is LinkState.EXPIRED
        assert (await stores.scorecard.answer(link, said(), late)).state is LinkState.EXPIRED
        assert await stores.scorecard.pending() == 0
        await stores.scorecard.close_round("s1", late)
    async with database.unit() as stores:
        # After the close, used or not, every link of the round says it has closed.
        assert (await stores.scorecard.check_link(other, NOW)).state is LinkState.EXPIRED


async def test_two_posts_at_once_spend_a_link_once(database: Database) -> None:
    link = hashes(1)[0]
    async with database.unit() as stores:
        await stores.scorecard.open_round(a_round(), [link])

    async def post(value: str) -> LinkState:
        async with database.unit() as stores:
            return (await stores.scorecard.answer(link, said(value), NOW)).state

    states = await asyncio.gather(post("yes"), post("no"))
    assert sorted(states) == [LinkState.OK, LinkState.USED]
    async with database.unit() as stores:
        assert await stores.scorecard.pending() == 1
        await stores.scorecard.close_round("s1", NOW)
        assert (await stores.scorecard.tally("s1")).respondents == 1


async def test_closing_writes_every_answer_and_forgets_the_links(database: Database) -> None:
    links = hashes(8)
    async with database.unit() as stores:
        await stores.scorecard.open_round(a_round(), links)
        for n, link in enumerate(links[:6]):
            group = "provider" if n < 5 else "lg"
            comment = "Good partners" if n == 0 else ""
            await stores.scorecard.answer(
                link, said("yes" if n % 3 else "no", group=group, comment=comment), NOW
            )
    async with database.unit() as stores:
        # Nothing is counted while the round is open: the answers wait, sealed.
        assert (await stores.scorecard.tally("s1")).respondents == 0
        closed = await stores.scorecard.close_round("s1", NOW + timedelta(days=1))
        assert closed is not None
        assert not closed.is_open
        assert (closed.invited, closed.answered) == (8, 6)
        assert await stores.scorecard.close_round("s1", NOW) is None
    async with database.unit() as stores:
        tally = await stores.scorecard.tally("s1")
        assert tally.respondents == 6
        assert tally.counts[("patients", "provider", "yes")] == 3
        assert tally.counts[("patients", "provider", "no")] == 2
        assert tally.counts[("patients", "lg", "yes")] == 1
        assert await stores.scorecard.pending() == 0
        used = await stores.session.exec(text("SELECT count(*) FROM stakeholder_links WHERE used"))
        assert used.one()[0] == 0
        [comment] = await stores.scorecard.comments("s1")
        assert (comment.text, comment.status) == ("Good partners", "pending")
        # The small group is erased; comments go when too few answered for them.
        await stores.scorecard.seal("s1", {"provider"}, keep_comments=False)
    async with database.unit() as stores:
        tally = await stores.scorecard.tally("s1")
        assert tally.counts[("patients", None, "yes")] == 1
        assert ("patients", "lg", "yes") not in tally.counts
        assert await stores.scorecard.comments("s1") == []
        assert [r.id for r in await stores.scorecard.closed_rounds(5)] == ["s1"]


async def test_comments_are_moderated(database: Database) -> None:
    links = hashes(2)
    async with database.unit() as stores:
        await stores.scorecard.open_round(a_round(), links)
        await stores.scorecard.answer(links[0], said(comment="good"), NOW)
        await stores.scorecard.answer(links[1], said(comment="bad"), NOW)
        await stores.scorecard.close_round("s1", NOW)
    async with database.unit() as stores:
        (good,) = [c for c in await stores.scorecard.comments("s1") if c.text == "good"]
        assert await stores.scorecard.moderate("s1", good.id, "approved")
        assert not await stores.scorecard.moderate("s1", "nope", "approved")
    async with database.unit() as stores:
        assert [c.text for c in await stores.scorecard.comments("s1", ("approved",))] == ["good"]


async def test_a_round_below_the_minimum_keeps_nothing(database: Database) -> None:
    links = hashes(3)
    async with database.unit() as stores:
        await stores.scorecard.open_round(a_round(), links)
        for link in links:
            await stores.scorecard.answer(link, said(comment="hello"), NOW)
        await stores.scorecard.close_round("s1", NOW)
        await stores.scorecard.seal("s1", set(), keep_comments=False, keep_answers=False)
    async with database.unit() as stores:
        tally = await stores.scorecard.tally("s1")
        assert (tally.respondents, dict(tally.counts)) == (0, {})
        assert await stores.scorecard.comments("s1") == []
        round_ = await stores.scorecard.round("s1")
        assert round_ is not None
        assert round_.answered == 3


# The counts other features' stores give the scorecard: aggregates by period, never who.


def checkin(n: int, owner: PersonKey, when: datetime, patients: str) -> Checkin:
    return Checkin(
        id=f"c{n}",
        owner=owner,
        work="Work",
        action="Act",
        focus=None,
        ratings=(
            RatingEntry(behaviour="patients", rating=patients),
            RatingEntry(behaviour="listen", rating="partly"),
        ),
        started_at=when,
        completed_at=when,
    )


async def test_check_ins_are_counted_by_month(database: Database) -> None:
    async with database.unit() as stores:
        await stores.checkins.add(checkin(1, ALICE, NOW, "strongly"))
        await stores.checkins.add(checkin(2, ALICE, NOW + timedelta(days=1), "partly"))
        await stores.checkins.add(checkin(3, BOB, NOW - timedelta(days=10), "strongly"))
        await stores.checkins.add(checkin(4, BOB, NOW - timedelta(days=100), "strongly"))
    async with database.unit() as stores:
        activity = await stores.checkins.activity([APRIL, MAY])
        spread = await stores.checkins.spread([APRIL, MAY])
    assert activity == {
        "2027-05": PeriodCount(count=2, people=1),
        "2027-04": PeriodCount(count=1, people=1),
    }
    assert spread["2027-05"] == {
        ("patients", "strongly"): 1,
        ("patients", "partly"): 1,
        ("listen", "partly"): 2,
    }
    assert spread["2027-04"][("patients", "strongly")] == 1


async def test_commitments_and_case_studies_are_counted_by_month(database: Database) -> None:
    async with database.unit() as stores:
        for n, (owner, made) in enumerate([(ALICE, NOW), (BOB, NOW), (BOB, NOW - timedelta(9))]):
            await stores.commitments.add(
                Commitment(
                    id=f"m{n}",
                    owner=owner,
                    text="My contribution is to...",
                    created_at=made,
                    review_on=date(2027, 6, 1),
                )
            )
        await stores.commitments.set_status("m0", ALICE, CommitmentStatus.DONE, NOW)
        await stores.commitments.mark_shared("m1", BOB, NOW)
        for n, author in enumerate([ALICE, BOB]):
            await stores.case_studies.add(
                CaseStudy(
                    id=f"s{n}",
                    author=author,
                    title="Story",
                    story="What happened",
                    behaviours=("patients",),
                    difference="Better",
                    named=False,
                    submitted_at=NOW,
                )
            )
        await stores.case_studies.decide("s0", 1, CaseStudyStatus.APPROVED, "carol", None, NOW)
    async with database.unit() as stores:
        made = await stores.commitments.activity("made", [APRIL, MAY])
        kept = await stores.commitments.activity("kept", [APRIL, MAY])
        shared = await stores.commitments.activity("shared", [APRIL, MAY])
        submitted = await stores.case_studies.activity("submitted", [MAY])
        approved = await stores.case_studies.activity("approved", [MAY])
        with pytest.raises(ValueError, match="no commitment activity"):
            await stores.commitments.activity("broken", [MAY])
    assert made == {"2027-05": PeriodCount(2, 2), "2027-04": PeriodCount(1, 1)}
    assert kept == {"2027-05": PeriodCount(1, 1)}
    assert shared == {"2027-05": PeriodCount(1, 1)}
    assert submitted == {"2027-05": PeriodCount(2, 2)}
    assert approved == {"2027-05": PeriodCount(1, 1)}


async def test_team_check_ins_are_counted_by_month_after_retention_too(
    database: Database,
) -> None:
    from dataclasses import replace

    from tests.contract.test_values_lens import CHANNEL, team

    async with database.unit() as stores:
        for checkin_id in ("t1", "t2", "t3"):
            place = replace(CHANNEL, conversation=checkin_id)
            await stores.team_checkins.open(replace(team(checkin_id), place=place))
        for checkin_id in ("t1", "t2"):
            await stores.team_checkins.rate(checkin_id, "k1", {"patients": "strongly"})
            await stores.team_checkins.rate(checkin_id, "k2", {"patients": "partly"})
        await stores.team_checkins.close("t1", MAY.start + timedelta(days=1))
        await stores.team_checkins.close("t2", MAY.start + timedelta(days=3))
        # Closed with nobody's answers: not counted.
        await stores.team_checkins.close("t3", MAY.start + timedelta(days=3))
        # Only counts are kept of t1 from now on.
        assert await stores.team_checkins.summarise_before(MAY.start + timedelta(days=2)) == 1
    async with database.unit() as stores:
        activity = await stores.team_checkins.activity([APRIL, MAY])
        spread = await stores.team_checkins.spread([APRIL, MAY])
    assert activity == {"2027-05": PeriodCount(count=2, people=4)}
    assert spread == {"2027-05": {("patients", "strongly"): 2, ("patients", "partly"): 2}}
