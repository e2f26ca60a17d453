"""The staff barometer on SQLAlchemy."""

from __future__ import annotations

import secrets
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import String, case, delete, func, insert, literal, literal_column, null, update
from sqlalchemy import select as select_columns
from sqlalchemy.sql.expression import ColumnClause
from sqlmodel import col, select

from storage.barometer.records import (
    AnswerOutcome,
    BarometerAnswer,
    BarometerComment,
    BarometerRound,
    BarometerTally,
    RoundGroup,
    RoundQuestion,
    RoundScalePoint,
)
from storage.barometer.tables import (
    BarometerCommentRow,
    BarometerParticipationRow,
    BarometerResponseRow,
    BarometerRoundRow,
)
from storage.common import SqlStore, chunks, conflict_insert, rowcount
from storage.people import PersonKey

_RANDOM = secrets.SystemRandom()
# Rows are inserted a few hundred at a time: well inside SQLite's and asyncpg's limits on the
# number of parameters of one statement.
_CHUNK = 500


def _writer() -> ColumnClause[str]:
    """PostgreSQL's id of the transaction that last wrote a row (a system column of every
    table), as text."""
    return literal_column("xmin::text", String)


_COLUMNS = {
    "barometer_responses": ("round_id", "id", "question", "value", "group_id", "token_hash"),
    "barometer_comments": ("round_id", "id", "text", "status", "token_hash"),
}


def _random_id() -> str:
    """A random id for a response or comment: it says nothing about when or by whom."""
    return secrets.token_hex(16)


def _definition(round_: BarometerRound) -> dict[str, Any]:
    return {
        "questions": [{"id": q.id, "text": q.text, "short": q.short} for q in round_.questions],
        "scale": [{"id": p.id, "label": p.label, "agree": p.agree} for p in round_.scale],
        "groups": [{"id": g.id, "label": g.label} for g in round_.groups],
        "asks_comment": round_.asks_comment,
        "channels": list(round_.channels),
        "others_may_answer": round_.others_may_answer,
    }


def _round(row: BarometerRoundRow) -> BarometerRound:
    definition = row.definition
    return BarometerRound(
        id=row.id,
        period=row.period,
        status=row.status,
        opened_at=row.opened_at,
        closes_at=row.closes_at,
        closed_at=row.closed_at,
        min_group=row.min_group,
        comment_min=row.comment_min,
        questions=tuple(RoundQuestion(**q) for q in definition.get("questions", [])),
        scale=tuple(RoundScalePoint(**p) for p in definition.get("scale", [])),
        groups=tuple(RoundGroup(**g) for g in definition.get("groups", [])),
        asks_comment=bool(definition.get("asks_comment", True)),
        channels=tuple(definition.get("channels", ())),
        # Rounds opened before the rule was kept took answers from anyone.
        others_may_answer=bool(definition.get("others_may_answer", True)),
        invited=row.invited,
        answered=row.answered,
        reminders_sent=row.reminders_sent,
    )


