"""The values lens stores' contract (personal and team check-ins), on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.events import ConversationKind, ConversationRef, Platform
from storage.engine import Database
from storage.people import PersonKey
from storage.values_lens import Checkin, RateOutcome, RatingEntry, TeamCheckin

NOW = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
CHANNEL = ConversationRef(
    platform=Platform.SLACK, tenant="T1", conversation="C1", kind=ConversationKind.CHANNEL
)
ALICE = PersonKey("slack", "T1", "U1")


def checkin(checkin_id: str, owner: PersonKey, when: datetime) -> Checkin:
    return Checkin(
        id=checkin_id,
        owner=owner,
        work=f"work {checkin_id}",
        action="act",
        focus="open",
        ratings=(
            RatingEntry(behaviour="patients", rating="strongly"),
            RatingEntry(behaviour="open", rating="not_yet", note="no minutes published"),
        ),
        started_at=when - timedelta(minutes=3),
        completed_at=when,
    )


async def test_checkins_are_stored_with_ratings_and_listed_newest_first(database: Database) -> None:
    bob = PersonKey("slack", "T1", "U2")
    async with database.unit() as stores:
        for n in range(3):
            await stores.checkins.add(checkin(f"c{n}", ALICE, NOW + timedelta(days=n)))
        await stores.checkins.add(checkin("b0", bob, NOW))
    async with database.unit() as stores:
        recent = await stores.checkins.recent(ALICE, 2)
        assert [c.id for c in recent] == ["c2", "c1"]
        one = await stores.checkins.get("c0")
        assert one == checkin("c0", ALICE, NOW)
        assert await stores.checkins.get("missing") is None


def team(checkin_id: str = "t1") -> TeamCheckin:
    return TeamCheckin(
        id=checkin_id,
        place=CHANNEL,
        work="Winter letter",
        started_by="U1",
        opened_at=NOW,
        closes_at=NOW + timedelta(hours=24),
    )


async def test_one_open_team_checkin_per_place(database: Database) -> None:
    async with database.unit() as stores:
        assert await stores.team_checkins.open(team("t1")) == team("t1")
        again = await stores.team_checkins.open(team("t2"))
        assert again.id == "t1"
        assert (await stores.team_checkins.current(CHANNEL)) == team("t1")
        other = ConversationRef(
            platform=Platform.SLACK, tenant="T1", conversation="C2", kind=ConversationKind.CHANNEL
        )
        assert await stores.team_checkins.current(other) is None
    async with database.unit() as stores:
        closed = await stores.team_checkins.close("t1", NOW)
        assert closed is not None
        assert closed.status == "closed"
        assert closed.closed_at == NOW
        assert await stores.team_checkins.close("t1", NOW) is None
        assert (await stores.team_checkins.open(team("t3"))).id == "t3"


async def test_a_team_checkin_keeps_the_id_of_its_card(database: Database) -> None:
    async with database.unit() as stores:
        await stores.team_checkins.open(team("t1"))
        assert (await stores.team_checkins.get("t1")).card is None  # type: ignore[union-attr]
        kept = await stores.team_checkins.card_posted("t1", "1700000000.000200")
        assert kept == replace(team("t1"), card="1700000000.000200")
        assert await stores.team_checkins.card_posted("missing", "1") is None
    async with database.unit() as stores:
        closed = await stores.team_checkins.close("t1", NOW)
        assert closed is not None
        assert (closed.status, closed.card) == ("closed", "1700000000.000200")
        assert await stores.team_checkins.due(NOW + timedelta(days=2), 10) == []
        assert (await stores.team_checkins.get("t1")) == closed
        # A card that landed after its check-in closed is kept too.
        again = await stores.team_checkins.card_posted("t1", "1700000000.000300")
        assert again is not None
        assert (again.status, again.card) == ("closed", "1700000000.000300")


async def test_team_ratings_count_each_member_once_and_tally_without_names(
    database: Database,
) -> None:
    async with database.unit() as stores:
        await stores.team_checkins.open(team())
        assert (
            await stores.team_checkins.rate("t1", "k1", {"patients": "strongly", "open": "not_yet"})
            is RateOutcome.NEW
        )
        assert (
            await stores.team_checkins.rate("t1", "k2", {"patients": "partly", "open": "not_yet"})
            is RateOutcome.NEW
        )
        assert (
            await stores.team_checkins.rate("t1", "k1", {"patients": "partly", "open": "strongly"})
            is RateOutcome.REPLACED
        )
    async with database.unit() as stores:
        tally = await stores.team_checkins.tally("t1")
        assert tally.participants == 2
        assert tally.counts == {
            "patients": {"partly": 2},
            "open": {"not_yet": 1, "strongly": 1},
        }
        await stores.team_checkins.close("t1", NOW)
        assert (
            await stores.team_checkins.rate("t1", "k3", {"patients": "strongly"})
            is RateOutcome.CLOSED
        )
        assert (await stores.team_checkins.tally("t1")).participants == 2


async def test_due_team_checkins(database: Database) -> None:
    async with database.unit() as stores:
        await stores.team_checkins.open(team())
        assert await stores.team_checkins.due(NOW + timedelta(hours=23), 10) == []
        due = await stores.team_checkins.due(NOW + timedelta(hours=24), 10)
        assert [t.id for t in due] == ["t1"]
        assert await stores.team_checkins.due(NOW + timedelta(hours=24), 10, ["teams"]) == []
