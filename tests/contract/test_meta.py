"""The meta store's contract (small installation facts), on SQLite and PostgreSQL."""

from __future__ import annotations

from storage.engine import Database


async def test_meta_values_are_set_once_or_replaced(database: Database) -> None:
    async with database.unit() as stores:
        assert await stores.meta.get("k") is None
        assert await stores.meta.put_if_absent("k", "first") == "first"
        assert await stores.meta.put_if_absent("k", "second") == "first"
        await stores.meta.put("k", "third")
        assert await stores.meta.get("k") == "third"


async def test_meta_keys_by_prefix(database: Database) -> None:
    async with database.unit() as stores:
        await stores.meta.put("console_seen:team:alice", "1")
        await stores.meta.put("console_seen:team:bob", "2")
        await stores.meta.put("console_seen:teamx:carol", "3")
    async with database.unit() as stores:
        assert await stores.meta.starting_with("console_seen:team:") == {
            "console_seen:team:alice": "1",
            "console_seen:team:bob": "2",
        }
