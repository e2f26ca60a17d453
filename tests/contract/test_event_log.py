"""The event log's contract, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage.engine import Database

NOW = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)


async def test_event_log_recognises_a_retry(database: Database) -> None:
    async with database.unit() as stores:
        assert await stores.events.first_time("slack", "Ev1", NOW)
        assert not await stores.events.first_time("slack", "Ev1", NOW)
        assert await stores.events.first_time("teams", "Ev1", NOW)
    async with database.unit() as stores:
        assert not await stores.events.first_time("slack", "Ev1", NOW)
        assert await stores.events.forget_before(NOW + timedelta(seconds=1)) == 2
        assert await stores.events.first_time("slack", "Ev1", NOW)
