"""``bench.unit_cost``: a unit of each kind really does what it is timed for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.unit_cost import KINDS, one_kind
from storage.engine import Database
from storage.migrate import upgrade


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
        assert KINDS == ("empty", "event")
        await one_kind(database, "empty", 4)
        assert await _events(database) == []
        cpu = await one_kind(database, "event", 5)
        rows = await _events(database)
        assert len(rows) == 5
        assert {platform for platform, _ in rows} == {"slack"}
        assert len({event_id for _, event_id in rows}) == 5  # each unit's own event
        assert cpu > 0
    finally:
        await database.dispose()
