"""The barometer's pool of answers waiting for their batch, and how batches reach the answer
tables: an answer waits sealed (``pool.AnswerKey``) until twice a batch of its kind wait, then a
batch picked at random is opened and written, in random order, with new random ids; the rest go
in at the close (README: "The anonymity guarantee"). ``SqlBarometer`` uses it; nothing else
does."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, delete, func, insert
from sqlalchemy import select as select_columns
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.barometer.pool import AnswerKey, PendingAnswer, UnreadableAnswer
from storage.barometer.tables import (
    BarometerCommentRow,
    BarometerPendingRow,
    BarometerResponseRow,
)
from storage.common import chunks

log = logging.getLogger("valuesbot.barometer")

_RANDOM = secrets.SystemRandom()
# Rows are inserted a few hundred at a time: well inside SQLite's and asyncpg's limits on the
# number of parameters of one statement.
CHUNK = 500


class MissingAnswerKey(RuntimeError):
    """An answer was to be sealed or opened by a store given no answer key."""


def batch_size(min_group: int) -> int:
    """How many answers a batch writes to the response tables at once: more than the round's
    ``min_group``, so that whoever's answer is in a batch is hidden among at least
    ``min_group`` others. The pool writes one when twice as many wait."""
    return min_group + 1


COLUMNS = {
    "barometer_responses": ("round_id", "id", "question", "value", "group_id", "token_hash"),
    "barometer_comments": ("round_id", "id", "text", "status", "token_hash", "token_mark"),
}


_POOL = BarometerPendingRow.__table__  # type: ignore[attr-defined]
# Every answer runs these two: statements built once (as ``storage.barometer.sql``'s).
_ADD = insert(_POOL)
_WAITING = (
    select_columns(func.count())
    .select_from(_POOL)
    .where(_POOL.c.round_id == bindparam("round_id"), _POOL.c.replaces == bindparam("replaces"))
)


def random_id() -> str:
    """A random id for a response or comment: it says nothing about when or by whom."""
    return secrets.token_hex(16)


class AnswerBatches:
    """The pool and the batches of one unit of work (the session of a ``SqlBarometer``);
    ``key`` gives the answer key (``MissingAnswerKey`` when the store has none)."""

    def __init__(self, session: AsyncSession, key: Callable[[], AnswerKey]) -> None:
        self.session = session
        self.key = key

    def lookups(self, token_hash: str) -> list[str]:
        """The lookups a waiting answer holding ``token_hash`` may have (a first answer, or a
        change of an answer written already)."""
        return [self.key().lookup(token_hash, replaces) for replaces in (False, True)]

    async def written(self, round_id: str, token_hash: str) -> bool:
        """True when the response tables hold an answer with this token hash."""
        found = await self.session.exec(
            select(BarometerResponseRow.id)
            .where(
                col(BarometerResponseRow.round_id) == round_id,
                col(BarometerResponseRow.token_hash) == token_hash,
            )
            .limit(1)
        )
        return found.first() is not None

    async def add(self, round_id: str, pending: PendingAnswer, replaces: bool) -> None:
        """Put an answer in the pool, sealed."""
        entry_id = random_id()
        connection = await self.session.connection()
        await connection.execute(
            _ADD,
            {
                "round_id": round_id,
                "id": entry_id,
                "lookup": self.key().lookup(pending.token_hash, replaces),
                "replaces": replaces,
                "sealed": self.key().seal(round_id, entry_id, replaces, pending),
            },
        )

    async def settle(self, round_id: str, batch: int, *, replaces: bool) -> None:
        """While twice ``batch`` answers of this kind wait, write ``batch`` of them, picked at
        random, to the response tables."""
        connection = await self.session.connection()
        counted = await connection.execute(_WAITING, {"round_id": round_id, "replaces": replaces})
        if int(counted.scalar_one()) < 2 * batch:
            return
        kind = (
            col(BarometerPendingRow.round_id) == round_id,
            col(BarometerPendingRow.replaces).is_(replaces),
        )
        # SKIP LOCKED (PostgreSQL): rows another transaction is writing in its batch, or
        # changing, are left to it; this one writes only from the rest.
        found = await self.session.exec(
            select(BarometerPendingRow.id).where(*kind).with_for_update(skip_locked=True)
        )
        free = list(found.all())
        chosen: list[str] = []
        while len(free) >= 2 * batch:
            picked = set(_RANDOM.sample(free, batch))
            chosen += picked
            free = [i for i in free if i not in picked]
        if chosen:
            await self.flush(round_id, chosen)

    async def flush(self, round_id: str, entry_ids: list[str], *, closing: bool = False) -> None:
        """Open these waiting answers and write them to the response and comment tables, in
        random order, in place of the rows of the answers they change; delete them from the
        pool. If one does not open with this key (another key sealed it: the key check at
        start-up keeps that from happening), nothing is written, so that no batch is smaller
        than it should be; when the round closes, what does not open is dropped."""
        if not entry_ids:
            return
        found = await self.session.exec(
            select(
                BarometerPendingRow.id, BarometerPendingRow.replaces, BarometerPendingRow.sealed
            ).where(
                col(BarometerPendingRow.round_id) == round_id,
                col(BarometerPendingRow.id).in_(entry_ids),
            )
        )
        opened: list[tuple[str, bool, PendingAnswer]] = []
        unreadable: list[str] = []
        for entry_id, replaces, sealed in found.all():
            try:
                opened.append(
                    (entry_id, replaces, self.key().open(round_id, entry_id, replaces, sealed))
                )
            except UnreadableAnswer:
                unreadable.append(entry_id)
        if unreadable:
            log.error(
                "barometer: %d waiting answers do not open with this instance's answer key%s",
                len(unreadable),
                " and are dropped as the round closes" if closing else "",
            )
            if not closing:
                return
        gone = [entry_id for entry_id, _, _ in opened] + unreadable
        await self.secure_delete()
        for chunk in chunks(gone, CHUNK):
            await self.session.exec(
                delete(BarometerPendingRow).where(
                    col(BarometerPendingRow.round_id) == round_id,
                    col(BarometerPendingRow.id).in_(list(chunk)),
                )
            )
        replaced = [p.token_hash for _, replaces, p in opened if replaces]
        for chunk in chunks(replaced, CHUNK):
            for table in (BarometerResponseRow, BarometerCommentRow):
                await self.session.exec(
                    delete(table).where(
                        col(table.round_id) == round_id, col(table.token_hash).in_(list(chunk))
                    )
                )
        responses: list[dict[str, Any]] = []
        comments: list[dict[str, Any]] = []
        for _, _, pending in opened:
            answer = pending.answer
            responses += [
                {
                    "round_id": round_id,
                    "id": random_id(),
                    "question": question,
                    "value": value,
                    "group_id": answer.group,
                    "token_hash": pending.token_hash,
                }
                for question, value in answer.values.items()
            ]
            if answer.comment:
                comments.append(
                    {
                        "round_id": round_id,
                        "id": random_id(),
                        "text": answer.comment,
                        "status": "pending",
                        "token_hash": pending.token_hash,
                        "token_mark": None,
                    }
                )
        await self.put(BarometerResponseRow, responses)
        await self.put(BarometerCommentRow, comments)

    async def take(
        self,
        round_id: str,
        table: type[BarometerResponseRow] | type[BarometerCommentRow],
    ) -> list[dict[str, Any]]:
        """Delete every row of the round and return them, to be written again."""
        statement = delete(table).where(col(table.round_id) == round_id)
        names = COLUMNS[table.__tablename__]
        removed = await self.session.exec(
            statement.returning(*(col(getattr(table, name)) for name in names))
        )
        return [dict(zip(names, row, strict=True)) for row in removed.all()]

    async def put(
        self,
        table: type[BarometerResponseRow] | type[BarometerCommentRow],
        rows: list[dict[str, Any]],
    ) -> None:
        """Insert rows in random order."""
        if not rows:
            return
        _RANDOM.shuffle(rows)
        for chunk in chunks(rows, CHUNK):
            await self.session.exec(insert(table), params=list(chunk))

    async def secure_delete(self) -> None:
        # SQLite keeps deleted rows' bytes in the file until the page is reused; secure_delete
        # overwrites them with zeros. (A connection setting: it stays on for this connection.)
        if self.session.bind is not None and self.session.bind.dialect.name == "sqlite":
            connection = await self.session.connection()
            await connection.exec_driver_sql("PRAGMA secure_delete = ON")
