"""The dialog state store's contract, on SQLite and PostgreSQL (the ``database`` fixture)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from storage.common import ConcurrentUpdate
from storage.dialog_states import DialogKey, DialogState
from storage.engine import Database

NOW = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
KEY = DialogKey("slack", "T1", "D1", "U1")


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


async def test_a_persons_dialogs_are_listed_erased_and_old_ones_dropped(
    database: Database,
) -> None:
    from datetime import timedelta

    elsewhere = DialogKey("slack", "T1", "C9", "U1")
    bob = DialogKey("slack", "T1", "D2", "U2")
    async with database.unit() as stores:
        await stores.dialogs.save(KEY, DialogState(dialog="lens", step="work"), NOW)
        await stores.dialogs.save(elsewhere, DialogState(dialog="commitment", step="text"), NOW)
        await stores.dialogs.save(
            bob, DialogState(dialog="lens", step="work"), NOW + timedelta(days=31)
        )
    async with database.unit() as stores:
        mine = await stores.dialogs.for_person("slack", "T1", "U1")
        assert sorted(s.dialog for s in mine) == ["commitment", "lens"]
        assert await stores.dialogs.forget("slack", "T1", "U1") == 2
        assert await stores.dialogs.load(KEY) is None
        assert await stores.dialogs.forget_before(NOW + timedelta(days=31)) == 0
        assert await stores.dialogs.forget_before(NOW + timedelta(days=32)) == 1
