"""The values lens's stores on SQLAlchemy."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, literal, tuple_, update
from sqlalchemy import select as select_columns
from sqlmodel import col, select

from bot.events import ConversationKind, ConversationRef, Platform
from storage.common import (
    ROWS_AT_ONCE,
    ConcurrentUpdate,
    Period,
    PeriodCount,
    SqlStore,
    chunks,
    conflict_insert,
    count_by_period,
    group_by_period,
    period_case,
    rowcount,
)
from storage.people import PersonKey
from storage.values_lens.records import (
    Checkin,
    RateOutcome,
    RatingEntry,
    TeamCheckin,
    TeamRatings,
    TeamTally,
)
from storage.values_lens.tables import (
    CheckinRatingRow,
    CheckinRow,
    TeamCheckinRow,
    TeamRatingCountRow,
    TeamRatingRow,
)


def _spread(rows: list[tuple[Any, ...]]) -> dict[str, dict[tuple[str, str], int]]:
    found: dict[str, dict[tuple[str, str], int]] = defaultdict(dict)
    for period, behaviour, rating, count in rows:
        found[period][(behaviour, rating)] = int(count)
    return dict(found)


class SqlCheckins(SqlStore):
    """Personal check-ins in ``checkins`` and ``checkin_ratings``."""

    async def activity(self, periods: Sequence[Period]) -> dict[str, PeriodCount]:
        owner = (
            col(CheckinRow.platform) + ":" + col(CheckinRow.tenant) + ":" + col(CheckinRow.owner)
        )
        return await count_by_period(self.session, col(CheckinRow.completed_at), owner, periods)

    async def spread(self, periods: Sequence[Period]) -> dict[str, dict[tuple[str, str], int]]:
        named = (
            select_columns(
                period_case(col(CheckinRow.completed_at), periods).label("period"),
                col(CheckinRatingRow.behaviour),
                col(CheckinRatingRow.rating),
            )
            .join_from(
                CheckinRatingRow, CheckinRow, col(CheckinRow.id) == col(CheckinRatingRow.checkin_id)
            )
            .subquery()
        )
        return _spread(await group_by_period(self.session, named))

    async def add(self, checkin: Checkin) -> None:
        self.session.add(
            CheckinRow(
                id=checkin.id,
                platform=checkin.owner.platform,
                tenant=checkin.owner.tenant,
                owner=checkin.owner.user,
                work=checkin.work,
                action=checkin.action,
                focus=checkin.focus,
                started_at=checkin.started_at,
                completed_at=checkin.completed_at,
            )
        )
        await self.session.flush()
        self.session.add_all(
            CheckinRatingRow(
                checkin_id=checkin.id,
                behaviour=r.behaviour,
                position=position,
                rating=r.rating,
                note=r.note,
            )
            for position, r in enumerate(checkin.ratings)
        )
        await self.session.flush()

    async def get(self, checkin_id: str) -> Checkin | None:
        row = await self.session.get(CheckinRow, checkin_id)
        if row is None:
            return None
        return (await self._with_ratings([row]))[0]

    async def recent(self, owner: PersonKey, limit: int) -> list[Checkin]:
        rows = await self.session.exec(
            select(CheckinRow)
            .where(
                col(CheckinRow.platform) == owner.platform,
                col(CheckinRow.tenant) == owner.tenant,
                col(CheckinRow.owner) == owner.user,
            )
            .order_by(col(CheckinRow.completed_at).desc(), col(CheckinRow.id))
            .limit(limit)
        )
        return await self._with_ratings(list(rows))

    async def for_person(self, owner: PersonKey) -> list[Checkin]:
        rows = await self.session.exec(
            select(CheckinRow)
            .where(*_owned_by(owner))
            .order_by(col(CheckinRow.completed_at).desc(), col(CheckinRow.id))
        )
        return await self._with_ratings(list(rows))

    async def forget(self, owner: PersonKey) -> int:
        return await self._forget(select(CheckinRow.id).where(*_owned_by(owner)))

    async def forget_before(self, when: datetime) -> int:
        return await self._forget(select(CheckinRow.id).where(col(CheckinRow.completed_at) < when))

    async def _forget(self, which: Any) -> int:
        ids = list(await self.session.exec(which))
        for chunk in chunks(ids, ROWS_AT_ONCE):
            await self.session.exec(
                delete(CheckinRatingRow)
                .where(col(CheckinRatingRow.checkin_id).in_(chunk))
                .execution_options(synchronize_session=False)
            )
            await self.session.exec(
                delete(CheckinRow)
                .where(col(CheckinRow.id).in_(chunk))
                .execution_options(synchronize_session=False)
            )
        return len(ids)

    async def _with_ratings(self, rows: list[CheckinRow]) -> list[Checkin]:
        if not rows:
            return []
        ratings: dict[str, list[RatingEntry]] = defaultdict(list)
        found = await self.session.exec(
            select(CheckinRatingRow)
            .where(col(CheckinRatingRow.checkin_id).in_([r.id for r in rows]))
            .order_by(col(CheckinRatingRow.checkin_id), col(CheckinRatingRow.position))
        )
        for rating in found:
            ratings[rating.checkin_id].append(
                RatingEntry(behaviour=rating.behaviour, rating=rating.rating, note=rating.note)
            )
        return [
            Checkin(
                id=row.id,
                owner=PersonKey(row.platform, row.tenant, row.owner),
                work=row.work,
                action=row.action,
                focus=row.focus,
                ratings=tuple(ratings[row.id]),
                started_at=row.started_at,
                completed_at=row.completed_at,
            )
            for row in rows
        ]


def _owned_by(owner: PersonKey) -> tuple[Any, ...]:
    return (
        col(CheckinRow.platform) == owner.platform,
        col(CheckinRow.tenant) == owner.tenant,
        col(CheckinRow.owner) == owner.user,
    )


def _team_checkin(row: TeamCheckinRow) -> TeamCheckin:
    return TeamCheckin(
        id=row.id,
        place=ConversationRef(
            platform=Platform(row.platform),
            tenant=row.tenant,
            conversation=row.conversation,
            kind=ConversationKind(row.kind),
            thread=row.thread,
            service_url=row.service_url,
        ),
        work=row.work,
        started_by=row.started_by,
        status=row.status,
        opened_at=row.opened_at,
        closes_at=row.closes_at,
        closed_at=row.closed_at,
        participants=row.participants,
        card=row.card_message,
    )


class SqlTeamCheckins(SqlStore):
    """Team check-ins in ``team_checkins`` and ``team_ratings``."""

    async def activity(self, periods: Sequence[Period]) -> dict[str, PeriodCount]:
        named = (
            select_columns(
                period_case(col(TeamCheckinRow.closed_at), periods).label("period"),
                literal(1).label("one"),
                col(TeamCheckinRow.participants).label("people"),
            )
            .where(col(TeamCheckinRow.status) == "closed", col(TeamCheckinRow.participants) > 0)
            .subquery()
        )
        found = await self.session.exec(  # type: ignore[call-overload]
            select_columns(named.c.period, func.count(), func.sum(named.c.people))
            .where(named.c.period.is_not(None))
            .group_by(named.c.period)
        )
        return {str(p): PeriodCount(count=int(n), people=int(w)) for p, n, w in found}

    async def spread(self, periods: Sequence[Period]) -> dict[str, dict[tuple[str, str], int]]:
        closed = period_case(col(TeamCheckinRow.closed_at), periods).label("period")
        members = (
            select_columns(closed, col(TeamRatingRow.behaviour), col(TeamRatingRow.rating))
            .join_from(
                TeamRatingRow,
                TeamCheckinRow,
                col(TeamCheckinRow.id) == col(TeamRatingRow.team_checkin_id),
            )
            .where(col(TeamCheckinRow.status) == "closed")
            .subquery()
        )
        counts = (
            select_columns(
                closed,
                col(TeamRatingCountRow.behaviour),
                col(TeamRatingCountRow.rating),
                col(TeamRatingCountRow.count),
            )
            .join_from(
                TeamRatingCountRow,
                TeamCheckinRow,
                col(TeamCheckinRow.id) == col(TeamRatingCountRow.team_checkin_id),
            )
            .subquery()
        )
        rows = await group_by_period(self.session, members)
        rows += await group_by_period(self.session, counts, weight="count")
        found: dict[str, dict[tuple[str, str], int]] = defaultdict(dict)
        for period, behaviour, rating, count in rows:
            before = found[period].get((behaviour, rating), 0)
            found[period][(behaviour, rating)] = before + int(count)
        return dict(found)

    async def open(self, checkin: TeamCheckin) -> TeamCheckin:
        place = checkin.place
        statement = (
            conflict_insert(self.session, TeamCheckinRow)
            .values(
                id=checkin.id,
                platform=str(place.platform),
                tenant=place.tenant,
                conversation=place.conversation,
                kind=str(place.kind),
                thread=place.thread,
                service_url=place.service_url,
                work=checkin.work,
                started_by=checkin.started_by,
                status="open",
                opened_at=checkin.opened_at,
                closes_at=checkin.closes_at,
                participants=0,
            )
            .on_conflict_do_nothing()
        )
        if rowcount(await self.session.exec(statement)) == 1:
            return checkin
        existing = await self.current(place)
        if existing is None:  # pragma: no cover - the id itself collided
            raise ConcurrentUpdate(f"team check-in {checkin.id} exists")
        return existing

    async def current(self, place: ConversationRef) -> TeamCheckin | None:
        rows = await self.session.exec(
            select(TeamCheckinRow).where(
                col(TeamCheckinRow.platform) == str(place.platform),
                col(TeamCheckinRow.tenant) == place.tenant,
                col(TeamCheckinRow.conversation) == place.conversation,
                col(TeamCheckinRow.status) == "open",
            )
        )
        row = rows.first()
        return None if row is None else _team_checkin(row)

    async def get(self, checkin_id: str) -> TeamCheckin | None:
        row = await self.session.get(TeamCheckinRow, checkin_id)
        return None if row is None else _team_checkin(row)

    async def last_closed(self, place: ConversationRef) -> TeamCheckin | None:
        rows = await self.session.exec(
            select(TeamCheckinRow)
            .where(
                col(TeamCheckinRow.platform) == str(place.platform),
                col(TeamCheckinRow.tenant) == place.tenant,
                col(TeamCheckinRow.conversation) == place.conversation,
                col(TeamCheckinRow.status) == "closed",
            )
            .order_by(col(TeamCheckinRow.closed_at).desc())
            .limit(1)
        )
        row = rows.first()
        return None if row is None else _team_checkin(row)

    async def rate(
        self, checkin_id: str, member_key: str, ratings: Mapping[str, str]
    ) -> RateOutcome:
        # Touching the row first locks it (PostgreSQL) and proves it is still open, so a close
        # running at the same moment waits for this answer and counts it.
        still_open = await self.session.exec(
            update(TeamCheckinRow)
            .where(col(TeamCheckinRow.id) == checkin_id, col(TeamCheckinRow.status) == "open")
            .values(participants=col(TeamCheckinRow.participants))
            .execution_options(synchronize_session=False)
        )
        if rowcount(still_open) != 1:
            return RateOutcome.CLOSED
        removed = await self.session.exec(
            delete(TeamRatingRow).where(
                col(TeamRatingRow.team_checkin_id) == checkin_id,
                col(TeamRatingRow.member_key) == member_key,
            )
        )
        self.session.add_all(
            TeamRatingRow(team_checkin_id=checkin_id, member_key=member_key, behaviour=b, rating=r)
            for b, r in ratings.items()
        )
        await self.session.flush()
        if rowcount(removed) > 0:
            return RateOutcome.REPLACED
        await self.session.exec(
            update(TeamCheckinRow)
            .where(col(TeamCheckinRow.id) == checkin_id)
            .values(participants=col(TeamCheckinRow.participants) + 1)
            .execution_options(synchronize_session=False)
        )
        return RateOutcome.NEW

    async def close(self, checkin_id: str, now: datetime) -> TeamCheckin | None:
        closed = await self.session.exec(
            update(TeamCheckinRow)
            .where(col(TeamCheckinRow.id) == checkin_id, col(TeamCheckinRow.status) == "open")
            .values(status="closed", closed_at=now)
            .execution_options(synchronize_session=False)
        )
        if rowcount(closed) != 1:
            return None
        row = await self.session.get(TeamCheckinRow, checkin_id, populate_existing=True)
        return None if row is None else _team_checkin(row)

    async def card_posted(self, checkin_id: str, message_id: str) -> TeamCheckin | None:
        await self.session.exec(
            update(TeamCheckinRow)
            .where(col(TeamCheckinRow.id) == checkin_id)
            .values(card_message=message_id)
            .execution_options(synchronize_session=False)
        )
        row = await self.session.get(TeamCheckinRow, checkin_id, populate_existing=True)
        return None if row is None else _team_checkin(row)

    async def due(
        self, now: datetime, limit: int, platforms: Sequence[str] | None = None
    ) -> list[TeamCheckin]:
        statement = select(TeamCheckinRow).where(
            col(TeamCheckinRow.status) == "open", col(TeamCheckinRow.closes_at) <= now
        )
        if platforms is not None:
            statement = statement.where(col(TeamCheckinRow.platform).in_(list(platforms)))
        rows = await self.session.exec(
            statement.order_by(col(TeamCheckinRow.closes_at)).limit(limit)
        )
        return [_team_checkin(r) for r in rows]

    async def tally(self, checkin_id: str) -> TeamTally:
        row = await self.session.get(TeamCheckinRow, checkin_id, populate_existing=True)
        if row is None:
            raise KeyError(checkin_id)
        counted = await self.session.exec(
            select(TeamRatingRow.behaviour, TeamRatingRow.rating, func.count())
            .where(col(TeamRatingRow.team_checkin_id) == checkin_id)
            .group_by(col(TeamRatingRow.behaviour), col(TeamRatingRow.rating))
        )
        counts: dict[str, dict[str, int]] = defaultdict(dict)
        for behaviour, rating, count in counted:
            counts[behaviour][rating] = int(count)
        kept = await self.session.exec(
            select(TeamRatingCountRow).where(col(TeamRatingCountRow.team_checkin_id) == checkin_id)
        )
        for summary in kept:
            before = counts[summary.behaviour].get(summary.rating, 0)
            counts[summary.behaviour][summary.rating] = before + summary.count
        return TeamTally(
            checkin=_team_checkin(row), participants=row.participants, counts=dict(counts)
        )

    async def ids_in(self, platform: str, tenant: str) -> list[str]:
        rows = await self.session.exec(
            select(TeamCheckinRow.id)
            .where(col(TeamCheckinRow.platform) == platform, col(TeamCheckinRow.tenant) == tenant)
            .order_by(col(TeamCheckinRow.opened_at), col(TeamCheckinRow.id))
        )
        return list(rows)

    async def ratings_of(self, member_keys: Mapping[str, str]) -> list[TeamRatings]:
        found: dict[str, dict[str, str]] = defaultdict(dict)
        pairs = list(member_keys.items())
        for chunk in chunks(pairs, ROWS_AT_ONCE):
            rows = await self.session.exec(
                select(TeamRatingRow).where(
                    tuple_(col(TeamRatingRow.team_checkin_id), col(TeamRatingRow.member_key)).in_(
                        chunk
                    )
                )
            )
            for rating in rows:
                found[rating.team_checkin_id][rating.behaviour] = rating.rating
        if not found:
            return []
        checkins = await self.session.exec(
            select(TeamCheckinRow)
            .where(col(TeamCheckinRow.id).in_(list(found)))
            .order_by(col(TeamCheckinRow.opened_at), col(TeamCheckinRow.id))
        )
        return [
            TeamRatings(checkin=_team_checkin(row), ratings=dict(found[row.id])) for row in checkins
        ]

    async def started_by(self, platform: str, tenant: str, user: str) -> list[TeamCheckin]:
        rows = await self.session.exec(
            select(TeamCheckinRow)
            .where(
                col(TeamCheckinRow.platform) == platform,
                col(TeamCheckinRow.tenant) == tenant,
                col(TeamCheckinRow.started_by) == user,
            )
            .order_by(col(TeamCheckinRow.opened_at).desc(), col(TeamCheckinRow.id))
        )
        return [_team_checkin(r) for r in rows]

    async def forget_member(self, member_keys: Mapping[str, str]) -> int:
        held = [r.checkin for r in await self.ratings_of(member_keys)]
        for checkin in held:
            await self.session.exec(
                delete(TeamRatingRow)
                .where(
                    col(TeamRatingRow.team_checkin_id) == checkin.id,
                    col(TeamRatingRow.member_key) == member_keys[checkin.id],
                )
                .execution_options(synchronize_session=False)
            )
            if checkin.is_open:
                await self.session.exec(
                    update(TeamCheckinRow)
                    .where(
                        col(TeamCheckinRow.id) == checkin.id, col(TeamCheckinRow.participants) > 0
                    )
                    .values(participants=col(TeamCheckinRow.participants) - 1)
                    .execution_options(synchronize_session=False)
                )
        return len(held)

    async def forget_starter(self, platform: str, tenant: str, user: str) -> int:
        changed = await self.session.exec(
            update(TeamCheckinRow)
            .where(
                col(TeamCheckinRow.platform) == platform,
                col(TeamCheckinRow.tenant) == tenant,
                col(TeamCheckinRow.started_by) == user,
            )
            .values(started_by="")
            .execution_options(synchronize_session=False)
        )
        return rowcount(changed)

    async def summarise_before(self, when: datetime) -> int:
        closed = list(
            await self.session.exec(
                select(TeamCheckinRow.id).where(
                    col(TeamCheckinRow.status) == "closed",
                    col(TeamCheckinRow.closed_at) < when,
                    select(TeamRatingRow.team_checkin_id)
                    .where(col(TeamRatingRow.team_checkin_id) == col(TeamCheckinRow.id))
                    .exists(),
                )
            )
        )
        for checkin_id in closed:
            counted = await self.session.exec(
                select(TeamRatingRow.behaviour, TeamRatingRow.rating, func.count())
                .where(col(TeamRatingRow.team_checkin_id) == checkin_id)
                .group_by(col(TeamRatingRow.behaviour), col(TeamRatingRow.rating))
            )
            for behaviour, rating, count in list(counted):
                await self.session.exec(
                    conflict_insert(self.session, TeamRatingCountRow)
                    .values(
                        team_checkin_id=checkin_id,
                        behaviour=behaviour,
                        rating=rating,
                        count=int(count),
                    )
                    .on_conflict_do_update(
                        index_elements=["team_checkin_id", "behaviour", "rating"],
                        set_={"count": col(TeamRatingCountRow.count) + int(count)},
                    )
                )
            await self.session.exec(
                delete(TeamRatingRow)
                .where(col(TeamRatingRow.team_checkin_id) == checkin_id)
                .execution_options(synchronize_session=False)
            )
        return len(closed)
