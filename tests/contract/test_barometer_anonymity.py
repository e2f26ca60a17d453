"""Anonymity by construction, proved on the schema and the rows (SQLite and PostgreSQL).

No table row links a person to an answer: the tables that name people hold no answers, the
tables that hold answers name nobody and have no time and no sequential id, and nothing about
how the rows were written (PostgreSQL's transaction id ``xmin``, the physical order) singles
one person's answer out either. Answers wait, sealed, in ``barometer_pending`` until a batch of
more than ``min_group`` can be written together, so that two copies of the database taken around
one person's answer (daily backups, say) do not show it either.

Each test plays a reader of the database: ``a reader links`` is what such a reader can do with
one copy or with two, and the tests count what it finds. The README's "The anonymity guarantee"
names these tests for each of its claims.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import pytest
from sqlalchemy import DateTime, Integer, text
from sqlalchemy.exc import OperationalError
from sqlmodel import SQLModel

from storage.barometer import (
    ActionStatus,
    ActionTarget,
    AnswerKey,
    AnswerOutcome,
    UnreadableAnswer,
    batch_size,
)
from storage.engine import Database
from storage.people import PersonKey
from tests.conftest import ANSWER_KEY
from tests.contract.test_barometer import NOW, a_round, people, said

ANSWER_TABLES = {"barometer_responses", "barometer_comments"}
# Tables that hold what people answered, in the clear, sealed or counted: none names anyone.
WHAT_TABLES = {*ANSWER_TABLES, "barometer_pending", "barometer_counts"}
PERSON_WORDS = ("user", "person", "actor", "member", "owner", "platform", "tenant", "name")
TIME_WORDS = ("_at", "time", "date", "when", "seen")
MIN_GROUP = 5
BATCH = batch_size(MIN_GROUP)  # 6: more than min_group

Rows = dict[str, dict[tuple[Any, ...], tuple[Any, ...]]]


def test_the_schema_keeps_people_and_answers_apart() -> None:
    tables = SQLModel.metadata.tables
    for name in WHAT_TABLES:
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
            assert fk.column.table.name not in WHAT_TABLES | {"barometer_participation"}


async def _rows(database: Database, sql: str) -> list[tuple[Any, ...]]:
    async with database.engine.connect() as connection:
        return [tuple(r) for r in await connection.execute(text(sql))]


async def snapshot(database: Database) -> Rows:
    """Every row of every table, every column (and on PostgreSQL the id of the transaction that
    last wrote it): what a copy of the database holds. Rows are keyed by their primary key."""
    found: Rows = {}
    for table in SQLModel.metadata.sorted_tables:
        key = [c.name for c in table.primary_key.columns]
        names = [c.name for c in table.columns]
        columns = ", ".join(names)
        if database.dialect == "postgresql":
            columns += ", xmin::text"
        by_key = {}
        for row in await _rows(database, f"SELECT {columns} FROM {table.name}"):
            by_key[tuple(row[names.index(k)] for k in key)] = row
        found[table.name] = by_key
    return found


def answers_added(before: Rows, after: Rows) -> dict[str | None, set[tuple[Any, ...]]]:
    """The answers whose rows a reader finds in ``after`` and not in ``before`` (rows with
    ids new to the response table), by the token hash they carry."""
    added: dict[str | None, set[tuple[Any, ...]]] = defaultdict(set)
    new = after["barometer_responses"].keys() - before["barometer_responses"].keys()
    for key in new:
        _, _, question, value, group, token = after["barometer_responses"][key][:6]
        added[token].add((question, value, group))
    return added


def two_copies_link(before: Rows, after: Rows) -> bool:
    """What a reader with two copies around one person's answer does: the answer rows that
    appeared between them are that answer, if they are one answer."""
    return len(answers_added(before, after)) == 1


def one_copy_links(copy: Rows) -> int:
    """What a reader with one PostgreSQL copy does: each answered participation row carries the
    id of the transaction that wrote it; answer rows written by that same transaction are that
    person's answer, if they are one answer. How many people it links."""
    by_writer: dict[str, set[str]] = defaultdict(set)
    for table in ANSWER_TABLES:
        for row in copy[table].values():
            by_writer[row[-1]].add(row[-2])  # xmin, token hash
    return sum(
        1
        for row in copy["barometer_participation"].values()
        if row[4] and len(by_writer.get(row[-1], ())) == 1
    )


