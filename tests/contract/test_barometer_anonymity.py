"""Anonymity by construction, proved on the schema and the rows (SQLite and PostgreSQL).

No table row links a person to an answer: the tables that name people hold no answers, the
tables that hold answers name nobody and have no time and no sequential id, and nothing about
how the rows were written (PostgreSQL's transaction id ``xmin``, the physical order) singles
one person's answer out either.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from sqlalchemy import DateTime, Integer, text
from sqlalchemy.exc import OperationalError
from sqlmodel import SQLModel

from storage.barometer import AnswerOutcome
from storage.engine import Database
from tests.contract.test_barometer import NOW, a_round, people, said

ANSWER_TABLES = {"barometer_responses", "barometer_comments"}
PERSON_WORDS = ("user", "person", "actor", "member", "owner", "platform", "tenant", "name")
TIME_WORDS = ("_at", "time", "date", "when", "seen")


def test_the_schema_keeps_people_and_answers_apart() -> None:
    tables = SQLModel.metadata.tables
    for name in ANSWER_TABLES:
        table = tables[name]
        for column in table.columns:
            assert not any(w in column.name for w in PERSON_WORDS), (name, column.name)
            assert not any(w in column.name for w in TIME_WORDS), (name, column.name)
            assert not isinstance(column.type, DateTime), (name, column.name)
            assert not (column.primary_key and isinstance(column.type, Integer)), (
                name,
                column.name,
            )
            assert column.autoincrement is not True, (name, column.name)
        assert {fk.column.table.name for fk in table.foreign_keys} == {"barometer_rounds"}
        assert table.dialect_options["sqlite"]["with_rowid"] is False
    participation = tables["barometer_participation"]
    assert {c.name for c in participation.columns} == {
        "round_id",
        "platform",
        "tenant",
        "user_id",
        "answered",
    }
    assert participation.dialect_options["sqlite"]["with_rowid"] is False
    # Nothing else refers to the answer tables, and they refer to no person table.
    for table in tables.values():
        for fk in table.foreign_keys:
            assert fk.column.table.name not in ANSWER_TABLES | {"barometer_participation"}


async def _rows(database: Database, sql: str) -> list[tuple[Any, ...]]:
    async with database.engine.connect() as connection:
        return [tuple(r) for r in await connection.execute(text(sql))]


async def test_no_row_links_a_person_to_an_answer(database: Database) -> None:
    everyone = people(20)
    async with database.unit() as stores:
        await stores.barometer.open(a_round(min_group=5))
        await stores.barometer.invite("r1", everyone)
    for n, person in enumerate(everyone):
        async with database.unit() as stores:
            outcome = await stores.barometer.answer(
                "r1",
                person,
                said("yes" if n % 2 else "no", group="a", comment=f"note {n}"),
                f"hash-{n:02d}",
                5,
            )
            assert outcome is AnswerOutcome.RECORDED

    # The answer tables hold nothing that names or dates anyone.
    users = {p.user for p in everyone}
    for table in ANSWER_TABLES:
        for row in await _rows(database, f"SELECT * FROM {table}"):
            assert not users & {str(v) for v in row}
    # On SQLite there is no rowid to give away the order rows were written in.
    if database.dialect == "sqlite":
        for table in (*ANSWER_TABLES, "barometer_participation"):
            with pytest.raises(OperationalError, match="rowid"):
                await _rows(database, f"SELECT rowid FROM {table}")

    if database.dialect == "postgresql":
        await _check_transaction_ids(database)

    async with database.unit() as stores:
        await stores.barometer.close("r1", NOW)
        await stores.barometer.seal("r1", {"a"}, keep_comments=True)
    assert await _rows(database, "SELECT count(*) FROM barometer_participation") == [(0,)]
    assert await _rows(database, "SELECT DISTINCT token_hash FROM barometer_responses") == [(None,)]
    if database.dialect == "postgresql":
        # Every response and comment row was written by the one closing transaction.
        assert (
            len(await _rows(database, "SELECT DISTINCT xmin::text FROM barometer_responses")) == 1
        )
        assert len(await _rows(database, "SELECT DISTINCT xmin::text FROM barometer_comments")) == 1


async def _write_groups(database: Database, table: str) -> dict[str, set[str]]:
    """Respondents (token hashes) by the transaction that last wrote their rows."""
    groups: dict[str, set[str]] = defaultdict(set)
    for writer, token in await _rows(database, f"SELECT xmin::text, token_hash FROM {table}"):
        groups[writer].add(token)
    return groups


async def _check_transaction_ids(database: Database, minimum: int = 6) -> None:
    """On PostgreSQL every row carries the id of the transaction that last wrote it (``xmin``).
    A person's participation row and their answer are written by one transaction; so every
    group of answer rows written together must hold several people's answers (more than
    ``min_group``), whichever participant's transaction wrote it."""
    participants = await _rows(
        database, "SELECT xmin::text FROM barometer_participation WHERE answered"
    )
    for table in ANSWER_TABLES:
        groups = await _write_groups(database, table)
        assert groups, table
        assert min(len(g) for g in groups.values()) >= minimum, (table, groups)
        for (writer,) in participants:
            assert len(groups.get(writer, ())) in (0, *range(minimum, 10_000)), table


async def test_a_changed_answer_is_mixed_with_others_too(database: Database) -> None:
    everyone = people(10)
    async with database.unit() as stores:
        await stores.barometer.open(a_round(min_group=5))
        for n, person in enumerate(everyone):
            await stores.barometer.answer("r1", person, said(), f"hash-{n}", 5)
    async with database.unit() as stores:
        assert await stores.barometer.change("r1", "hash-3", said("no"), 5) is AnswerOutcome.CHANGED
    if database.dialect == "postgresql":
        groups = await _write_groups(database, "barometer_responses")
        assert min(len(g) for g in groups.values()) >= 6
    assert await _rows(database, "SELECT count(*) FROM barometer_responses") == [(20,)]
