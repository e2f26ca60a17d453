"""The values lens stores' contract (personal and team check-ins), on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

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


async def test_a_persons_checkins_are_listed_and_erased_with_their_notes(
    database: Database,
) -> None:
    bob = PersonKey("slack", "T1", "U2")
    async with database.unit() as stores:
        await stores.checkins.add(checkin("c0", ALICE, NOW))
        await stores.checkins.add(checkin("c1", ALICE, NOW + timedelta(days=400)))
        await stores.checkins.add(checkin("b0", bob, NOW))
    async with database.unit() as stores:
        assert [c.id for c in await stores.checkins.for_person(ALICE)] == ["c1", "c0"]
        assert await stores.checkins.forget(ALICE) == 2
    async with database.unit() as stores:
        assert await stores.checkins.for_person(ALICE) == []
        assert await stores.checkins.get("c0") is None
        assert [c.id for c in await stores.checkins.for_person(bob)] == ["b0"]
        notes = await stores.session.exec(text("SELECT checkin_id FROM checkin_ratings"))
        assert sorted({n[0] for n in notes}) == ["b0"]


async def test_retention_erases_checkins_completed_before_the_limit(database: Database) -> None:
    async with database.unit() as stores:
        await stores.checkins.add(checkin("old", ALICE, NOW))
        await stores.checkins.add(checkin("new", ALICE, NOW + timedelta(days=1)))
    async with database.unit() as stores:
        assert await stores.checkins.forget_before(NOW + timedelta(days=1)) == 1
        assert [c.id for c in await stores.checkins.for_person(ALICE)] == ["new"]


async def test_a_members_team_ratings_are_found_by_their_keys_and_erased(
    database: Database,
) -> None:
    async with database.unit() as stores:
        await stores.team_checkins.open(team("t1"))
        await stores.team_checkins.rate("t1", "alice-t1", {"patients": "strongly"})
        await stores.team_checkins.rate("t1", "bob-t1", {"patients": "partly"})
        assert await stores.team_checkins.ids_in("slack", "T1") == ["t1"]
        assert await stores.team_checkins.ids_in("slack", "T2") == []
    async with database.unit() as stores:
        [found] = await stores.team_checkins.ratings_of({"t1": "alice-t1"})
        assert (found.checkin.id, dict(found.ratings)) == ("t1", {"patients": "strongly"})
        assert [t.id for t in await stores.team_checkins.started_by("slack", "T1", "U1")] == ["t1"]
        assert await stores.team_checkins.forget_member({"t1": "alice-t1"}) == 1
        assert await stores.team_checkins.forget_member({"t1": "alice-t1"}) == 0
        assert await stores.team_checkins.forget_starter("slack", "T1", "U1") == 1
    async with database.unit() as stores:
        tally = await stores.team_checkins.tally("t1")
        assert (tally.participants, tally.counts) == (1, {"patients": {"partly": 1}})
        assert tally.checkin.started_by == ""
        assert await stores.team_checkins.started_by("slack", "T1", "U1") == []


async def test_retention_keeps_only_the_counts_of_a_team_checkin(database: Database) -> None:
    async with database.unit() as stores:
        for checkin_id in ("t1", "t2"):
            await stores.team_checkins.open(replace(team(checkin_id), place=_place(checkin_id)))
            await stores.team_checkins.rate(checkin_id, "k1", {"patients": "strongly"})
            await stores.team_checkins.rate(checkin_id, "k2", {"patients": "strongly"})
            await stores.team_checkins.rate(checkin_id, "k3", {"patients": "partly"})
        await stores.team_checkins.close("t1", NOW)
        await stores.team_checkins.close("t2", NOW + timedelta(days=2))
        before = await stores.team_checkins.tally("t1")
    async with database.unit() as stores:
        assert await stores.team_checkins.summarise_before(NOW + timedelta(days=1)) == 1
        assert await stores.team_checkins.summarise_before(NOW + timedelta(days=1)) == 0
    async with database.unit() as stores:
        after = await stores.team_checkins.tally("t1")
        assert (after.participants, after.counts) == (before.participants, before.counts)
        assert await stores.team_checkins.ratings_of({"t1": "k1"}) == []
        keys = await stores.session.exec(text("SELECT DISTINCT team_checkin_id FROM team_ratings"))
        assert [k[0] for k in keys] == ["t2"]


def _place(conversation: str) -> ConversationRef:
    return replace(CHANNEL, conversation=conversation)
