"""The console feed's contract, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from storage.engine import Database

NOW = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)


async def test_console_feed_lists_each_conversations_cards(database: Database) -> None:
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


async def test_a_persons_direct_conversation_and_reading_marks_are_erased(
    database: Database,
) -> None:
    async with database.unit() as stores:
        await stores.console.post("dm-alice", '{"title": "yours"}', NOW)
        await stores.console.post("team-x", '{"title": "ours"}', NOW)
        await stores.meta.put("console_seen:team-x:alice", "2")
        await stores.meta.put("console_seen:team-x:malice", "2")
        await stores.meta.put("console_seen:dm-alice:alice", "1")
    async with database.unit() as stores:
        assert await stores.console.forget("dm-alice", "alice") == 3
        assert await stores.console.last_id("dm-alice") == 0
        assert await stores.console.last_id("team-x") > 0
        assert await stores.meta.starting_with("console_seen:") == {
            "console_seen:team-x:malice": "2"
        }


async def test_a_change_to_a_post_is_listed_with_the_post_it_changes(database: Database) -> None:
    async with database.unit() as stores:
        card = await stores.console.post("room", '{"title": "open"}', NOW)
        change = await stores.console.post(
            "room", '{"title": "closed"}', NOW, outbox_key="k:closed", replaces=str(card)
        )
        assert [(p.id, p.replaces) for p in await stores.console.since("room", 0)] == [
            (card, None),
            (change, str(card)),
        ]
        assert await stores.console.has_outbox_key("room", "k:closed")