def in_the_clear(rows: Iterable[tuple[Any, ...]], secrets: Iterable[str]) -> list[Any]:
    """Columns of these rows that hold any of ``secrets`` readably."""
    found = []
    for row in rows:
        for value in row:
            for secret in secrets:
                if isinstance(value, str) and secret in value:
                    found.append(value)
                if isinstance(value, bytes) and secret.encode() in value:
                    found.append(secret)
    return found


def changed_rows(before: Rows, after: Rows, tables: Iterable[str] | None = None) -> list[Any]:
    return [
        row
        for table in tables or after
        for key, row in after[table].items()
        if before[table].get(key) != row
    ]


async def test_no_row_links_a_person_to_an_answer(database: Database) -> None:
    everyone = people(20)
    async with database.unit() as stores:
        await stores.barometer.open(a_round(min_group=MIN_GROUP))
        await stores.barometer.invite("r1", everyone)
    for n, person in enumerate(everyone):
        async with database.unit() as stores:
            outcome = await stores.barometer.answer(
                "r1",
                person,
                said("yes" if n % 2 else "no", group="a", comment=f"note {n}"),
                f"hash-{n:02d}",
            )
            assert outcome is AnswerOutcome.RECORDED

    # The answer tables hold nothing that names or dates anyone.
    users = {p.user for p in everyone}
    for table in WHAT_TABLES:
        for row in await _rows(database, f"SELECT * FROM {table}"):
            assert not users & {str(v) for v in row}
    # On SQLite there is no rowid to give away the order rows were written in.
    if database.dialect == "sqlite":
        for table in (*WHAT_TABLES, "barometer_participation"):
            with pytest.raises(OperationalError, match="rowid"):
                await _rows(database, f"SELECT rowid FROM {table}")

    if database.dialect == "postgresql":
        await _check_transaction_ids(database)

    async with database.unit() as stores:
        await stores.barometer.close("r1", NOW)
        await stores.barometer.seal("r1", {"a"}, keep_comments=True)
    assert await _rows(database, "SELECT count(*) FROM barometer_participation") == [(0,)]
    assert await _rows(database, "SELECT count(*) FROM barometer_pending") == [(0,)]
    # The round's answers are kept as counts alone: no response row, no token.
    assert await _rows(database, "SELECT count(*) FROM barometer_responses") == [(0,)]
    assert await _rows(database, "SELECT sum(n) FROM barometer_counts") == [(40,)]
    assert await _rows(database, "SELECT DISTINCT token_hash FROM barometer_comments") == [(None,)]
    if database.dialect == "postgresql":
        # Every count and comment row was written by the one closing transaction.
        assert len(await _rows(database, "SELECT DISTINCT xmin::text FROM barometer_counts")) == 1
        assert len(await _rows(database, "SELECT DISTINCT xmin::text FROM barometer_comments")) == 1


async def _write_groups(database: Database) -> dict[str, set[str]]:
    """Respondents (token hashes) by the transaction that last wrote their rows, over the
    response and comment tables together."""
    groups: dict[str, set[str]] = defaultdict(set)
    for table in ANSWER_TABLES:
        for writer, token in await _rows(database, f"SELECT xmin::text, token_hash FROM {table}"):
            groups[writer].add(token)
    return groups


async def _check_transaction_ids(database: Database) -> None:
    """On PostgreSQL every row carries the id of the transaction that last wrote it (``xmin``).
    A person's participation row is written by their answer's transaction, which may also
    write a batch; so every group of answer rows written together must hold several people's
    answers (more than ``min_group``), whichever participant's transaction wrote it."""
    participants = await _rows(
        database, "SELECT xmin::text FROM barometer_participation WHERE answered"
    )
    groups = await _write_groups(database)
    assert groups
    assert min(len(g) for g in groups.values()) >= BATCH > MIN_GROUP, groups
    for (writer,) in participants:
        assert len(groups.get(writer, ())) in (0, *range(BATCH, 10_000))


