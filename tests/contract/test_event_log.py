"""The event log's contract, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event

from storage.dialog_states import DialogKey, DialogState
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


async def test_an_event_recorded_for_a_dialog_turn_reads_that_dialogs_state(
    database: Database,
) -> None:
    """A dialog's turn records its event and then loads its state: on PostgreSQL one
    statement does both, and the state it read is the one the next load gives."""
    alice = DialogKey("slack", "T1", "D1", "U1")
    bob = DialogKey("slack", "T1", "D1", "U2")
    async with database.unit() as stores:
        saved = await stores.dialogs.save(
            alice, DialogState(dialog="lens", step="s2", data={"focus": "kind"}), NOW
        )
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not statement.startswith("BEGIN"):  # SQLite's own; asyncpg's is not a statement here
            statements.append(statement.split()[0])

    event.listen(database.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with database.unit() as stores:
            assert await stores.events.first_time("slack", "Ev1", NOW, dialog=alice)
            assert await stores.dialogs.load(alice) == saved
            together = list(statements)
            # Someone with no dialog under way: none.
            assert await stores.events.first_time("slack", "Ev2", NOW, dialog=bob)
            assert await stores.dialogs.load(bob) is None
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", count)
    assert together == (["WITH"] if database.dialect == "postgresql" else ["INSERT", "SELECT"])

    async with database.unit() as stores:
        # The same event again is a retry, whatever it reads.
        assert not await stores.events.first_time("slack", "Ev1", NOW, dialog=alice)
        assert not await stores.events.first_time("slack", "Ev2", NOW)
        # The state read with the event is given once: after a save, a load reads the new one.
        assert await stores.events.first_time("slack", "Ev3", NOW, dialog=alice)
        state = await stores.dialogs.load(alice)
        assert state is not None
        await stores.dialogs.save(alice, replace(state, step="s3"), NOW)
        again = await stores.dialogs.load(alice)
        assert again is not None
        assert (again.step, again.version) == ("s3", saved.version + 1)
    # Read, then erased in the same unit (the person's own erasure): gone.
    async with database.unit() as stores:
        assert await stores.events.first_time("slack", "Ev4", NOW, dialog=alice)
        assert await stores.dialogs.forget("slack", "T1", "U1") == 1
        assert await stores.dialogs.load(alice) is None
