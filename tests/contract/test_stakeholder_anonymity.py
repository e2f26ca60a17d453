"""Stakeholder answers are anonymous by construction, like the barometer's (SQLite and
PostgreSQL): a reader of the database, with one copy or with two taken around one answer, cannot
tie an answer to the link that gave it, and so to the partner it was sent to.

What such a reader can learn (the README's "The anonymity guarantee" names these tests):

- while the round is open, that a link was used (``stakeholder_links.used``) and that one sealed
  answer was added (``stakeholder_pending``, unreadable without the answer key, which the
  database does not hold, and padded to one size); nothing of the answer itself;
- once it has closed, every answer at once, in random order, with random ids, no time, no
  link; the links no longer say which were used; on PostgreSQL every answer row carries the
  closing transaction's id, the same for all.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import DateTime, Integer
from sqlalchemy.exc import OperationalError
from sqlmodel import SQLModel

from storage.engine import Database
from tests.contract.test_barometer_anonymity import (
    PERSON_WORDS,
    TIME_WORDS,
    Rows,
    _rows,
    changed_rows,
    in_the_clear,
    snapshot,
)
from tests.contract.test_scorecard import NOW, a_round, hashes, said

ANSWER_TABLES = {"stakeholder_responses", "stakeholder_comments"}
WHAT_TABLES = {*ANSWER_TABLES, "stakeholder_pending"}
LINK_WORDS = ("token", "link", "hash")


def test_the_schema_keeps_links_and_answers_apart() -> None:
    tables = SQLModel.metadata.tables
    for name in WHAT_TABLES:
        table = tables[name]
        for column in table.columns:
            assert not any(w in column.name for w in (*PERSON_WORDS, *LINK_WORDS)), column
            assert not any(w in column.name for w in TIME_WORDS), (name, column.name)
            assert not isinstance(column.type, DateTime), (name, column.name)
            assert not (column.primary_key and isinstance(column.type, Integer)), column
        assert {fk.column.table.name for fk in table.foreign_keys} == {"stakeholder_rounds"}
        assert table.dialect_options["sqlite"]["with_rowid"] is False
    links = tables["stakeholder_links"]
    # A link keeps its token's hash, its round and whether it was used: not when.
    assert {c.name for c in links.columns} == {"token_hash", "round_id", "used"}
    assert links.dialect_options["sqlite"]["with_rowid"] is False
    for table in tables.values():
        for fk in table.foreign_keys:
            assert fk.column.table.name not in WHAT_TABLES | {"stakeholder_links"}


def _added(before: Rows, after: Rows, table: str) -> list[tuple[Any, ...]]:
    return [row for key, row in after[table].items() if key not in before[table]]


async def test_two_copies_around_one_answer_show_a_link_used_and_nothing_of_the_answer(
    database: Database,
) -> None:
    links = hashes(12)
    async with database.unit() as stores:
        await stores.scorecard.open_round(a_round(), links)
    for n, link in enumerate(links[:5]):
        async with database.unit() as stores:
            await stores.scorecard.answer(link, said(group="lg", comment=f"n{n}"), NOW)
    before = await snapshot(database)
    async with database.unit() as stores:
        await stores.scorecard.answer(
            links[5], said("no", "no", group="provider", comment="A secret remark"), NOW
        )
    after = await snapshot(database)

    # What changed: the link, now used, and one sealed row; no answer table.
    changed = {
        table
        for table in after
        for key, row in after[table].items()
        if before[table].get(key) != row
    }
    assert changed == {"stakeholder_links", "stakeholder_pending"}
    assert [r[:3] for r in changed_rows(before, after, ["stakeholder_links"])] == [
        (links[5], "s1", True)
    ]
    (sealed_row,) = _added(before, after, "stakeholder_pending")
    # (Answers' own ids are too short to look for in random bytes: the comment, the group and
    # the link's hash are not.)
    assert in_the_clear([sealed_row], ["A secret remark", "provider", links[5]]) == []
    # Every sealed answer is the same size, whatever its comment.
    sizes = {len(row[2]) for row in after["stakeholder_pending"].values()}
    assert len(sizes) == 1
    for table in ANSWER_TABLES:
        assert after[table] == {}


async def test_once_closed_no_row_ties_an_answer_to_a_link(database: Database) -> None:
    links = hashes(20)
    async with database.unit() as stores:
        await stores.scorecard.open_round(a_round(), links)
    for n, link in enumerate(links[:12]):
        async with database.unit() as stores:
            await stores.scorecard.answer(
                link, said("yes" if n % 2 else "no", group="provider", comment=f"note {n}"), NOW
            )
    if database.dialect == "sqlite":
        for table in (*WHAT_TABLES, "stakeholder_links"):
            with pytest.raises(OperationalError, match="rowid"):
                await _rows(database, f"SELECT rowid FROM {table}")
    before = await snapshot(database)
    async with database.unit() as stores:
        await stores.scorecard.close_round("s1", NOW)
        await stores.scorecard.seal("s1", {"provider"}, keep_comments=True)
    after = await snapshot(database)

    # All the answers appear at once: two copies around the close see twelve, not one.
    assert len(_added(before, after, "stakeholder_responses")) == 24
    assert len(_added(before, after, "stakeholder_comments")) == 12
    assert await _rows(database, "SELECT count(*) FROM stakeholder_pending") == [(0,)]
    # The links no longer say which were used.
    assert await _rows(database, "SELECT DISTINCT used FROM stakeholder_links") == [(False,)]
    if database.dialect == "postgresql":
        # Every answer row and every link row was last written by the closing transaction.
        writers = set()
        for table in (*ANSWER_TABLES, "stakeholder_links"):
            writers |= {r[0] for r in await _rows(database, f"SELECT xmin::text FROM {table}")}
        assert len(writers) == 1
