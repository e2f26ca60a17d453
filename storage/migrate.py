"""Schema migrations (Alembic), run from the CLI or at start-up.

SQLite databases are brought up to date automatically when the bot starts (an embedded file
belongs to one installation); a PostgreSQL database is migrated with ``valuesbot db upgrade`` and
the bot refuses to start on an out-of-date schema, naming the command to run.
"""

from __future__ import annotations

import functools
from enum import StrEnum
from importlib import resources
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.engine import make_engine


class SchemaOutOfDate(Exception):
    """The database schema is older (or newer) than this version of valuesbot expects."""


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("storage") / "migrations"))
    config.attributes["connection"] = connection
    return config


@functools.cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def heads() -> set[str]:
    """The revisions this version of valuesbot expects."""
    return set(_scripts().get_heads())


class SchemaState(StrEnum):
    """Where a database's schema stands against this version of valuesbot."""

    CURRENT = "current"
    """At the revisions this version expects."""
    BEHIND = "behind"
    """Missing migrations of this version (or none applied): run ``valuesbot db upgrade``."""
    AHEAD = "ahead"
    """At a revision this version does not know: a newer release migrated it (during a rolling
    update, the instances of the release before keep serving until they are replaced)."""


def compare(at: set[str]) -> SchemaState:
    """Where a database at the revisions ``at`` stands."""
    if at == heads():
        return SchemaState.CURRENT
    for revision in at:
        try:
            known = _scripts().get_revision(revision) is not None
        except CommandError:
            known = False
        if not known:
            return SchemaState.AHEAD
    return SchemaState.BEHIND


async def schema_state(engine: AsyncEngine) -> SchemaState:
    """Where the schema of the database behind ``engine`` stands."""

    def read(connection: Connection) -> set[str]:
        return set(MigrationContext.configure(connection).get_current_heads())

    async with engine.connect() as connection:
        return compare(await connection.run_sync(read))


async def upgrade(database_url: str, revision: str = "head") -> None:
    """Apply every migration up to ``revision``."""
    await _run(database_url, lambda c: command.upgrade(_config(c), revision))


async def downgrade(database_url: str, revision: str) -> None:
    """Undo the migrations after ``revision``."""
    await _run(database_url, lambda c: command.downgrade(_config(c), revision))


async def current(database_url: str) -> set[str]:
    """The revisions the database is at (empty for a new database)."""
    found: set[str] = set()

    def read(connection: Connection) -> None:
        found.update(MigrationContext.configure(connection).get_current_heads())

    await _run(database_url, read)
    return found


async def ensure_current(database_url: str) -> None:
    """Raise ``SchemaOutOfDate`` unless the database is at the expected revision."""
    at = await current(database_url)
    expected = heads()
    if at != expected:
        raise SchemaOutOfDate(
            f"the database schema is at {sorted(at) or 'nothing'}, valuesbot expects "
            f"{sorted(expected)}: run `valuesbot db upgrade`"
        )


async def revision(database_url: str, message: str) -> None:
    """Write a new migration from the difference between the tables and the database."""
    await _run(
        database_url, lambda c: command.revision(_config(c), message=message, autogenerate=True)
    )


async def _run(database_url: str, work: Any) -> None:
    engine = make_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(work)
    finally:
        await engine.dispose()
