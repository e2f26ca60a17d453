"""One contract for every store, run on SQLite and on PostgreSQL (the ``database`` fixture)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

from bot.events import Actor, ConversationKind, ConversationRef, Platform
from storage.commitments import Commitment
from storage.common import ConcurrentUpdate
from storage.delivery import OutboxMessage
from storage.dialog_states import DialogKey, DialogState
from storage.engine import Database
from storage.people import PersonKey
from storage.values_lens import Checkin, RateOutcome, RatingEntry, TeamCheckin

NOW = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
KEY = DialogKey("slack", "T1", "D1", "U1")
CHANNEL = ConversationRef(
    platform=Platform.SLACK, tenant="T1", conversation="C1", kind=ConversationKind.CHANNEL
)
ALICE = PersonKey("slack", "T1", "U1")


async def test_dialog_state_round_trip_and_versions(database: Database) -> None:
    async with database.unit() as stores:
        assert await stores.dialogs.load(KEY) is None
        saved = await stores.dialogs.save(
            KEY, DialogState(dialog="lens", step="work", data={"a": [1, "é"]}), NOW
        )
        assert saved.version == 1
    async with database.unit() as stores:
        loaded = await stores.dialogs.load(KEY)
        assert loaded is not None
        assert (loaded.dialog, loaded.step, loaded.data, loaded.version) == (
            "lens",
            "work",
            {"a": [1, "é"]},
            1,
        )
        assert loaded.started_at == NOW
        loaded.data["b"] = True
        again = await stores.dialogs.save(
            KEY, DialogState(dialog="lens", step="rate", data=loaded.data, version=1), NOW
        )
        assert again.version == 2


async def test_a_stale_dialog_save_is_refused(database: Database) -> None:
    async with database.unit() as stores:
        await stores.dialogs.save(KEY, DialogState(dialog="lens", step="work"), NOW)
    with pytest.raises(ConcurrentUpdate):
        async with database.unit() as stores:
            await stores.dialogs.save(KEY, DialogState(dialog="lens", step="x"), NOW)
    with pytest.raises(ConcurrentUpdate):
        async with database.unit() as stores:
            await stores.dialogs.save(KEY, DialogState(dialog="lens", step="x", version=7), NOW)
    with pytest.raises(ConcurrentUpdate):
        async with database.unit() as stores:
            await stores.dialogs.delete(KEY, DialogState(dialog="lens", step="x", version=7))
    async with database.unit() as stores:
        state = await stores.dialogs.load(KEY)
        assert state is not None
        assert state.step == "work"
        await stores.dialogs.delete(KEY, state)
    async with database.unit() as stores:
        assert await stores.dialogs.load(KEY) is None


async def test_two_concurrent_saves_of_one_version_let_exactly_one_win(database: Database) -> None:
    async with database.unit() as stores:
        await stores.dialogs.save(KEY, DialogState(dialog="lens", step="a"), NOW)

    async def advance(step: str) -> bool:
        try:
            async with database.unit() as stores:
                state = await stores.dialogs.load(KEY)
                assert state is not None
                await asyncio.sleep(0.01)
                await stores.dialogs.save(
                    KEY, DialogState(dialog="lens", step=step, version=state.version), NOW
                )
            return True
        except ConcurrentUpdate:
            return False

    won = await asyncio.gather(advance("b"), advance("c"))
    async with database.unit() as stores:
        final = await stores.dialogs.load(KEY)
    assert final is not None
    # Either one lost the race, or they ran one after the other (SQLite serialises writers).
    assert won.count(True) in (1, 2)
    assert final.version == 1 + won.count(True)


async def test_event_log_recognises_a_retry(database: Database) -> None:
    async with database.unit() as stores:
        assert await stores.events.first_time("slack", "Ev1", NOW)
        assert not await stores.events.first_time("slack", "Ev1", NOW)
        assert await stores.events.first_time("teams", "Ev1", NOW)
    async with database.unit() as stores:
        assert not await stores.events.first_time("slack", "Ev1", NOW)
        assert await stores.events.forget_before(NOW + timedelta(seconds=1)) == 2
        assert await stores.events.first_time("slack", "Ev1", NOW)


async def test_people_and_conversations_are_remembered(database: Database) -> None:
    direct = ConversationRef(
        platform=Platform.TEAMS,
        tenant="tenant-1",
        conversation="a:1",
        kind=ConversationKind.DIRECT,
        service_url="https://smba.example/emea/",
    )
    async with database.unit() as stores:
        await stores.people.seen(
            direct, Actor(id="29:1", name="Alice", timezone="Europe/London"), NOW
        )
        later = NOW + timedelta(hours=1)
        channel = ConversationRef(
            platform=Platform.TEAMS,
            tenant="tenant-1",
            conversation="19:c",
            kind=ConversationKind.CHANNEL,
        )
        await stores.people.seen(channel, Actor(id="29:1", name=""), later)
    async with database.unit() as stores:
        person = await stores.people.get(PersonKey("teams", "tenant-1", "29:1"))
        assert person is not None
        assert person.display_name == "Alice"
        assert person.timezone == "Europe/London"
        assert person.direct_conversation == "a:1"
        assert person.service_url == "https://smba.example/emea/"
        assert (person.first_seen, person.last_seen) == (NOW, later)
        found = await stores.people.conversation("teams", "tenant-1", "a:1")
        assert found == direct
        assert await stores.people.conversation("teams", "tenant-1", "nope") is None
        assert await stores.people.get(PersonKey("teams", "other", "29:1")) is None


async def test_conversation_extra_details_are_kept_and_refreshed(database: Database) -> None:
    channel = ConversationRef(
        platform=Platform.TEAMS,
        tenant="tenant-1",
        conversation="19:c@thread.tacv2",
        kind=ConversationKind.CHANNEL,
        service_url="https://smba.example/uk/",
        extra={"bot": "28:app"},
    )
    async with database.unit() as stores:
        await stores.people.seen(channel, Actor(id="29:2", name="Bob"), NOW)
        # A later event without extra details keeps the ones already known.
        bare = ConversationRef(
            platform=Platform.TEAMS,
            tenant="tenant-1",
            conversation="19:c@thread.tacv2",
            kind=ConversationKind.CHANNEL,
        )
        await stores.people.seen(bare, Actor(id="29:2", name="Bob"), NOW + timedelta(minutes=1))
    async with database.unit() as stores:
        found = await stores.people.conversation("teams", "tenant-1", "19:c@thread.tacv2")
        assert found is not None
        assert found.extra == {"bot": "28:app"}
        assert found.service_url == "https://smba.example/uk/"
        person = await stores.people.get(PersonKey("teams", "tenant-1", "29:2"))
        assert person is not None
        assert person.extra == {"bot": "28:app"}
        assert person.direct_conversation is None
        assert person.service_url == "https://smba.example/uk/"


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


async def test_commitments_from_one_source_are_stored_once(database: Database) -> None:
    first = Commitment(
        id="m1",
        owner=ALICE,
        text="Publish the minutes",
        behaviours=("open",),
        source="lens:c1",
        review_on=date(2027, 1, 4),
        created_at=NOW,
    )
    async with database.unit() as stores:
        assert await stores.commitments.add(first) == first
        duplicate = await stores.commitments.add(
            Commitment(id="m2", owner=ALICE, text="x", source="lens:c1", created_at=NOW)
        )
        assert duplicate == first
        loose = Commitment(
            id="m3", owner=ALICE, text="Listen more", created_at=NOW + timedelta(days=1)
        )
        await stores.commitments.add(loose)
    async with database.unit() as stores:
        assert [c.id for c in await stores.commitments.for_owner(ALICE, 10)] == ["m3", "m1"]
        assert await stores.commitments.by_source("lens:c1") == first
        assert await stores.commitments.by_source("lens:zz") is None


async def test_console_feed_and_meta(database: Database) -> None:
    async with database.unit() as stores:
        assert await stores.console.last_id("room") == 0
        one = await stores.console.post("room", '{"title": "a"}', NOW)
        two = await stores.console.post("room", '{"title": "b"}', NOW)
        await stores.console.post("elsewhere", '{"title": "c"}', NOW)
        assert two > one
        assert [p.card for p in await stores.console.since("room", 0)] == [
            '{"title": "a"}',
            '{"title": "b"}',
        ]
        assert [p.id for p in await stores.console.since("room", one)] == [two]
        assert await stores.console.last_id("room") == two
        assert await stores.meta.get("k") is None
        assert await stores.meta.put_if_absent("k", "first") == "first"
        assert await stores.meta.put_if_absent("k", "second") == "first"
        await stores.meta.put("k", "third")
        assert await stores.meta.get("k") == "third"


async def test_a_failed_unit_leaves_nothing_behind(database: Database) -> None:
    async def fail_midway() -> None:
        async with database.unit() as stores:
            await stores.checkins.add(checkin("c9", ALICE, NOW))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await fail_midway()
    async with database.unit() as stores:
        assert await stores.checkins.get("c9") is None


async def test_outbox_enqueue_is_idempotent_by_key(database: Database) -> None:
    message = OutboxMessage(
        key="barometer:2027-05:slack:T1:U1",
        job="barometer:2027-05",
        platform="slack",
        tenant="T1",
        recipient="U1",
        to_person=True,
        card='{"title": "Staff barometer"}',
    )
    async with database.unit() as stores:
        assert await stores.outbox.enqueue(message, NOW)
        assert not await stores.outbox.enqueue(message, NOW + timedelta(minutes=1))
    async with database.engine.connect() as connection:
        found = (await connection.execute(text("SELECT key, status, attempts FROM outbox"))).all()
    assert [tuple(r) for r in found] == [("barometer:2027-05:slack:T1:U1", "queued", 0)]
