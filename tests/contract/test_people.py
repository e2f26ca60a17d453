"""The people store's contract, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.events import Actor, ConversationKind, ConversationRef, Directory, Platform
from storage.engine import Database
from storage.people import PersonKey

NOW = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
ALICE = PersonKey("slack", "T1", "U1")
BOB = PersonKey("slack", "T1", "U2")


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


async def test_everyone_the_bot_knows(database: Database) -> None:
    async with database.unit() as stores:
        for user in ("U2", "U1"):
            place = ConversationRef(
                platform=Platform.SLACK,
                tenant="T1",
                conversation=f"D{user}",
                kind=ConversationKind.DIRECT,
            )
            await stores.people.seen(place, Actor(id=user), NOW)
    async with database.unit() as stores:
        assert await stores.people.everyone() == [ALICE, BOB]


async def test_channels_found_without_anyone_speaking_are_remembered(database: Database) -> None:
    general = ConversationRef(
        platform=Platform.TEAMS,
        tenant="tenant-1",
        conversation="19:team@thread.tacv2",
        kind=ConversationKind.CHANNEL,
        service_url="https://smba.example/uk/",
        extra={"bot_id": "28:app", "team_id": "19:team@thread.tacv2"},
    )
    values = ConversationRef(
        platform=Platform.TEAMS,
        tenant="tenant-1",
        conversation="19:values@thread.tacv2",
        kind=ConversationKind.CHANNEL,
        service_url="https://smba.example/uk/",
        extra={"bot_id": "28:app", "team_id": "19:team@thread.tacv2", "name": "Values"},
    )
    elsewhere = ConversationRef(
        platform=Platform.TEAMS, tenant="tenant-2", conversation="19:x", kind=ConversationKind.GROUP
    )
    direct = ConversationRef(platform=Platform.TEAMS, tenant="tenant-1", conversation="a:1")
    async with database.unit() as stores:
        await stores.people.seen(general, Actor(id="29:1", name="Alice"), NOW)
        await stores.people.seen(direct, Actor(id="29:1", name="Alice"), NOW)
        await stores.people.remember(values, NOW)
        await stores.people.remember(elsewhere, NOW)
    async with database.unit() as stores:
        assert await stores.people.conversation("teams", "tenant-1", values.conversation) == values
        found = await stores.people.channels("teams", "tenant-1")
        assert found == [general, values]
        assert [c.extra for c in found] == [general.extra, values.extra]
        assert await stores.people.channels("teams", "tenant-2") == [elsewhere]
        assert await stores.people.channels("slack", "tenant-1") == []
        # Nobody was met by remembering a channel.
        assert await stores.people.everyone() == [PersonKey("teams", "tenant-1", "29:1")]


async def test_a_person_and_their_direct_conversation_are_erased(database: Database) -> None:
    direct = ConversationRef(
        platform=Platform.SLACK, tenant="T1", conversation="D1", kind=ConversationKind.DIRECT
    )
    channel = ConversationRef(
        platform=Platform.SLACK, tenant="T1", conversation="C1", kind=ConversationKind.CHANNEL
    )
    async with database.unit() as stores:
        await stores.people.seen(direct, Actor(id="U1", name="Alice"), NOW)
        await stores.people.seen(channel, Actor(id="U1", name="Alice"), NOW)
        await stores.people.seen(channel, Actor(id="U2", name="Bob"), NOW)
        assert await stores.people.in_tenant("slack", "T1") == [ALICE, BOB]
        assert await stores.people.in_tenant("slack", "T2") == []
    async with database.unit() as stores:
        erased = await stores.people.forget(ALICE)
        assert erased is not None
        assert erased.display_name == "Alice"
        assert await stores.people.forget(ALICE) is None
    async with database.unit() as stores:
        assert await stores.people.get(ALICE) is None
        assert await stores.people.get(BOB) is not None
        assert await stores.people.conversation("slack", "T1", "D1") is None
        assert await stores.people.conversation("slack", "T1", "C1") is not None


async def test_what_the_directory_says_is_kept_and_found(database: Database) -> None:
    carol = PersonKey("teams", "tenant-1", "29:3")
    channel = ConversationRef(
        platform=Platform.TEAMS,
        tenant="tenant-1",
        conversation="19:c@thread.tacv2",
        kind=ConversationKind.CHANNEL,
        service_url="https://smba.example/uk/",
        extra={"bot_id": "28:app"},
    )
    entry = Directory.of("0C1D2E3F-4A5B", "Carol.Ng@Example.org", "carol.ng@example.org")
    async with database.unit() as stores:
        assert (await stores.people.get(PersonKey("teams", "tenant-1", "29:1"))) is None
        # Asked before the turn that first meets her: the row is made, then the turn's own
        # ``seen`` completes it (the channel's service URL opens a direct chat later).
        await stores.people.identified(carol, "Carol Ng", entry, NOW)
        await stores.people.seen(channel, Actor(id="29:3"), NOW)
    async with database.unit() as stores:
        person = await stores.people.get(carol)
        assert person is not None
        assert person.display_name == "Carol Ng"
        assert person.directory == Directory(
            object_id="0c1d2e3f-4a5b",
            principal_name="carol.ng@example.org",
            email="carol.ng@example.org",
        )
        assert person.service_url == "https://smba.example/uk/"
        assert person.extra == {"bot_id": "28:app"}
        found = await stores.people.by_directory(
            "teams", "tenant-1", ["0c1d2e3f-4A5B", "CAROL.NG@example.org", "nobody@example.org"]
        )
        assert found == {"0c1d2e3f-4A5B": carol, "CAROL.NG@example.org": carol}
        assert await stores.people.by_directory("teams", "other", ["0c1d2e3f-4a5b"]) == {}
        assert await stores.people.by_directory("slack", "tenant-1", ["0c1d2e3f-4a5b"]) == {}


async def test_people_never_looked_up_have_no_directory_entry(database: Database) -> None:
    place = ConversationRef(
        platform=Platform.TEAMS, tenant="t", conversation="a:1", kind=ConversationKind.DIRECT
    )
    async with database.unit() as stores:
        await stores.people.seen(place, Actor(id="29:1", name="Alice"), NOW)
        # A directory that gives only a name still counts as asked.
        await stores.people.identified(PersonKey("teams", "t", "29:2"), "", Directory(), NOW)
    async with database.unit() as stores:
        alice = await stores.people.get(PersonKey("teams", "t", "29:1"))
        assert alice is not None
        assert alice.directory is None
        other = await stores.people.get(PersonKey("teams", "t", "29:2"))
        assert other is not None
        assert other.directory == Directory()
        assert other.display_name == ""


async def _last_seen(database: Database, person: PersonKey) -> datetime | None:
    async with database.unit() as stores:
        found = await stores.people.get(person)
    return None if found is None else found.last_seen


async def test_an_arrival_written_lately_is_not_written_again(database: Database) -> None:
    direct = ConversationRef(
        platform=Platform.SLACK, tenant="T1", conversation="D1", kind=ConversationKind.DIRECT
    )
    alice = Actor(id="U1", name="Alice", timezone="Europe/London")
    async with database.unit() as stores:
        assert await stores.people.seen(direct, alice, NOW)
    # The same arrival a moment later: nothing written (last seen stays), said so.
    async with database.unit() as stores:
        assert not await stores.people.seen(direct, alice, NOW + timedelta(seconds=5))
    assert await _last_seen(database, ALICE) == NOW
    # Anything of it that changed is written at once.
    renamed = Actor(id="U1", name="Alice Smith", timezone="Europe/London")
    async with database.unit() as stores:
        assert await stores.people.seen(direct, renamed, NOW + timedelta(seconds=6))
    assert await _last_seen(database, ALICE) == NOW + timedelta(seconds=6)


async def test_an_arrival_counts_as_written_only_once_committed(database: Database) -> None:
    direct = ConversationRef(
        platform=Platform.SLACK, tenant="T1", conversation="D2", kind=ConversationKind.DIRECT
    )
    bob = Actor(id="U2", name="Bob")
    try:
        async with database.unit() as stores:
            assert await stores.people.seen(direct, bob, NOW)
            raise RuntimeError("the turn failed")
    except RuntimeError:
        pass
    async with database.unit() as stores:
        assert await stores.people.seen(direct, bob, NOW)
    assert await _last_seen(database, BOB) == NOW


async def test_erasure_and_a_leavers_mark_forget_the_arrival(database: Database) -> None:
    direct = ConversationRef(
        platform=Platform.SLACK, tenant="T1", conversation="D1", kind=ConversationKind.DIRECT
    )
    alice = Actor(id="U1", name="Alice")
    async with database.unit() as stores:
        assert await stores.people.seen(direct, alice, NOW)
    async with database.unit() as stores:
        await stores.people.forget(ALICE)
    # Erased here: the next arrival remembers them again at once.
    async with database.unit() as stores:
        assert await stores.people.seen(direct, alice, NOW + timedelta(seconds=1))
    assert await _last_seen(database, ALICE) == NOW + timedelta(seconds=1)
    async with database.unit() as stores:
        await stores.records.mark_left([ALICE], "deactivated", NOW, NOW + timedelta(days=30))
    async with database.unit() as stores:
        assert await stores.people.seen(direct, alice, NOW + timedelta(seconds=2))
        assert await stores.records.returned(ALICE)
