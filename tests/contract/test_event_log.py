"""The event log's contract, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage.engine import Database
from storage.people import PersonKey

NOW = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
PERSON = PersonKey("slack", "T1", "U1")


async def test_event_log_recognises_a_retry(database: Database) -> None:
    async with database.unit() as stores:
        assert await stores.events.first_time("slack", "Ev1", NOW)
        assert not await stores.events.first_time("slack", "Ev1", NOW)
        assert await stores.events.first_time("teams", "Ev1", NOW)
    async with database.unit() as stores:
        assert not await stores.events.first_time("slack", "Ev1", NOW)
        assert await stores.events.forget_before(NOW + timedelta(seconds=1)) == 2
        assert await stores.events.first_time("slack", "Ev1", NOW)


async def test_a_watched_unit_knows_whether_it_changed_anything(database: Database) -> None:
    # No statement at all (the help): nothing changed.
    async with database.unit(watch=True) as stores:
        assert not stores.changed
    # Reads only: nothing changed.
    async with database.unit(watch=True) as stores:
        assert await stores.people.get(PERSON) is None
        assert await stores.dialogs.for_person("slack", "T1", "U1") == []
        assert not stores.changed
    # A write that did nothing (the row was there) still counts: it might have.
    async with database.unit(watch=True) as stores:
        assert await stores.events.first_time("slack", "Ev1", NOW)
        assert stores.changed
    async with database.unit(watch=True) as stores:
        assert await stores.people.get(PERSON) is None
        assert not stores.changed
        assert not await stores.events.first_time("slack", "Ev1", NOW)
        assert stores.changed
    # The next watched unit, on the same pooled connection, starts unchanged; an unwatched
    # unit counts as changed once it ran a statement, and not before.
    async with database.unit(watch=True) as stores:
        assert await stores.people.get(PERSON) is None
        assert not stores.changed
    async with database.unit() as stores:
        if database.dialect == "sqlite":  # on PostgreSQL a unit connects first
            assert not stores.changed
        assert await stores.people.get(PERSON) is None
        assert stores.changed