async def test_one_copy_of_the_database_links_nobody(database: Database) -> None:
    """Fourteen people answer; a reader with one copy links none of them (0 of 14)."""
    everyone = people(14)
    async with database.unit() as stores:
        await stores.barometer.open(a_round(min_group=MIN_GROUP))
        await stores.barometer.invite("r1", everyone)
    for n, person in enumerate(everyone):
        async with database.unit() as stores:
            await stores.barometer.answer("r1", person, said(comment=f"note {n}"), f"hash-{n:02d}")
    copy = await snapshot(database)
    assert len(copy["barometer_pending"]) == 14 - BATCH  # one batch went at the twelfth
    if database.dialect == "postgresql":
        assert one_copy_links(copy) == 0
    # Waiting answers cannot be read: nothing they hold is in the clear.
    assert all(isinstance(row[4], bytes) for row in copy["barometer_pending"].values())
    secrets = [f"note {n}" for n in range(14)] + [f"hash-{n:02d}" for n in range(14)]
    assert in_the_clear(copy["barometer_pending"].values(), [*secrets, '"nhs"', '"v":']) == []


async def test_two_copies_around_a_lone_answer_do_not_show_it(database: Database) -> None:
    """Fourteen people answer one at a time, with a copy of the database before and after
    each (daily backups around someone who answered alone): a reader of each pair links none
    of them (0 of 14; when every answer went straight to the response tables, 14 of 14)."""
    everyone = people(14)
    async with database.unit() as stores:
        await stores.barometer.open(a_round(min_group=MIN_GROUP))
        await stores.barometer.invite("r1", everyone)
    links = 0
    batches = []
    for n, person in enumerate(everyone):
        before = await snapshot(database)
        async with database.unit() as stores:
            comment = f"lone comment {n}"
            await stores.barometer.answer("r1", person, said("no", comment=comment), f"th-{n:02d}")
        after = await snapshot(database)
        links += two_copies_link(before, after)
        added = answers_added(before, after)
        if added:
            batches.append(len(added))
        else:
            # The answer tables did not change at all (rows, columns, writers).
            for table in ANSWER_TABLES:
                assert after[table] == before[table], table
        # Nothing that changed anywhere holds this answer readably, except in a whole batch
        # of the response tables.
        outside = [t for t in after if t not in ANSWER_TABLES]
        assert in_the_clear(changed_rows(before, after, outside), [comment, f"th-{n:02d}"]) == []
        assert (
            in_the_clear(changed_rows(before, after, ["barometer_pending"]), ['"nhs"', '"v":'])
            == []
        )
    assert links == 0
    # One batch was written (at the twelfth answer: twice a batch waited), of more than
    # min_group answers; the rest wait for the close.
    assert batches == [BATCH]
    assert all(b > MIN_GROUP for b in batches)


