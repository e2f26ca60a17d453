"""The migrations build exactly the tables the code declares, on SQLite and PostgreSQL, and
move the rows that a change of tables moves."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, make_url, text
from sqlmodel import SQLModel

from storage import migrate
from storage.engine import Database, make_engine
from storage.schema import include_name
from tests.conftest import ANSWER_KEY, PG_URL, create_pg_database, drop_pg_database


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


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database no migration has run on yet."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'new.db'}"
        return
    name = f"valuesbot_migration_{secrets.token_hex(4)}"
    await create_pg_database(name)
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        await drop_pg_database(name)


async def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            return [tuple(r) for r in await connection.execute(text(sql))]
    finally:
        await engine.dispose()


async def _run(url: str, *statements: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            for statement in statements:
                await connection.execute(text(statement))
    finally:
        await engine.dispose()


def _round(round_id: str, status: str) -> str:
    questions = ", ".join(
        f'{{"id": "{q}", "text": "{q}?", "short": "{q}"}}' for q in ("nhs", "org")
    )
    return (
        "INSERT INTO barometer_rounds (id, period, status, opened_at, closes_at, min_group, "
        f"comment_min, definition, invited, answered, reminders_sent) VALUES ('{round_id}', "
        f"'p-{round_id}', '{status}', '2026-11-02 09:00:00', '2026-11-16 09:00:00', 5, 10, "
        f"'{{\"questions\": [{questions}]}}', 0, 0, 0)"
    )


def _response(round_id: str, n: int, question: str, value: str, group: str | None) -> str:
    token = "NULL" if round_id == "closed" else f"'hash-{n}'"
    group_sql = "NULL" if group is None else f"'{group}'"
    return (
        "INSERT INTO barometer_responses (round_id, id, question, value, group_id, token_hash) "
        f"VALUES ('{round_id}', '{round_id}-{question}-{n}', '{question}', '{value}', "
        f"{group_sql}, {token})"
    )


async def test_sealed_rounds_keep_their_counts_instead_of_their_rows(empty_url: str) -> None:
    """Migration 0020: a closed round's response rows become its counts; an open round's
    rows stay as they are; downgrading writes the rows again from the counts."""
    await migrate.upgrade(empty_url, "0019")
    answers = [("nhs", "yes", "a")] * 3 + [("nhs", "no", None)] * 2 + [("org", "yes", None)] * 5
    await _run(
        empty_url,
        _round("closed", "closed"),
        _round("open", "open"),
        *(_response("closed", n, *answer) for n, answer in enumerate(answers)),
        _response("open", 0, "nhs", "yes", "a"),
        _response("open", 1, "org", "no", None),
    )

    await migrate.upgrade(empty_url)

    counts = await _rows(
        empty_url,
        "SELECT round_id, question, value, group_id, n FROM barometer_counts ORDER BY 2, 3",
    )
    assert counts == [
        ("closed", "nhs", "no", None, 2),
        ("closed", "nhs", "yes", "a", 3),
        ("closed", "org", "yes", None, 5),
    ]
    assert await _rows(
        empty_url, "SELECT round_id, question, token_hash FROM barometer_responses ORDER BY 2"
    ) == [("open", "nhs", "hash-0"), ("open", "org", "hash-1")]
    database = Database(empty_url, answer_key=ANSWER_KEY)
    try:
        async with database.unit() as stores:
            tally = await stores.barometer.tally("closed")
    finally:
        await database.dispose()
    assert tally.respondents == 5
    assert tally.counts == {
        ("nhs", "a", "yes"): 3,
        ("nhs", None, "no"): 2,
        ("org", None, "yes"): 5,
    }

    await migrate.downgrade(empty_url, "0019")

    assert await _rows(
        empty_url,
        "SELECT question, value, group_id, count(*), count(token_hash) FROM barometer_responses "
        "WHERE round_id = 'closed' GROUP BY question, value, group_id ORDER BY 1, 2",
    ) == [("nhs", "no", None, 2, 0), ("nhs", "yes", "a", 3, 0), ("org", "yes", None, 5, 0)]
    assert await _rows(
        empty_url, "SELECT count(DISTINCT id) FROM barometer_responses WHERE round_id = 'closed'"
    ) == [(10,)]
