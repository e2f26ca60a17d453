"""Shared fixtures: databases (SQLite and PostgreSQL), settings, a controlled clock, the harness.

PostgreSQL tests use a database of their own, created for the test session on the server named by
``VALUESBOT_TEST_PG_URL`` (default: the local CI server) and dropped afterwards, so parallel runs
never meet. If the server is down the PostgreSQL tests fail, loudly: they must run in CI. Set
``VALUESBOT_TEST_SKIP_PG=1`` to skip them on a machine without PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from bot.app import App, build_app
from bot.clock import ManualClock
from bot.settings import Settings
from storage import migrate
from storage.barometer import AnswerKey
from storage.engine import Database
from tests.harness import Harness

PG_URL = os.environ.get(
    "VALUESBOT_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
SKIP_PG = os.environ.get("VALUESBOT_TEST_SKIP_PG") == "1"
# The key of the barometer's waiting answers, for every test's settings and databases.
ANSWER_KEY = "test-answer-key-0123456789-abcdefghijklmnop"

# A Monday morning in London, in winter (GMT).
START = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)


def _plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def create_pg_database(name: str) -> None:
    connection = await asyncpg.connect(_plain(PG_URL), timeout=10)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def drop_pg_database(name: str) -> None:
    connection = await asyncpg.connect(_plain(PG_URL), timeout=10)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@pytest.fixture(autouse=True)
def logging_as_it_was() -> Iterator[None]:
    """Put logging back as it was after each test: a test that runs the CLI in this process
    (``bot.cli.main`` calls ``bot.logs.configure``) would otherwise leave the bot's loggers at
    WARNING, and later tests that read INFO lines would see none."""
    root, own = logging.getLogger(), logging.getLogger("valuesbot")
    handlers, levels = list(root.handlers), (root.level, own.level)
    yield
    root.handlers[:] = handlers
    root.setLevel(levels[0])
    own.setLevel(levels[1])


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A migrated PostgreSQL database of this test session's own."""
    if SKIP_PG:
        pytest.skip("VALUESBOT_TEST_SKIP_PG=1")
    name = f"valuesbot_test_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        asyncio.run(create_pg_database(name))
    except (OSError, asyncpg.PostgresError) as error:
        pytest.fail(
            f"PostgreSQL at {PG_URL} is not reachable ({error}). Start it with "
            "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, or set "
            "VALUESBOT_TEST_SKIP_PG=1 to skip these tests on this machine."
        )
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    asyncio.run(migrate.upgrade(url))
    yield url
    asyncio.run(drop_pg_database(name))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once is faster)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    asyncio.run(migrate.upgrade(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A migrated SQLite database of this test's own."""
    path = tmp_path / "valuesbot.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


async def _empty(database: Database) -> None:
    tables = ", ".join(t.name for t in SQLModel.metadata.sorted_tables)
    async with database.engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each store test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """An empty, migrated database (SQLite or PostgreSQL)."""
    db = Database(database_url, answer_key=AnswerKey.from_text(ANSWER_KEY))
    if db.dialect == "postgresql":
        await _empty(db)
    yield db
    await db.dispose()


@pytest.fixture
def clock() -> ManualClock:
    """A clock that moves only when a test moves it."""
    return ManualClock(START)


def make_settings(database_url: str, **extra: str) -> Settings:
    """Settings for tests: the given database, a fixed pseudonymisation secret and answer
    key."""
    return Settings.from_env(
        {
            "DATABASE_URL": database_url,
            "VALUESBOT_PSEUDONYM_SECRET": "test-secret-0123456789",
            "VALUESBOT_ANSWER_KEY": ANSWER_KEY,
            **extra,
        }
    )


@pytest.fixture
async def app(sqlite_url: str, clock: ManualClock) -> AsyncIterator[App]:
    """A valuesbot on its own SQLite database and the controlled clock."""
    built = await build_app(
        make_settings(
            sqlite_url,
            VALUESBOT_ADMINS="console:admin",
            VALUESBOT_COMMS="console:carol,slack:carol",
            VALUESBOT_VALUES_CHANNEL="console:values,slack:values",
        ),
        clock=clock,
        prepare=False,
    )
    yield built
    await built.close()


@pytest.fixture
def harness(app: App) -> Harness:
    """People talking to the bot, with every card they see recorded."""
    return Harness(app)


@contextmanager
def statements_run(database: Database) -> Iterator[list[str]]:
    """The SQL statements ``database`` runs inside the block, whitespace folded (a test that
    counts them keeps per-message statements from coming back unnoticed)."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(" ".join(statement.split()))

    engines = [e.sync_engine for e in database.engines()]
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)