async def test_a_changed_answer_waits_too(database: Database) -> None:
    """A change of a waiting answer replaces it where it waits; a change of an answer written
    already waits for a batch of other changes. Two copies around either show no answer."""
    everyone = people(2 * BATCH)
    async with database.unit() as stores:
        await stores.barometer.open(a_round(min_group=MIN_GROUP))
        await stores.barometer.invite("r1", everyone)
        for n, person in enumerate(everyone):
            await stores.barometer.answer("r1", person, said(), f"hash-{n:02d}")
    written = {
        r[0] for r in await _rows(database, "SELECT DISTINCT token_hash FROM barometer_responses")
    }
    waiting = sorted({f"hash-{n:02d}" for n in range(2 * BATCH)} - written)
    assert len(written) == len(waiting) == BATCH

    # A waiting answer changed: the same pool row, sealed again; the answer tables untouched.
    before = await snapshot(database)
    async with database.unit() as stores:
        assert await stores.barometer.change("r1", waiting[0], said("no", "no")) is (
            AnswerOutcome.CHANGED
        )
    after = await snapshot(database)
    assert [t for t in after if after[t] != before[t]] == ["barometer_pending"]
    assert before["barometer_pending"].keys() == after["barometer_pending"].keys()
    assert len(changed_rows(before, after, ["barometer_pending"])) == 1

    # Answers written already, changed one at a time: each change waits, until twice a batch
    # of changes wait and a batch of them replaces its answers' rows.
    changes = []
    for n, token in enumerate(sorted(written)):
        before = await snapshot(database)
        async with database.unit() as stores:
            assert await stores.barometer.change("r1", token, said("no", "yes")) is (
                AnswerOutcome.CHANGED
            )
        after = await snapshot(database)
        assert two_copies_link(before, after) is False
        for table in ANSWER_TABLES:
            assert after[table] == before[table], (n, table)
        changes.append(len(after["barometer_pending"]) - len(before["barometer_pending"]))
    assert changes == [1] * BATCH  # six changes wait, fewer than twice a batch
    async with database.unit() as stores:
        assert await stores.barometer.pending() == 2 * BATCH
        await stores.barometer.close("r1", NOW)
        tally = await stores.barometer.tally("r1")
    # The closing wrote every waiting answer and change: each person counted once, as they
    # last answered.
    assert tally.counts == {
        ("nhs", None, "no"): BATCH + 1,
        ("nhs", None, "yes"): BATCH - 1,
        ("org", None, "no"): 1,
        ("org", None, "yes"): 2 * BATCH - 1,
    }
    assert await _rows(database, "SELECT count(*) FROM barometer_pending") == [(0,)]


async def test_changes_of_written_answers_go_in_by_batches(database: Database) -> None:
    everyone = people(4 * BATCH)
    async with database.unit() as stores:
        await stores.barometer.open(a_round(min_group=MIN_GROUP))
        for n, person in enumerate(everyone):
            await stores.barometer.answer("r1", person, said(), f"hash-{n:02d}")
    written = sorted(
        r[0] for r in await _rows(database, "SELECT DISTINCT token_hash FROM barometer_responses")
    )
    assert len(written) == 3 * BATCH
    batches = []
    for token in written[: 2 * BATCH]:
        before = await snapshot(database)
        async with database.unit() as stores:
            await stores.barometer.change("r1", token, said("no", "no", comment=f"now {token}"))
        after = await snapshot(database)
        gone = before["barometer_responses"].keys() - after["barometer_responses"].keys()
        if gone:
            # A batch of changes: the rows of more than min_group answers go, and as many come.
            assert len({before["barometer_responses"][k][5] for k in gone}) == BATCH
            batches.append(len(answers_added(before, after)))
        else:
            assert after["barometer_responses"] == before["barometer_responses"]
    assert batches == [BATCH]
    async with database.unit() as stores:
        await stores.barometer.close("r1", NOW)
        tally = await stores.barometer.tally("r1")
        comments = await stores.barometer.comments("r1")
    assert tally.respondents == 4 * BATCH
    assert tally.counts[("nhs", None, "no")] == 2 * BATCH
    assert sorted(c.text for c in comments) == sorted(f"now {t}" for t in written[: 2 * BATCH])


async def test_closing_writes_what_waits_then_seals(database: Database) -> None:
    everyone = people(9)
    async with database.unit() as stores:
        await stores.barometer.open(a_round(min_group=MIN_GROUP))
        await stores.barometer.invite("r1", everyone)
        for n, person in enumerate(everyone):
            await stores.barometer.answer("r1", person, said(group="a"), f"hash-{n}")
        assert (await stores.barometer.tally("r1")).counts == {}  # nothing written yet
    async with database.unit() as stores:
        closed = await stores.barometer.close("r1", NOW)
        assert closed is not None
        assert (closed.invited, closed.answered) == (9, 9)
        assert (await stores.barometer.tally("r1")).respondents == 9
        await stores.barometer.seal("r1", {"a"}, keep_comments=False)
        assert await stores.barometer.pending() == 0
    assert await _rows(database, "SELECT count(*) FROM barometer_responses") == [(0,)]
    assert await _rows(
        database, "SELECT question, value, group_id, n FROM barometer_counts ORDER BY 1"
    ) == [("nhs", "yes", "a", 9), ("org", "yes", "a", 9)]


