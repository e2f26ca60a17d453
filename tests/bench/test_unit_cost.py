"""``bench.unit_cost``: a unit of each kind really does what it is timed for."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bench.unit_cost import KEY, KINDS, one_kind
from storage.dialog_states import DialogKey, DialogState, SqlDialogs
from storage.engine import Database
from storage.migrate import upgrade

NOW = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)


async def _events(database: Database) -> list[Any]:
    async with database.engine.connect() as connection:
        found = await connection.execute(text("SELECT platform, event_id FROM processed_events"))
        return list(found.all())


async def test_an_event_unit_writes_its_row_and_an_empty_one_writes_nothing(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'units.db'}"
    await upgrade(url)
    database = Database(url)
    try:
        assert KINDS == ("empty", "event", "event, then state", "event with state")
        await one_kind(database, "empty", 4)
        assert await _events(database) == []
        cpu = await one_kind(database, "event", 5)
        rows = await _events(database)
        assert len(rows) == 5
        assert {platform for platform, _ in rows} == {"slack"}
        assert len({event_id for _, event_id in rows}) == 5  # each unit's own event
        assert cpu > 0
        # A dialog's turn: its event's row too, and the state read (both ways) found.
        async with database.unit() as stores:
            await stores.dialogs.save(KEY, DialogState(dialog="lens", step="s1"), NOW)
        loads: list[DialogState | None] = []
        original = SqlDialogs.load

        async def load(self: SqlDialogs, key: DialogKey) -> DialogState | None:
            loads.append(await original(self, key))
            return loads[-1]

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(SqlDialogs, "load", load)
            await one_kind(database, "event, then state", 2)
            await one_kind(database, "event with state", 3)
        assert len(await _events(database)) == 10
        assert [(s.dialog, s.step) for s in loads if s is not None] == [("lens", "s1")] * 5
    finally:
        await database.dispose()