class SqlBarometer(SqlStore):
    """The barometer in ``barometer_rounds``, ``barometer_participation`` (who),
    ``barometer_responses`` and ``barometer_comments`` (what).

    No statement here ever reads or writes a person and an answer together. Answers are written
    in the same transaction as the participation row (so a click counts exactly once), and on
    PostgreSQL every row a transaction writes carries that transaction's id (``xmin``) and lands
    at the end of the table, next to rows written at about the same time. So each answer also
    takes a few earlier respondents' rows out and writes them back with it, all in random order:
    the rows a transaction wrote then hold several people's answers, and nothing in the table
    says which one is new. Closing a round writes all of its rows once more, in random order,
    with new ids and without token hashes.
    """

    async def open(self, round_: BarometerRound) -> bool:
        statement = (
            conflict_insert(self.session, BarometerRoundRow)
            .values(
                id=round_.id,
                period=round_.period,
                status="open",
                opened_at=round_.opened_at,
                closes_at=round_.closes_at,
                min_group=round_.min_group,
                comment_min=round_.comment_min,
                definition=_definition(round_),
                invited=0,
                answered=0,
                reminders_sent=0,
            )
            .on_conflict_do_nothing()
        )
        return rowcount(await self.session.exec(statement)) == 1

    async def get(self, round_id: str) -> BarometerRound | None:
        row = await self.session.get(BarometerRoundRow, round_id, populate_existing=True)
        return None if row is None else _round(row)

    async def by_period(self, period: str) -> BarometerRound | None:
        rows = await self.session.exec(
            select(BarometerRoundRow)
            .where(col(BarometerRoundRow.period) == period)
            .execution_options(populate_existing=True)
        )
        row = rows.first()
        return None if row is None else _round(row)

    async def current(self) -> BarometerRound | None:
        rows = await self.session.exec(
            select(BarometerRoundRow)
            .where(col(BarometerRoundRow.status) == "open")
            .order_by(col(BarometerRoundRow.opened_at).desc())
            .limit(1)
            .execution_options(populate_existing=True)
        )
        row = rows.first()
        return None if row is None else _round(row)

    async def closed(self, limit: int) -> list[BarometerRound]:
        rows = await self.session.exec(
            select(BarometerRoundRow)
            .where(col(BarometerRoundRow.status) == "closed")
            .order_by(col(BarometerRoundRow.opened_at).desc())
            .limit(limit)
            .execution_options(populate_existing=True)
        )
        return [_round(r) for r in rows]

    async def invite(self, round_id: str, people: Sequence[PersonKey]) -> int:
        added = 0
        unique = list(dict.fromkeys(people))
        for chunk in chunks(unique, _CHUNK):
            statement = (
                conflict_insert(self.session, BarometerParticipationRow)
                .values(
                    [
                        {
                            "round_id": round_id,
                            "platform": p.platform,
                            "tenant": p.tenant,
                            "user_id": p.user,
                            "answered": False,
                        }
                        for p in chunk
                    ]
                )
                .on_conflict_do_nothing()
            )
            added += rowcount(await self.session.exec(statement))
        return added

    async def waiting(self, round_id: str) -> list[PersonKey]:
        rows = await self.session.exec(
            select(
                BarometerParticipationRow.platform,
                BarometerParticipationRow.tenant,
                BarometerParticipationRow.user_id,
            )
            .where(
                col(BarometerParticipationRow.round_id) == round_id,
                col(BarometerParticipationRow.answered).is_(False),
            )
            .order_by(
                col(BarometerParticipationRow.platform),
                col(BarometerParticipationRow.tenant),
                col(BarometerParticipationRow.user_id),
            )
        )
        return [PersonKey(platform, tenant, user) for platform, tenant, user in rows]

    async def participation(self, round_id: str) -> tuple[int, int]:
        found = await self.session.exec(
            select(
                func.count(),
                func.coalesce(
                    func.sum(case((col(BarometerParticipationRow.answered), 1), else_=0)), 0
                ),
            ).where(col(BarometerParticipationRow.round_id) == round_id)
        )
        asked, answered = found.one()
        return int(asked), int(answered)

    async def has_answered(self, round_id: str, person: PersonKey) -> bool:
        row = await self.session.get(
            BarometerParticipationRow,
            (round_id, person.platform, person.tenant, person.user),
            populate_existing=True,
        )
        return row is not None and row.answered

    async def invited(self, round_id: str, person: PersonKey) -> bool:
        row = await self.session.get(
            BarometerParticipationRow,
            (round_id, person.platform, person.tenant, person.user),
            populate_existing=True,
        )
        return row is not None

    async def answer(
        self,
        round_id: str,
        person: PersonKey,
        answer: BarometerAnswer,
        token_hash: str,
        mix: int,
    ) -> AnswerOutcome:
        round_ = await self._still_open(round_id)
        if round_ is None:
            return AnswerOutcome.CLOSED
        if not _round(round_).others_may_answer:
            # Only those asked: their row is there, waiting to say they answered.
            marked = await self.session.exec(
                update(BarometerParticipationRow)
                .where(
                    col(BarometerParticipationRow.round_id) == round_id,
                    col(BarometerParticipationRow.platform) == person.platform,
                    col(BarometerParticipationRow.tenant) == person.tenant,
                    col(BarometerParticipationRow.user_id) == person.user,
                    col(BarometerParticipationRow.answered).is_(False),
                )
                .values(answered=True)
                .execution_options(synchronize_session=False)
            )
            if rowcount(marked) != 1:
                asked = await self.invited(round_id, person)
                return AnswerOutcome.ALREADY if asked else AnswerOutcome.NOT_ASKED
            await self._write(round_id, answer, token_hash, mix)
            return AnswerOutcome.RECORDED
        first = (
            conflict_insert(self.session, BarometerParticipationRow)
            .values(
                round_id=round_id,
                platform=person.platform,
                tenant=person.tenant,
                user_id=person.user,
                answered=True,
            )
            .on_conflict_do_update(
                index_elements=["round_id", "platform", "tenant", "user_id"],
                set_={"answered": True},
                where=col(BarometerParticipationRow.answered).is_(False),
            )
        )
        if rowcount(await self.session.exec(first)) != 1:
            return AnswerOutcome.ALREADY
        await self._write(round_id, answer, token_hash, mix)
        return AnswerOutcome.RECORDED

    async def change(
        self, round_id: str, token_hash: str, answer: BarometerAnswer, mix: int
    ) -> AnswerOutcome:
        if await self._still_open(round_id) is None:
            return AnswerOutcome.CLOSED
        remnants = (
            await self._remnant(round_id, BarometerResponseRow, token_hash, mix),
            await self._remnant(round_id, BarometerCommentRow, token_hash, mix),
        )
        removed = await self._take(round_id, BarometerResponseRow, [token_hash])
        if not removed:
            return AnswerOutcome.UNKNOWN
        await self._take(round_id, BarometerCommentRow, [token_hash])
        await self._write(round_id, answer, token_hash, mix, remnants)
        return AnswerOutcome.CHANGED

    async def holds(self, round_id: str, token_hash: str) -> bool:
        found = await self.session.exec(
            select(func.count())
            .select_from(BarometerResponseRow)
            .join(
                BarometerRoundRow, col(BarometerRoundRow.id) == col(BarometerResponseRow.round_id)
            )
            .where(
                col(BarometerResponseRow.round_id) == round_id,
                col(BarometerResponseRow.token_hash) == token_hash,
                col(BarometerRoundRow.status) == "open",
            )
        )
        return int(found.one()) > 0

    async def reminded(self, round_id: str, sent: int, now_sent: int) -> bool:
        counted = await self.session.exec(
            update(BarometerRoundRow)
            .where(
                col(BarometerRoundRow.id) == round_id,
                col(BarometerRoundRow.status) == "open",
                col(BarometerRoundRow.reminders_sent) == sent,
            )
            .values(reminders_sent=now_sent)
            .execution_options(synchronize_session=False)
        )
        return rowcount(counted) == 1

    async def tally(self, round_id: str) -> BarometerTally:
        row = await self.session.get(BarometerRoundRow, round_id, populate_existing=True)
        if row is None:
            raise KeyError(round_id)
        round_ = _round(row)
        counted = await self.session.exec(
            select(
                BarometerResponseRow.question,
                BarometerResponseRow.group_id,
                BarometerResponseRow.value,
                func.count(),
            )
            .where(col(BarometerResponseRow.round_id) == round_id)
            .group_by(
                col(BarometerResponseRow.question),
                col(BarometerResponseRow.group_id),
                col(BarometerResponseRow.value),
            )
        )
        counts = {(q, g, v): int(n) for q, g, v, n in counted}
        # Every respondent answers every question, so the first question counts the people.
        first = round_.questions[0].id if round_.questions else ""
        respondents = sum(n for (q, _, _), n in counts.items() if q == first)
        return BarometerTally(round=round_, respondents=respondents, counts=counts)

    async def close(self, round_id: str, now: datetime) -> BarometerRound | None:
        asked, answered = await self.participation(round_id)
        closed = await self.session.exec(
            update(BarometerRoundRow)
            .where(col(BarometerRoundRow.id) == round_id, col(BarometerRoundRow.status) == "open")
            .values(status="closed", closed_at=now, invited=asked, answered=answered)
            .execution_options(synchronize_session=False)
        )
        if rowcount(closed) != 1:
            return None
        await self._secure_delete()
        await self.session.exec(
            delete(BarometerParticipationRow).where(
                col(BarometerParticipationRow.round_id) == round_id
            )
        )
        return await self.get(round_id)

    async def seal(self, round_id: str, keep_groups: Collection[str], keep_comments: bool) -> None:
        if self._postgresql:
            await self._seal_in_database(round_id, set(keep_groups), keep_comments)
            return
        await self._secure_delete()
        keep = set(keep_groups)
        responses = await self._take(round_id, BarometerResponseRow, None)
        for row in responses:
            row["id"] = _random_id()
            row["token_hash"] = None
            if row["group_id"] not in keep:
                row["group_id"] = None
        comments = await self._take(round_id, BarometerCommentRow, None)
        for row in comments:
            row["token_hash"] = None
        if not keep_comments:
            comments = []
        await self._put(BarometerResponseRow, responses)
        await self._put(BarometerCommentRow, comments)

    async def _seal_in_database(
        self, round_id: str, keep_groups: set[str], keep_comments: bool
    ) -> None:
        """``seal`` in two statements (PostgreSQL): each moves the round's rows out and back in
        without them leaving the server. A national round has millions of responses: taking
        them into Python and inserting them again, a few hundred at a time, took minutes
        (bench/profiles/national-*.txt). The new ids are as random as ``_random_id``'s (the
        md5 of a version 4 UUID from PostgreSQL's strong random source: 32 hex digits) and
        the rows go back in random order, as ``_put`` writes them."""
        responses = (
            delete(BarometerResponseRow)
            .where(col(BarometerResponseRow.round_id) == round_id)
            .returning(
                col(BarometerResponseRow.question),
                col(BarometerResponseRow.value),
                col(BarometerResponseRow.group_id),
            )
            .cte("taken")
        )
        group = (
            case(
                (responses.c.group_id.in_(sorted(keep_groups)), responses.c.group_id),
                else_=null(),
            )
            if keep_groups
            else null()
        )
        await self.session.exec(
            insert(BarometerResponseRow).from_select(
                list(_COLUMNS["barometer_responses"]),
                select_columns(
                    literal(round_id, String),
                    func.md5(func.gen_random_uuid().cast(String)),
                    responses.c.question,
                    responses.c.value,
                    group,
                    null(),
                ).order_by(func.random()),
            )
        )
        if not keep_comments:
            await self.session.exec(
                delete(BarometerCommentRow).where(col(BarometerCommentRow.round_id) == round_id)
            )
            return
        comments = (
            delete(BarometerCommentRow)
            .where(col(BarometerCommentRow.round_id) == round_id)
            .returning(
                col(BarometerCommentRow.id),
                col(BarometerCommentRow.text),
                col(BarometerCommentRow.status),
            )
            .cte("taken")
        )
        await self.session.exec(
            insert(BarometerCommentRow).from_select(
                list(_COLUMNS["barometer_comments"]),
                select_columns(
                    literal(round_id, String),
                    comments.c.id,
                    comments.c.text,
                    comments.c.status,
                    null(),
                ).order_by(func.random()),
            )
        )

    async def comments(
        self, round_id: str, statuses: Collection[str] = ("pending", "approved", "rejected")
    ) -> list[BarometerComment]:
        rows = await self.session.exec(
            select(BarometerCommentRow)
            .where(
                col(BarometerCommentRow.round_id) == round_id,
                col(BarometerCommentRow.status).in_(list(statuses)),
            )
            .order_by(col(BarometerCommentRow.id))
            .execution_options(populate_existing=True)
        )
        return [
            BarometerComment(id=r.id, round_id=r.round_id, text=r.text, status=r.status)
            for r in rows
        ]

    async def moderate(self, round_id: str, comment_id: str, status: str) -> bool:
        changed = await self.session.exec(
            update(BarometerCommentRow)
            .where(
                col(BarometerCommentRow.round_id) == round_id,
                col(BarometerCommentRow.id) == comment_id,
            )
            .values(status=status)
            .execution_options(synchronize_session=False)
        )
        return rowcount(changed) == 1

    async def _still_open(self, round_id: str) -> BarometerRoundRow | None:
        """The round, if it is open."""
        # FOR SHARE (PostgreSQL; SQLite locks the whole database anyway): answers run side by
        # side, while a close waits for the answers under way and is then seen by later ones.
        found = await self.session.exec(
            select(BarometerRoundRow)
            .where(col(BarometerRoundRow.id) == round_id, col(BarometerRoundRow.status) == "open")
            .with_for_update(read=True)
            .execution_options(populate_existing=True)
        )
        return found.first()

    async def _write(
        self,
        round_id: str,
        answer: BarometerAnswer,
        token_hash: str,
        mix: int,
        remnants: tuple[list[str], list[str]] = ([], []),
    ) -> None:
        """Insert the answer's rows with ``mix`` other respondents' rows (and ``remnants``,
        the rest of the groups the answer's old rows came from), all in random order."""
        responses = [
            {
                "round_id": round_id,
                "id": _random_id(),
                "question": question,
                "value": value,
                "group_id": answer.group,
                "token_hash": token_hash,
            }
            for question, value in answer.values.items()
        ]
        taken = remnants[0] + await self._others(
            round_id, BarometerResponseRow, [token_hash, *remnants[0]], mix
        )
        responses += await self._take(round_id, BarometerResponseRow, taken)
        await self._put(BarometerResponseRow, responses)
        if not answer.comment and not remnants[1]:
            return
        comments = []
        if answer.comment:
            comments.append(
                {
                    "round_id": round_id,
                    "id": _random_id(),
                    "text": answer.comment,
                    "status": "pending",
                    "token_hash": token_hash,
                }
            )
        taken = remnants[1] + await self._others(
            round_id, BarometerCommentRow, [token_hash, *remnants[1]], mix
        )
        comments += await self._take(round_id, BarometerCommentRow, taken)
        await self._put(BarometerCommentRow, comments)

    @property
    def _postgresql(self) -> bool:
        bind = self.session.bind
        return bind is not None and bind.dialect.name == "postgresql"

    async def _others(
        self,
        round_id: str,
        table: type[BarometerResponseRow] | type[BarometerCommentRow],
        exclude: list[str],
        count: int,
    ) -> list[str]:
        """The token hashes of about ``count`` other respondents whose rows are written again
        with this answer.

        On PostgreSQL they are taken by whole "write groups" (the respondents whose rows one
        transaction wrote last, which ``xmin`` shows): a group is taken whole, or split only
        when more than ``count`` respondents stay behind. So once a round has more than
        ``count`` answers, every group of rows written together holds more than ``count``
        people's answers, and stays so. On SQLite rows carry no writer and are stored in
        random id order: the partners are simply picked at random.
        """
        if count <= 0:
            return []
        if not self._postgresql:
            return await self._random_others(round_id, table, exclude, count)
        picked: list[str] = []
        while len(picked) < count:
            writer = await self._random_writer(round_id, table, [*exclude, *picked])
            if writer is None:
                break
            members = [
                m
                for m in await self._written_by(round_id, table, writer)
                if m not in exclude and m not in picked
            ]
            need = count - len(picked)
            if len(members) - need >= count + 1:
                members = _RANDOM.sample(members, need)
            picked += members
        return picked

    async def _remnant(
        self,
        round_id: str,
        table: type[BarometerResponseRow] | type[BarometerCommentRow],
        token_hash: str,
        count: int,
    ) -> list[str]:
        """Before an answer's rows are replaced: the rest of the write group they are in, when
        too few (``count`` or fewer) would stay behind, so they are taken along."""
        if not self._postgresql:
            return []
        found = await self.session.exec(
            select(_writer())
            .select_from(table)
            .where(col(table.round_id) == round_id, col(table.token_hash) == token_hash)
            .limit(1)
        )
        writer = found.first()
        if writer is None:
            return []
        members = [
            m for m in await self._written_by(round_id, table, str(writer)) if m != token_hash
        ]
        return members if len(members) <= count else []

    async def _random_writer(
        self,
        round_id: str,
        table: type[BarometerResponseRow] | type[BarometerCommentRow],
        exclude: list[str],
    ) -> str | None:
        start = _random_id()
        for after in (True, False):
            where = col(table.id) >= start if after else col(table.id) < start
            found = await self.session.exec(
                select(_writer())
                .select_from(table)
                .where(
                    col(table.round_id) == round_id,
                    col(table.token_hash).is_not(None),
                    col(table.token_hash).not_in(exclude),
                    where,
                )
                .order_by(col(table.id))
                .limit(1)
            )
            writer = found.first()
            if writer is not None:
                return str(writer)
        return None

    async def _written_by(
        self,
        round_id: str,
        table: type[BarometerResponseRow] | type[BarometerCommentRow],
        writer: str,
    ) -> list[str]:
        found = await self.session.exec(
            select(table.token_hash)
            .where(
                col(table.round_id) == round_id,
                col(table.token_hash).is_not(None),
                _writer() == writer,
            )
            .distinct()
        )
        return [t for t in found if t is not None]

    async def _random_others(
        self,
        round_id: str,
        table: type[BarometerResponseRow] | type[BarometerCommentRow],
        exclude: list[str],
        count: int,
    ) -> list[str]:
        start = _random_id()
        picked: dict[str, None] = {}
        for after in (True, False):
            where = col(table.id) >= start if after else col(table.id) < start
            found = await self.session.exec(
                select(table.token_hash)
                .where(
                    col(table.round_id) == round_id,
                    col(table.token_hash).is_not(None),
                    col(table.token_hash).not_in(exclude),
                    where,
                )
                .order_by(col(table.id))
                .limit(count * 8)
            )
            for other in found:
                if other is not None and len(picked) < count:
                    picked[other] = None
            if len(picked) >= count:
                break
        return list(picked)

    async def _take(
        self,
        round_id: str,
        table: type[BarometerResponseRow] | type[BarometerCommentRow],
        token_hashes: Sequence[str] | None,
    ) -> list[dict[str, Any]]:
        """Delete rows of the round (those holding these token hashes; all when None) and
        return them, to be written again."""
        if token_hashes is not None and not token_hashes:
            return []
        statement = delete(table).where(col(table.round_id) == round_id)
        if token_hashes is not None:
            statement = statement.where(col(table.token_hash).in_(list(token_hashes)))
        names = _COLUMNS[table.__tablename__]
        removed = await self.session.exec(
            statement.returning(*(col(getattr(table, name)) for name in names))
        )
        return [dict(zip(names, row, strict=True)) for row in removed.all()]

    async def _put(
        self,
        table: type[BarometerResponseRow] | type[BarometerCommentRow],
        rows: list[dict[str, Any]],
    ) -> None:
        """Insert rows in random order."""
        if not rows:
            return
        _RANDOM.shuffle(rows)
        for chunk in chunks(rows, _CHUNK):
            await self.session.exec(insert(table), params=list(chunk))

    async def _secure_delete(self) -> None:
        # SQLite keeps deleted rows' bytes in the file until the page is reused; secure_delete
        # overwrites them with zeros. (A connection setting: it stays on for this connection.)
        if self.session.bind is not None and self.session.bind.dialect.name == "sqlite":
            connection = await self.session.connection()
            await connection.exec_driver_sql("PRAGMA secure_delete = ON")
