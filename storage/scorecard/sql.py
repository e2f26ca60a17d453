"""The scorecard on SQLAlchemy."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.barometer import (
    AnswerKey,
    BarometerAnswer,
    MissingAnswerKey,
    PendingAnswer,
    RoundGroup,
    RoundQuestion,
    RoundScalePoint,
    UnreadableAnswer,
    rounds,
)
from storage.common import SqlStore, chunks, conflict_insert, rowcount
from storage.scorecard.records import (
    Figure,
    LinkCheck,
    LinkState,
    StakeholderComment,
    StakeholderRound,
    StakeholderTally,
)
from storage.scorecard.tables import (
    ScorecardFigureRow,
    StakeholderCommentRow,
    StakeholderLinkRow,
    StakeholderPendingRow,
    StakeholderResponseRow,
    StakeholderRoundRow,
)

log = logging.getLogger("valuesbot.scorecard")

_RANDOM = secrets.SystemRandom()
_CHUNK = 500
# What a stakeholder answer is sealed under, apart from the barometer's (the same key, another
# label in what the seal authenticates).
_SEAL_SCOPE = "stakeholders:"


def _random_id() -> str:
    """A random id for a row of answers: it says nothing about when or by whom."""
    return secrets.token_hex(16)


def _definition(round_: StakeholderRound) -> dict[str, Any]:
    return {
        "questions": [{"id": q.id, "text": q.text, "short": q.short} for q in round_.questions],
        "scale": [{"id": p.id, "label": p.label, "agree": p.agree} for p in round_.scale],
        "groups": [{"id": g.id, "label": g.label} for g in round_.groups],
    }


def _round(row: StakeholderRoundRow) -> StakeholderRound:
    definition = row.definition
    return StakeholderRound(
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
        invited=row.invited,
        answered=row.answered,
    )


def _figure(row: ScorecardFigureRow) -> Figure:
    return Figure(
        source=row.source,
        key=row.key,
        period=row.period,
        value=row.value,
        respondents=row.respondents,
    )


class SqlScorecard(SqlStore):
    """The scorecard in ``scorecard_figures`` and the stakeholder tables.

    A stakeholder's answer is written in the transaction that spends their link, but only to
    ``stakeholder_pending``, sealed with the answer key (which the database does not hold):
    two copies of the database taken around one answer differ in one link marked used and one
    sealed row nobody can read without the key. The response and comment tables change only
    when a round closes, all its answers at once, in random order, with random ids; in the
    same transaction the links forget which were used. So after a round has closed no row,
    and on PostgreSQL no transaction id (``xmin``), ties a link to an answer.
    """

    def __init__(self, session: AsyncSession, answer_key: AnswerKey | None = None) -> None:
        super().__init__(session)
        self._answer_key = answer_key

    @property
    def _key(self) -> AnswerKey:
        if self._answer_key is None:
            raise MissingAnswerKey("this store was given no answer key (Database(answer_key=))")
        return self._answer_key

    # Figures

    async def put_figures(self, figures: Sequence[Figure], now: datetime) -> int:
        for chunk in chunks(list(figures), _CHUNK):
            statement = conflict_insert(self.session, ScorecardFigureRow).values(
                [
                    {
                        "source": f.source,
                        "key": f.key,
                        "period": f.period,
                        "value": f.value,
                        "respondents": f.respondents,
                        "entered_at": now,
                    }
                    for f in chunk
                ]
            )
            await self.session.exec(
                statement.on_conflict_do_update(
                    index_elements=["source", "key", "period"],
                    set_={
                        "value": statement.excluded.value,
                        "respondents": statement.excluded.respondents,
                        "entered_at": statement.excluded.entered_at,
                    },
                )
            )
        return len(figures)

    async def figures(self, source: str, keys: Collection[str] | None = None) -> list[Figure]:
        statement = select(ScorecardFigureRow).where(col(ScorecardFigureRow.source) == source)
        if keys is not None:
            statement = statement.where(col(ScorecardFigureRow.key).in_(sorted(keys)))
        rows = await self.session.exec(
            statement.order_by(
                col(ScorecardFigureRow.key), col(ScorecardFigureRow.period)
            ).execution_options(populate_existing=True)
        )
        return [_figure(r) for r in rows]

    # Stakeholder rounds

    async def open_round(self, round_: StakeholderRound, token_hashes: Sequence[str]) -> bool:
        if await self.current_round() is not None:
            return False
        opened = await self.session.exec(
            conflict_insert(self.session, StakeholderRoundRow)
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
            )
            .on_conflict_do_nothing()
        )
        if rowcount(opened) != 1:
            return False
        for chunk in chunks(list(token_hashes), _CHUNK):
            await self.session.exec(
                insert(StakeholderLinkRow),
                params=[{"token_hash": h, "round_id": round_.id, "used": False} for h in chunk],
            )
        return True

    async def round(self, round_id: str) -> StakeholderRound | None:
        row = await self.session.get(StakeholderRoundRow, round_id, populate_existing=True)
        return None if row is None else _round(row)

    async def round_by_period(self, period: str) -> StakeholderRound | None:
        row = await rounds.by_period(self.session, StakeholderRoundRow, period)
        return None if row is None else _round(row)

    async def current_round(self) -> StakeholderRound | None:
        found = await rounds.newest(self.session, StakeholderRoundRow, "open", 1)
        return _round(found[0]) if found else None

    async def closed_rounds(self, limit: int) -> list[StakeholderRound]:
        found = await rounds.newest(self.session, StakeholderRoundRow, "closed", limit)
        return [_round(r) for r in found]

    async def participation(self, round_id: str) -> tuple[int, int]:
        found = await self.session.exec(
            select(col(StakeholderLinkRow.used), func.count())
            .where(col(StakeholderLinkRow.round_id) == round_id)
            .group_by(col(StakeholderLinkRow.used))
        )
        counts = {bool(used): int(n) for used, n in found}
        return sum(counts.values()), counts.get(True, 0)

    async def check_link(self, token_hash: str, now: datetime) -> LinkCheck:
        link = await self.session.get(StakeholderLinkRow, token_hash, populate_existing=True)
        if link is None:
            return LinkCheck(state=LinkState.UNKNOWN)
        row = await self.session.get(StakeholderRoundRow, link.round_id, populate_existing=True)
        if row is None:  # pragma: no cover - the foreign key keeps it
            return LinkCheck(state=LinkState.UNKNOWN)
        round_ = _round(row)
        if not round_.is_open or round_.closes_at <= now:
            return LinkCheck(state=LinkState.EXPIRED, round=round_)
        if link.used:
            return LinkCheck(state=LinkState.USED, round=round_)
        return LinkCheck(state=LinkState.OK, round=round_)

    async def answer(self, token_hash: str, answer: BarometerAnswer, now: datetime) -> LinkCheck:
        checked = await self.check_link(token_hash, now)
        if checked.state is not LinkState.OK or checked.round is None:
            return checked
        round_ = checked.round
        # FOR SHARE (PostgreSQL): answers run side by side, while a close waits for the answers
        # under way and is then seen by later ones.
        still = await self.session.exec(
            select(StakeholderRoundRow.id)
            .where(
                col(StakeholderRoundRow.id) == round_.id,
                col(StakeholderRoundRow.status) == "open",
            )
            .with_for_update(read=True)
        )
        if still.first() is None:
            return LinkCheck(state=LinkState.EXPIRED, round=round_)
        # The link is spent in this transaction or not at all: of two requests at once, the
        # second waits for the first and then finds it used (PostgreSQL re-reads the row).
        spent = await self.session.exec(
            update(StakeholderLinkRow)
            .where(
                col(StakeholderLinkRow.token_hash) == token_hash,
                col(StakeholderLinkRow.used).is_(False),
            )
            .values(used=True)
            .execution_options(synchronize_session=False)
        )
        if rowcount(spent) != 1:
            return LinkCheck(state=LinkState.USED, round=round_)
        entry_id = _random_id()
        await self.session.exec(
            insert(StakeholderPendingRow).values(
                round_id=round_.id,
                id=entry_id,
                sealed=self._key.seal(
                    _SEAL_SCOPE + round_.id,
                    entry_id,
                    False,
                    PendingAnswer(token_hash="", answer=answer),
                ),
            )
        )
        return LinkCheck(state=LinkState.OK, round=round_)

    async def close_round(self, round_id: str, now: datetime) -> StakeholderRound | None:
        invited, answered = await self.participation(round_id)
        if not await rounds.mark_closed(
            self.session, StakeholderRoundRow, round_id, now, invited, answered
        ):
            return None
        await self._secure_delete()
        waiting = await self.session.exec(
            select(StakeholderPendingRow.id, StakeholderPendingRow.sealed)
            .where(col(StakeholderPendingRow.round_id) == round_id)
            .with_for_update()
        )
        responses: list[dict[str, Any]] = []
        comments: list[dict[str, Any]] = []
        dropped = 0
        for entry_id, sealed in waiting.all():
            try:
                opened = self._key.open(_SEAL_SCOPE + round_id, entry_id, False, sealed)
            except UnreadableAnswer:
                dropped += 1
                continue
            given = opened.answer
            responses += [
                {
                    "round_id": round_id,
                    "id": _random_id(),
                    "question": question,
                    "value": value,
                    "group_id": given.group,
                }
                for question, value in given.values.items()
            ]
            if given.comment:
                comments.append({"round_id": round_id, "id": _random_id(), "text": given.comment})
        if dropped:
            log.error(
                "stakeholders: %d waiting answers do not open with this instance's answer key "
                "and are dropped as the round closes",
                dropped,
            )
        await self.session.exec(
            delete(StakeholderPendingRow).where(col(StakeholderPendingRow.round_id) == round_id)
        )
        await self._put(StakeholderResponseRow, responses)
        await self._put(StakeholderCommentRow, [{**c, "status": "pending"} for c in comments])
        # Which links were used is not needed once nobody can answer.
        await self.session.exec(
            update(StakeholderLinkRow)
            .where(col(StakeholderLinkRow.round_id) == round_id)
            .values(used=False)
            .execution_options(synchronize_session=False)
        )
        return await self.round(round_id)

    async def seal(
        self,
        round_id: str,
        keep_groups: Collection[str],
        keep_comments: bool,
        keep_answers: bool = True,
    ) -> None:
        await self._secure_delete()
        if not keep_answers:
            for table in (StakeholderResponseRow, StakeholderCommentRow):
                await self.session.exec(delete(table).where(col(table.round_id) == round_id))
            return
        if keep_groups:
            await self.session.exec(
                update(StakeholderResponseRow)
                .where(
                    col(StakeholderResponseRow.round_id) == round_id,
                    col(StakeholderResponseRow.group_id).not_in(sorted(keep_groups)),
                )
                .values(group_id=None)
                .execution_options(synchronize_session=False)
            )
        else:
            await self.session.exec(
                update(StakeholderResponseRow)
                .where(col(StakeholderResponseRow.round_id) == round_id)
                .values(group_id=None)
                .execution_options(synchronize_session=False)
            )
        if not keep_comments:
            await self.session.exec(
                delete(StakeholderCommentRow).where(col(StakeholderCommentRow.round_id) == round_id)
            )

    async def tally(self, round_id: str) -> StakeholderTally:
        row = await self.session.get(StakeholderRoundRow, round_id, populate_existing=True)
        if row is None:
            raise KeyError(round_id)
        round_ = _round(row)
        first = round_.questions[0].id if round_.questions else ""
        counts, respondents = await rounds.count_answers(
            self.session, StakeholderResponseRow, round_id, first
        )
        return StakeholderTally(round=round_, respondents=respondents, counts=counts)

    async def comments(
        self, round_id: str, statuses: Collection[str] = ("pending", "approved", "rejected")
    ) -> list[StakeholderComment]:
        rows = await rounds.comment_rows(self.session, StakeholderCommentRow, round_id, statuses)
        return [
            StakeholderComment(id=r.id, round_id=r.round_id, text=r.text, status=r.status)
            for r in rows
        ]

    async def moderate(self, round_id: str, comment_id: str, status: str) -> bool:
        return await rounds.moderate(
            self.session, StakeholderCommentRow, round_id, comment_id, status
        )

    async def pending(self) -> int:
        found = await self.session.exec(select(func.count()).select_from(StakeholderPendingRow))
        return int(found.one())

    async def _put(
        self,
        table: type[StakeholderResponseRow] | type[StakeholderCommentRow],
        rows: list[dict[str, Any]],
    ) -> None:
        """Insert rows in random order."""
        if not rows:
            return
        _RANDOM.shuffle(rows)
        for chunk in chunks(rows, _CHUNK):
            await self.session.exec(insert(table), params=list(chunk))

    async def _secure_delete(self) -> None:
        # SQLite keeps deleted or overwritten rows' bytes in the file until the page is reused;
        # secure_delete overwrites them with zeros. (A connection setting: it stays on.)
        if self.dialect == "sqlite":
            connection = await self.session.connection()
            await connection.exec_driver_sql("PRAGMA secure_delete = ON")