async def test_a_round_below_the_minimum_keeps_only_its_counts(database: Database) -> None:
    async with database.unit() as stores:
        await stores.barometer.open(a_round(min_group=MIN_GROUP))
        for n, person in enumerate(people(4)):
            await stores.barometer.answer("r1", person, said(comment="few"), f"hash-{n}")
        await stores.barometer.close("r1", NOW)
        await stores.barometer.seal("r1", set(), keep_comments=False, keep_answers=False)
        closed = await stores.barometer.get("r1")
        assert closed is not None
        assert closed.answered == 4
    for table in (*WHAT_TABLES, "barometer_participation"):
        assert await _rows(database, f"SELECT count(*) FROM {table}") == [(0,)], table


async def test_another_key_cannot_read_the_waiting_answers(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    async with database.unit() as stores:
        await stores.barometer.open(a_round(min_group=MIN_GROUP))
        for n, person in enumerate(people(3)):
            await stores.barometer.answer("r1", person, said(comment=f"c{n}"), f"hash-{n}")
    stored = await _rows(database, "SELECT round_id, id, replaces, sealed FROM barometer_pending")
    assert len(stored) == 3
    right = AnswerKey.from_text(ANSWER_KEY)
    other = AnswerKey.from_text("another-key-0123456789-0123456789-abcdef")
    for round_id, entry_id, replaces, sealed in stored:
        assert right.open(round_id, entry_id, replaces, bytes(sealed)).answer.comment
        with pytest.raises(UnreadableAnswer):
            other.open(round_id, entry_id, replaces, bytes(sealed))

    # A store with the other key finds nothing it can change, and a close drops what it
    # cannot read (and says so, with the count only).
    elsewhere = Database(database.url, answer_key=other)
    try:
        async with elsewhere.unit() as stores:
            assert not await stores.barometer.holds("r1", "hash-0")
            assert await stores.barometer.change("r1", "hash-0", said()) is AnswerOutcome.UNKNOWN
            with caplog.at_level(logging.ERROR, logger="valuesbot.barometer"):
                await stores.barometer.close("r1", NOW)
            assert (await stores.barometer.tally("r1")).counts == {}
            assert await stores.barometer.pending() == 0
    finally:
        await elsewhere.dispose()
    assert [r.getMessage() for r in caplog.records] == [
        "barometer: 3 waiting answers do not open with this instance's answer key and are "
        "dropped as the round closes"
    ]


async def test_the_person_who_set_a_batch_off_is_hidden_in_it(database: Database) -> None:
    """On PostgreSQL a batch's rows carry the transaction id of the answer that set it off, as
    that person's participation row does: the batch holds more than min_group answers."""
    if database.dialect != "postgresql":
        pytest.skip("transaction ids are PostgreSQL's")
    everyone = people(2 * BATCH)
    async with database.unit() as stores:
        await stores.barometer.open(a_round(min_group=MIN_GROUP))
        await stores.barometer.invite("r1", everyone)
    for n, person in enumerate(everyone):
        async with database.unit() as stores:
            await stores.barometer.answer("r1", person, said(), f"hash-{n:02d}")
    copy = await snapshot(database)
    last: PersonKey = everyone[-1]
    ((writer,),) = await _rows(
        database,
        f"SELECT xmin::text FROM barometer_participation WHERE user_id = '{last.user}'",
    )
    batch = {row[5] for row in copy["barometer_responses"].values() if row[-1] == writer}
    assert len(batch) == BATCH
    assert one_copy_links(copy) == 0


# You said, we did: responses, themes and actions after the close.

FOLLOW_UP_TABLES = {
    "barometer_replies",
    "barometer_reply_comments",
    "barometer_actions",
    "barometer_action_changes",
    "barometer_action_links",
}


def test_responses_and_actions_name_nobody() -> None:
    """The tables of responses and actions have no column for a person (an action's owner is
    a team the comms team names) and refer to no table that names one."""
    tables = SQLModel.metadata.tables
    for name in FOLLOW_UP_TABLES:
        for column in tables[name].columns:
            words = [w for w in PERSON_WORDS if w in column.name]
            assert words in ([], ["owner"]), (name, column.name)
        assert {fk.column.table.name for fk in tables[name].foreign_keys} <= {
            "barometer_rounds",
            "barometer_replies",
            "barometer_actions",
        }
    # A closed round's comment keeps a keyed mark of its author's token, no person, no time.
    comments = tables["barometer_comments"]
    assert {c.name for c in comments.columns} == {
        "round_id",
        "id",
        "text",
        "status",
        "token_hash",
        "token_mark",
    }


async def test_after_responses_and_actions_no_table_links_a_person_to_a_comment(
    database: Database,
) -> None:
    everyone = people(14)
    tokens = [f"{n:02d}" * 32 for n in range(14)]  # what the cards' token hashes look like
    async with database.unit() as stores:
        await stores.barometer.open(a_round(min_group=MIN_GROUP))
        await stores.barometer.invite("r1", everyone)
    for n, (person, token) in enumerate(zip(everyone, tokens, strict=True)):
        async with database.unit() as stores:
            await stores.barometer.answer("r1", person, said(comment=f"remark {n}"), token)
    async with database.unit() as stores:
        await stores.barometer.close("r1", NOW)
        await stores.barometer.seal("r1", set(), keep_comments=True)
        comments = await stores.barometer.comments("r1")
        for comment in comments:
            await stores.barometer.moderate("r1", comment.id, "approved")
        one = await stores.follow_up.add_reply("r1", "On the first", NOW)
        theme = await stores.follow_up.add_reply("r1", "On workload", NOW, "Workload")
        assert one is not None
        assert theme is not None
        await stores.follow_up.attach("r1", one.id, [comments[0].id])
        await stores.follow_up.attach("r1", theme.id, [c.id for c in comments[1:4]])
        action = await stores.follow_up.add_action(
            title="Fewer meetings",
            owner="Operations team",
            due=None,
            status=ActionStatus.PLANNED,
            answers=[ActionTarget(round_id="r1", reply_id=theme.id)],
            now=NOW,
        )
        await stores.follow_up.set_action_status(action.id, ActionStatus.DONE, NOW)
    copy = await snapshot(database)

    # Nothing left names a person who answered: participation went with the close.
    users = {p.user for p in everyone}
    assert [
        t for t, rows in copy.items() for row in rows.values() if users & set(map(str, row))
    ] == []
    # The comments keep no token hash, only the author's mark; nothing else holds a mark, and
    # a mark is none of the values a reader could make from the token hash without the key.
    marks = {row[5] for row in copy["barometer_comments"].values()}
    assert None not in marks
    assert len(marks) == 14
    assert {row[4] for row in copy["barometer_comments"].values()} == {None}
    elsewhere = [t for t in copy if t != "barometer_comments"]
    assert in_the_clear((r for t in elsewhere for r in copy[t].values()), marks) == []
    assert in_the_clear((r for t in copy for r in copy[t].values()), tokens) == []
    without_key = {
        *(hashlib.sha256(t.encode()).hexdigest() for t in tokens),
        *(hmac.new(b"", t.encode(), hashlib.sha256).hexdigest() for t in tokens),
    }
    assert marks.isdisjoint(without_key)
    # With the token hash (from the author's own message) and the key, one comment is found.
    key = AnswerKey.from_text(ANSWER_KEY)
    by_mark = {row[5]: row[2] for row in copy["barometer_comments"].values()}
    assert [by_mark.get(key.author_mark(t)) for t in tokens] == [f"remark {n}" for n in range(14)]
    # The marks are not the pool's lookups either (another label, another key).
    assert marks.isdisjoint({key.lookup(t, r) for t in tokens for r in (False, True)})
    if database.dialect == "postgresql":
        # Every comment row was written by the one closing transaction.
        assert len({row[-1] for row in copy["barometer_comments"].values()}) == 1
