"""Units of work, on SQLite and PostgreSQL: one transaction each."""

from __future__ import annotations

import pytest

from storage.engine import Database
from tests.contract.test_values_lens import ALICE, NOW, checkin


async def test_a_failed_unit_leaves_nothing_behind(database: Database) -> None:
    async def fail_midway() -> None:
        async with database.unit() as stores:
            await stores.checkins.add(checkin("c9", ALICE, NOW))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await fail_midway()
    async with database.unit() as stores:
        assert await stores.checkins.get("c9") is None
