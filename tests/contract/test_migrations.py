"""The migrations build exactly the tables the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection
from sqlmodel import SQLModel

from storage import migrate
from storage.engine import Database
from storage.schema import include_name


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_name": include_name}
    )
    return list(compare_metadata(context, SQLModel.metadata))


async def test_migrated_schema_matches_the_tables(database: Database) -> None:
    async with database.engine.connect() as connection:
        differences = await connection.run_sync(_differences)
    assert differences == []


async def test_database_is_at_head_and_upgrade_is_idempotent(database: Database) -> None:
    assert await migrate.current(database.url) == migrate.heads()
    await migrate.upgrade(database.url)
    await migrate.ensure_current(database.url)
