"""The staff barometer on SQLAlchemy."""

from __future__ import annotations

import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, case, delete, func, insert, update
from sqlalchemy import select as select_columns
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.barometer import rounds
from storage.barometer.batches import (
    CHUNK,
    AnswerBatches,
    MissingAnswerKey,
    batch_size,
    random_id,
)
from storage.barometer.pool import AnswerKey, PendingAnswer
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
from storage.barometer.rounds import Counts
from storage.barometer.tables import (
    BarometerCommentRow,
    BarometerCountRow,
    BarometerParticipationRow,
    BarometerPendingRow,
    BarometerResponseRow,
    BarometerRoundRow,
)
from storage.common import SqlStore, chunks, conflict_insert, prepared_upsert, rowcount
from storage.people import PersonKey

# The id an erased person's "answered" row is kept under, until the round closes.
ERASED_PARTICIPANT = "erased-"

_ROUNDS = BarometerRoundRow.__table__  # type: ignore[attr-defined]
_PARTICIPATION = BarometerParticipationRow.__table__  # type: ignore[attr-defined]

# Every answer runs these: statements built once (building and keying them each time cost
# more than running them; ``bench.answers``' drain). FOR SHARE (PostgreSQL; SQLite locks the
# whole database anyway): answers run side by side, while a close waits for the answers under
# way and is then seen by later ones.
_STILL_OPEN = (
    select_columns(_ROUNDS.c.min_group, _ROUNDS.c.definition)
    .where(_ROUNDS.c.id == bindparam("round_id"), _ROUNDS.c.status == "open")
    .with_for_update(read=True)
)
# (In an UPDATE a parameter named like a column would be set too: hence "at_".)
_MARK_ANSWERED = (
    update(_PARTICIPATION)
    .where(
        _PARTICIPATION.c.round_id == bindparam("at_round_id"),
        _PARTICIPATION.c.platform == bindparam("at_platform"),
        _PARTICIPATION.c.tenant == bindparam("at_tenant"),
        _PARTICIPATION.c.user_id == bindparam("at_user_id"),
        _PARTICIPATION.c.answered.is_(False),
    )
    .values(answered=True)
)


@lru_cache(maxsize=2)
def _first_answer(dialect: str) -> Any:
    """Where anyone may answer: the person's row, added as answered, or marked answered if it
    is there and not yet; a row already answered is left as it is (nothing inserted or
    changed)."""
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(_PARTICIPATION)
    return statement.on_conflict_do_update(
        index_elements=["round_id", "platform", "tenant", "user_id"],
        set_={"answered": True},
        where=_PARTICIPATION.c.answered.is_(False),
    )


