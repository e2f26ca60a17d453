"""PostgreSQL connections are pinged before use only when they have been idle: a connection
the server dropped meanwhile is replaced without the unit noticing, and a busy process pays no
round trips for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import make_url, text
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection

import storage.engine
from storage.engine import Database, DatabaseUnavailable

pytestmark = pytest.mark.postgres


@pytest.fixture
async def database(pg_url: str) -> AsyncIterator[Database]:
    found = Database(pg_url, pool_size=1, max_overflow=0)
    yield found
    await found.dispose()


@pytest.fixture
def pings(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every ping a pooled connection is sent (the number is the count so far)."""
    sent: list[int] = []
    ping = AsyncAdapt_asyncpg_connection.ping

    def counted(self: Any) -> None:
        sent.append(len(sent) + 1)
        ping(self)

    monkeypatch.setattr(AsyncAdapt_asyncpg_connection, "ping", counted)
    return sent


async def backend(database: Database) -> int:
    async with database.unit() as stores:
        found = await stores.session.exec(text("SELECT pg_backend_pid()"))  # type: ignore[call-overload]
        return int(found.scalar_one())


async def terminate(pg_url: str, pid: int) -> None:
    plain = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(plain)
    try:
        assert await connection.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await connection.close()


async def test_a_connection_used_a_moment_ago_is_not_pinged(
    database: Database, pings: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await backend(database)
    for _ in range(5):
        assert await backend(database) == first
    assert pings == []
    monkeypatch.setattr(storage.engine, "PING_AFTER_IDLE", 0.0)
    assert await backend(database) == first
    assert pings == [1]


async def test_an_idle_connection_the_server_dropped_is_replaced_unnoticed(
    database: Database, pg_url: str, pings: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await backend(database)
    await terminate(pg_url, first)
    monkeypatch.setattr(storage.engine, "PING_AFTER_IDLE", 0.0)
    second = await backend(database)
    assert second != first
    assert pings == [1]
    assert database.available


async def test_a_busy_connection_the_server_dropped_fails_one_unit_then_is_replaced(
    database: Database, pg_url: str, pings: list[int]
) -> None:
    first = await backend(database)
    await terminate(pg_url, first)
    with pytest.raises(DatabaseUnavailable):
        await backend(database)
    assert await database.wait_available(10)
    assert await backend(database) != first
    assert pings == []