@dataclass(frozen=True, slots=True)
class _Open:
    """What an answer needs of its round, read as it is locked."""

    min_group: int
    others_may_answer: bool


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
    ``barometer_pending`` (answers waiting for their batch), ``barometer_responses`` and
    ``barometer_comments`` (what), and ``barometer_counts`` (what a sealed round keeps).

    No statement here ever reads or writes a person and an answer together. An answer is
    written in the same transaction as the participation row (so a click counts exactly once),
    but not to the response tables: to the pool, as one sealed row that the database alone can
    neither read nor tie to the rows it becomes (``storage.barometer.pool``). When twice a
    batch (``batch_size``: more than the round's ``min_group``) of answers wait, a batch of them
    picked at random is opened and written to the response and comment tables in random order,
    in one transaction; changes of answers already written wait for other changes the same way.
    Closing writes whatever still waits, then ``seal`` counts the round's response rows (small
    groups merged), deletes them and keeps the counts, and writes its comments once more, in
    random order, without token hashes.

    So the response tables only ever change by whole batches: two copies of the database taken
    around one person's answer differ in the participation row and a sealed row, and the rows
    added to the response tables between any two copies hold the answers of more than
    ``min_group`` people. Every row one transaction writes carries that transaction's id on
    PostgreSQL (``xmin``): a batch's rows share it with the participation row of whoever's
    answer set the batch off, and hide that person's answer (if it is in the batch at all)
    among more than ``min_group``.
    """

    def __init__(self, session: AsyncSession, answer_key: AnswerKey | None = None) -> None:
        super().__init__(session)
        self._answer_key = answer_key
        self._batches = AnswerBatches(session, lambda: self._key)
        # The counts of closed rounds this unit of work has read or sealed: once a round is
        # closed nothing but ``seal`` changes its answers, and ``seal`` keeps these counts in
        # their place, so a national round's millions of rows are counted once per close.
        self._counted: dict[str, Counts] = {}

    @property
    def _key(self) -> AnswerKey:
        if self._answer_key is None:
            raise MissingAnswerKey("this store was given no answer key (Database(answer_key=))")
        return self._answer_key

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
        row = await rounds.by_period(self.session, BarometerRoundRow, period)
        return None if row is None else _round(row)

    async def current(self) -> BarometerRound | None:
        found = await rounds.newest(self.session, BarometerRoundRow, "open", 1)
        return _round(found[0]) if found else None

    async def closed(self, limit: int) -> list[BarometerRound]:
        return [
            _round(r) for r in await rounds.newest(self.session, BarometerRoundRow, "closed", limit)
        ]

    async def invite(self, round_id: str, people: Sequence[PersonKey]) -> int:
        added = 0
        unique = list(dict.fromkeys(people))
        # One statement built once, the rows sent in the driver's batches (a statement of each
        # chunk's values, built and compiled anew, took seconds for a national round).
        key = BarometerParticipationRow.__table__.c.user_id  # type: ignore[attr-defined]
        statement = prepared_upsert(
            self.dialect,
            BarometerParticipationRow,
            ("round_id", "platform", "tenant", "user_id"),
            updates=None,
        ).returning(key)
        for chunk in chunks(unique, CHUNK):
            inserted = await self.run(
                statement,
                [
                    {
                        "round_id": round_id,
                        "platform": p.platform,
                        "tenant": p.tenant,
                        "user_id": p.user,
                        "answered": False,
                    }
                    for p in chunk
                ],
            )
            added += len(inserted.all())
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
        self, round_id: str, person: PersonKey, answer: BarometerAnswer, token_hash: str
    ) -> AnswerOutcome:
        round_ = await self._still_open(round_id)
        if round_ is None:
            return AnswerOutcome.CLOSED
        if not round_.others_may_answer:
            # Only those asked: their row is there, waiting to say they answered.
            marked = await self.run(
                _MARK_ANSWERED,
                {
                    "at_round_id": round_id,
                    "at_platform": person.platform,
                    "at_tenant": person.tenant,
                    "at_user_id": person.user,
                },
            )
            if rowcount(marked) != 1:
                asked = await self.invited(round_id, person)
                return AnswerOutcome.ALREADY if asked else AnswerOutcome.NOT_ASKED
        else:
            first = await self.run(
                _first_answer(self.dialect),
                {
                    "round_id": round_id,
                    "platform": person.platform,
                    "tenant": person.tenant,
                    "user_id": person.user,
                    "answered": True,
                },
            )
            if rowcount(first) != 1:
                return AnswerOutcome.ALREADY
        await self._batches.add(
            round_id, PendingAnswer(token_hash=token_hash, answer=answer), False
        )
        await self._batches.settle(round_id, batch_size(round_.min_group), replaces=False)
        return AnswerOutcome.RECORDED

    async def change(
        self, round_id: str, token_hash: str, answer: BarometerAnswer
    ) -> AnswerOutcome:
        round_ = await self._still_open(round_id)
        if round_ is None:
            return AnswerOutcome.CLOSED
        pending = PendingAnswer(token_hash=token_hash, answer=answer)
        # Still waiting: its sealed answer is replaced where it waits. (A batch being written
        # holds the row locked; once it is written, the row is gone and the answer is found
        # in the response tables below.)
        waiting = await self.session.exec(
            select(BarometerPendingRow.id, BarometerPendingRow.replaces)
            .where(
                col(BarometerPendingRow.round_id) == round_id,
                col(BarometerPendingRow.lookup).in_(self._batches.lookups(token_hash)),
            )
            .with_for_update()
        )
        found = waiting.first()
        if found is not None:
            entry_id, replaces = found
            await self.session.exec(
                update(BarometerPendingRow)
                .where(
                    col(BarometerPendingRow.round_id) == round_id,
                    col(BarometerPendingRow.id) == entry_id,
                )
                .values(sealed=self._key.seal(round_id, entry_id, replaces, pending))
                .execution_options(synchronize_session=False)
            )
            return AnswerOutcome.CHANGED
        if not await self._batches.written(round_id, token_hash):
            return AnswerOutcome.UNKNOWN
        # Written already: its rows stay until the change's own batch replaces them, so the
        # response tables do not show which answer was changed when it was changed.
        await self._batches.add(round_id, pending, True)
        await self._batches.settle(round_id, batch_size(round_.min_group), replaces=True)
        return AnswerOutcome.CHANGED

    async def holds(self, round_id: str, token_hash: str) -> bool:
        if await self._still_open(round_id) is None:
            return False
        waiting = await self.session.exec(
            select(func.count())
            .select_from(BarometerPendingRow)
            .where(
                col(BarometerPendingRow.round_id) == round_id,
                col(BarometerPendingRow.lookup).in_(self._batches.lookups(token_hash)),
            )
        )
        return int(waiting.one()) > 0 or await self._batches.written(round_id, token_hash)

    async def pending(self) -> int:
        found = await self.session.exec(select(func.count()).select_from(BarometerPendingRow))
        return int(found.one())

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
        counts = self._counted.get(round_id)
        if counts is None:
            counts = await self._sealed(round_id) if round_.status == "closed" else None
            if counts is None:
                counts = await self._count(round_id)
            if round_.status == "closed":
                self._counted[round_id] = counts
        # Every respondent answers every question, so the first question counts the people.
        first = round_.questions[0].id if round_.questions else ""
        respondents = sum(n for (q, _, _), n in counts.items() if q == first)
        return BarometerTally(round=round_, respondents=respondents, counts=dict(counts))

    async def _count(self, round_id: str) -> Counts:
        """The round's response rows, counted (an open round, or one closing)."""
        counts, _ = await rounds.count_answers(self.session, BarometerResponseRow, round_id, "")
        return counts

    async def _sealed(self, round_id: str) -> Counts | None:
        """A sealed round's counts; None when it has none (not sealed yet, or no answers kept,
        and then no response rows either)."""
        found = await self.session.exec(
            select(
                BarometerCountRow.question,
                BarometerCountRow.group_id,
                BarometerCountRow.value,
                BarometerCountRow.n,
            ).where(col(BarometerCountRow.round_id) == round_id)
        )
        counts = {(q, g, v): int(n) for q, g, v, n in found}
        return counts or None

    async def close(self, round_id: str, now: datetime) -> BarometerRound | None:
        # Its participation is counted below, as its rows go (once the answers under way are
        # in): until then, in this unit of work, the closed round says none.
        if not await rounds.mark_closed(self.session, BarometerRoundRow, round_id, now, 0, 0):
            return None
        await self._batches.secure_delete()
        # Everything still waiting goes in as the last batch (both kinds together).
        waiting = await self.session.exec(
            select(BarometerPendingRow.id)
            .where(col(BarometerPendingRow.round_id) == round_id)
            .with_for_update()
        )
        await self._batches.flush(round_id, list(waiting.all()), closing=True)
        asked, answered = await self._forget_participation(round_id)
        await self.session.exec(
            update(BarometerRoundRow)
            .where(col(BarometerRoundRow.id) == round_id)
            .values(invited=asked, answered=answered)
            .execution_options(synchronize_session=False)
        )
        return await self.get(round_id)

    async def _forget_participation(self, round_id: str) -> tuple[int, int]:
        """Delete the round's participation rows; how many were asked and how many answered.
        (Counted once the round is closed: the answers under way have finished by then.)"""
        theirs = col(BarometerParticipationRow.round_id) == round_id
        if not self._postgresql:
            asked, answered = await self.participation(round_id)
            await self.session.exec(delete(BarometerParticipationRow).where(theirs))
            return asked, answered
        # One pass over a national round's million rows instead of two.
        gone = (
            delete(BarometerParticipationRow)
            .where(theirs)
            .returning(col(BarometerParticipationRow.answered))
            .cte("gone")
        )
        found = await self.session.exec(
            select(
                func.count(), func.coalesce(func.sum(case((gone.c.answered, 1), else_=0)), 0)
            ).select_from(gone)
        )
        asked, answered = found.one()
        return int(asked), int(answered)

    async def seal(
        self,
        round_id: str,
        keep_groups: Collection[str],
        keep_comments: bool,
        keep_answers: bool = True,
    ) -> None:
        await self._batches.secure_delete()
        sealed: Counts = {}
        if keep_answers:
            counts = self._counted.get(round_id)
            if counts is None:
                counts = await self._count(round_id)
            keep = set(keep_groups)
            for (question, group, value), n in counts.items():
                key = (question, group if group in keep else None, value)
                sealed[key] = sealed.get(key, 0) + n
        await self._write_counts(round_id, sealed)
        self._counted[round_id] = sealed
        # Comments are few beside the responses (at most one a person): they are written
        # again, each keeping, instead of its token hash, the author's mark, which only the
        # key makes from the token hash.
        comments = await self._batches.take(round_id, BarometerCommentRow)
        if not (keep_answers and keep_comments):
            return
        for row in comments:
            token = row["token_hash"]
            row["token_hash"] = None
            row["token_mark"] = None if token is None else self._key.author_mark(token)
        await self._batches.put(BarometerCommentRow, comments)

    async def _write_counts(self, round_id: str, counts: Counts) -> None:
        """``seal``'s responses: the round's rows are deleted and its counts (groups already
        merged) written in their place. A national round has millions of rows: writing them
        again, even inside the server, cost PostgreSQL a trigger and three index entries a row
        and took most of a minute (bench/profiles/national-*.txt); deleting them is one pass
        over the heap, and its counts are a few hundred rows."""
        await self.session.exec(
            delete(BarometerResponseRow)
            .where(col(BarometerResponseRow.round_id) == round_id)
            .execution_options(synchronize_session=False)
        )
        await self.session.exec(
            delete(BarometerCountRow)
            .where(col(BarometerCountRow.round_id) == round_id)
            .execution_options(synchronize_session=False)
        )
        rows = [
            {
                "round_id": round_id,
                "id": random_id(),
                "question": q,
                "value": v,
                "group_id": g,
                "n": n,
            }
            for (q, g, v), n in counts.items()
        ]
        for chunk in chunks(rows, CHUNK):
            await self.session.exec(insert(BarometerCountRow), params=list(chunk))

    async def comments(
        self, round_id: str, statuses: Collection[str] = ("pending", "approved", "rejected")
    ) -> list[BarometerComment]:
        rows = await rounds.comment_rows(self.session, BarometerCommentRow, round_id, statuses)
        return [
            BarometerComment(id=r.id, round_id=r.round_id, text=r.text, status=r.status)
            for r in rows
        ]

    async def moderate(self, round_id: str, comment_id: str, status: str) -> bool:
        return await rounds.moderate(
            self.session, BarometerCommentRow, round_id, comment_id, status
        )

    async def comment_by_token(self, round_id: str, token_hash: str) -> BarometerComment | None:
        row = await self.session.get(BarometerRoundRow, round_id, populate_existing=True)
        if row is None or row.status != "closed":
            return None
        found = await self.session.exec(
            select(BarometerCommentRow)
            .where(
                col(BarometerCommentRow.round_id) == round_id,
                col(BarometerCommentRow.token_mark) == self._key.author_mark(token_hash),
            )
            .execution_options(populate_existing=True)
        )
        comment = found.first()
        if comment is None:
            return None
        return BarometerComment(
            id=comment.id, round_id=comment.round_id, text=comment.text, status=comment.status
        )

    async def _still_open(self, round_id: str) -> _Open | None:
        """What an answer needs of the round, if it is open; the round locked against its close
        until this unit of work ends (``_STILL_OPEN``)."""
        found: Any = (await self.run(_STILL_OPEN, {"round_id": round_id})).first()
        if found is None:
            return None
        min_group, definition = found[0], found[1]
        # Rounds opened before the rule was kept took answers from anyone (as ``_round``).
        return _Open(int(min_group), bool(definition.get("others_may_answer", True)))

    @property
    def _postgresql(self) -> bool:
        bind = self.session.bind
        return bind is not None and bind.dialect.name == "postgresql"

    async def forget_participant(self, person: PersonKey) -> int:
        theirs = (
            col(BarometerParticipationRow.platform) == person.platform,
            col(BarometerParticipationRow.tenant) == person.tenant,
            col(BarometerParticipationRow.user_id) == person.user,
        )
        removed = await self.session.exec(
            delete(BarometerParticipationRow)
            .where(*theirs, col(BarometerParticipationRow.answered).is_(False))
            .execution_options(synchronize_session=False)
        )
        changed = rowcount(removed)
        answered = await self.session.exec(
            select(BarometerParticipationRow.round_id).where(*theirs)
        )
        for round_id in list(answered):
            await self.session.exec(
                update(BarometerParticipationRow)
                .where(col(BarometerParticipationRow.round_id) == round_id, *theirs)
                .values(user_id=f"{ERASED_PARTICIPANT}{secrets.token_hex(12)}")
                .execution_options(synchronize_session=False)
            )
            changed += 1
        return changed
