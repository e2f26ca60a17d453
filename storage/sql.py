"""The stores of ``storage.base`` on SQLAlchemy, for SQLite and PostgreSQL alike.

Conflicts are settled by the database, not by reading first: inserts that may collide use
``INSERT ... ON CONFLICT DO NOTHING`` and look at the row count, updates carry the version or
status they expect in their ``WHERE``. So two clicks, two retries or two instances at once still
leave exactly one result.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import (
    String,
    case,
    delete,
    func,
    insert,
    literal,
    literal_column,
    null,
    tuple_,
    update,
)
from sqlalchemy import select as select_columns
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.sql.expression import ColumnClause
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.events import Actor, ConversationKind, ConversationRef, Platform
from storage.base import (
    AnswerOutcome,
    BarometerAnswer,
    BarometerComment,
    BarometerRound,
    BarometerTally,
    CaseStudy,
    CaseStudyStatus,
    Checkin,
    ClaimedMessage,
    Commitment,
    CommitmentStatus,
    ConcurrentUpdate,
    ConsolePost,
    DeliveryProgress,
    DialogKey,
    DialogState,
    DigestRun,
    DigestRunStatus,
    DigestSchedule,
    DigestScheduleStatus,
    OutboxMessage,
    OutboxStatus,
    Person,
    PersonKey,
    RateOutcome,
    RatingEntry,
    RoundGroup,
    RoundQuestion,
    RoundScalePoint,
    Schedule,
    ScheduleRun,
    SendStart,
    SendToStart,
    TeamCheckin,
    TeamTally,
)
from storage.tables import (
    BarometerCommentRow,
    BarometerParticipationRow,
    BarometerResponseRow,
    BarometerRoundRow,
    CaseStudyRow,
    ChangeMarkerRow,
    CheckinRatingRow,
    CheckinRow,
    CommitmentRow,
    ConsolePostRow,
    ConversationRow,
    DialogStateRow,
    DigestItemRow,
    DigestRunRow,
    DigestScheduleRow,
    MetaRow,
    OutboxRow,
    PersonRow,
    PersonWeekRow,
    ProcessedEventRow,
    RateBucketRow,
    ScheduleRow,
    ScheduleRunRow,
    TeamCheckinRow,
    TeamRatingRow,
)

# While a bucket recovers from a 429, its slots are this much further apart (80% of its speed).
SLOWED_STEP = 1.25
# Person-weeks counted by one statement when a batch is claimed (5 parameters each, well within
# SQLite's and asyncpg's limits).
CAP_ROWS_AT_ONCE = 150
# Rows one statement names when sends start or finish together (outbox rows, send budgets) or a
# batch's people are read (up to three parameters a row).
ROWS_AT_ONCE = 250

_T = TypeVar("_T")


def _insert(session: AsyncSession, table: type[SQLModel]) -> Any:
    """An INSERT that knows ON CONFLICT, in the session's dialect."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table)


def _rowcount(result: CursorResult[Any]) -> int:
    return int(result.rowcount)


def _chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    """``items`` in slices of at most ``size`` (statements with a bounded parameter count)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _Store:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session


class SqlDialogs(_Store):
    """Dialog states in ``dialog_states``."""

    async def load(self, key: DialogKey) -> DialogState | None:
        row = await self.session.get(
            DialogStateRow, (key.platform, key.tenant, key.conversation, key.actor)
        )
        if row is None:
            return None
        return DialogState(
            dialog=row.dialog,
            step=row.step,
            data=dict(row.data),
            version=row.version,
            started_at=row.started_at,
        )

    async def save(self, key: DialogKey, state: DialogState, now: datetime) -> DialogState:
        started = state.started_at or now
        if state.version == 0:
            statement = (
                _insert(self.session, DialogStateRow)
                .values(
                    platform=key.platform,
                    tenant=key.tenant,
                    conversation=key.conversation,
                    actor=key.actor,
                    dialog=state.dialog,
                    step=state.step,
                    data=state.data,
                    version=1,
                    started_at=started,
                    updated_at=now,
                )
                .on_conflict_do_nothing()
            )
        else:
            statement = (
                update(DialogStateRow)
                .where(
                    col(DialogStateRow.platform) == key.platform,
                    col(DialogStateRow.tenant) == key.tenant,
                    col(DialogStateRow.conversation) == key.conversation,
                    col(DialogStateRow.actor) == key.actor,
                    col(DialogStateRow.version) == state.version,
                )
                .values(
                    dialog=state.dialog,
                    step=state.step,
                    data=state.data,
                    version=state.version + 1,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
        if _rowcount(await self.session.exec(statement)) != 1:
            raise ConcurrentUpdate(f"dialog state of {key} changed meanwhile")
        return DialogState(
            dialog=state.dialog,
            step=state.step,
            data=state.data,
            version=state.version + 1,
            started_at=started,
        )

    async def delete(self, key: DialogKey, state: DialogState) -> None:
        if state.version == 0:
            return
        statement = (
            delete(DialogStateRow)
            .where(
                col(DialogStateRow.platform) == key.platform,
                col(DialogStateRow.tenant) == key.tenant,
                col(DialogStateRow.conversation) == key.conversation,
                col(DialogStateRow.actor) == key.actor,
                col(DialogStateRow.version) == state.version,
            )
            .execution_options(synchronize_session=False)
        )
        if _rowcount(await self.session.exec(statement)) != 1:
            raise ConcurrentUpdate(f"dialog state of {key} changed meanwhile")


class SqlEventLog(_Store):
    """Handled events in ``processed_events``."""

    async def first_time(self, platform: str, event_id: str, now: datetime) -> bool:
        statement = (
            _insert(self.session, ProcessedEventRow)
            .values(platform=platform, event_id=event_id, handled_at=now)
            .on_conflict_do_nothing()
        )
        return _rowcount(await self.session.exec(statement)) == 1

    async def forget_before(self, when: datetime) -> int:
        statement = delete(ProcessedEventRow).where(col(ProcessedEventRow.handled_at) < when)
        return _rowcount(await self.session.exec(statement))


def _person(row: PersonRow) -> Person:
    return Person(
        key=PersonKey(row.platform, row.tenant, row.user_id),
        display_name=row.display_name,
        timezone=row.timezone,
        direct_conversation=row.direct_conversation,
        service_url=row.service_url,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        extra=dict(row.extra or {}),
    )


class SqlPeople(_Store):
    """People in ``people`` and conversations in ``conversations``."""

    async def seen(self, place: ConversationRef, actor: Actor, now: datetime) -> None:
        platform = str(place.platform)
        person: dict[str, Any] = {"last_seen": now}
        if actor.name:
            person["display_name"] = actor.name
        if actor.timezone:
            person["timezone"] = actor.timezone
        if place.extra:
            person["extra"] = dict(place.extra)
        if place.is_direct:
            person["direct_conversation"] = place.conversation
            if place.service_url:
                person["service_url"] = place.service_url
        upsert_person = (
            _insert(self.session, PersonRow)
            .values(
                platform=platform,
                tenant=place.tenant,
                user_id=actor.id,
                display_name=actor.name,
                timezone=actor.timezone,
                direct_conversation=place.conversation if place.is_direct else None,
                service_url=place.service_url,
                extra=dict(place.extra),
                first_seen=now,
                last_seen=now,
            )
            .on_conflict_do_update(index_elements=["platform", "tenant", "user_id"], set_=person)
        )
        await self.session.exec(upsert_person)
        conversation: dict[str, Any] = {"last_seen": now, "kind": str(place.kind)}
        if place.service_url:
            conversation["service_url"] = place.service_url
        if place.extra:
            conversation["extra"] = dict(place.extra)
        upsert_conversation = (
            _insert(self.session, ConversationRow)
            .values(
                platform=platform,
                tenant=place.tenant,
                conversation=place.conversation,
                kind=str(place.kind),
                service_url=place.service_url,
                extra=dict(place.extra),
                first_seen=now,
                last_seen=now,
            )
            .on_conflict_do_update(
                index_elements=["platform", "tenant", "conversation"], set_=conversation
            )
        )
        await self.session.exec(upsert_conversation)

    async def get(self, key: PersonKey) -> Person | None:
        row = await self.session.get(PersonRow, (key.platform, key.tenant, key.user))
        return None if row is None else _person(row)

    async def get_many(self, keys: Sequence[PersonKey]) -> dict[PersonKey, Person]:
        found: dict[PersonKey, Person] = {}
        wanted = list(dict.fromkeys((k.platform, k.tenant, k.user) for k in keys))
        for chunk in _chunks(wanted, ROWS_AT_ONCE):
            rows = await self.session.exec(
                select(PersonRow).where(
                    tuple_(
                        col(PersonRow.platform), col(PersonRow.tenant), col(PersonRow.user_id)
                    ).in_(chunk)
                )
            )
            for row in rows:
                person = _person(row)
                found[person.key] = person
        return found

    async def conversation(
        self, platform: str, tenant: str, conversation: str
    ) -> ConversationRef | None:
        row = await self.session.get(ConversationRow, (platform, tenant, conversation))
        if row is None:
            return None
        return ConversationRef(
            platform=Platform(row.platform),
            tenant=row.tenant,
            conversation=row.conversation,
            kind=ConversationKind(row.kind),
            service_url=row.service_url,
            extra=dict(row.extra or {}),
        )

    async def everyone(self) -> list[PersonKey]:
        rows = await self.session.exec(
            select(PersonRow.platform, PersonRow.tenant, PersonRow.user_id).order_by(
                col(PersonRow.platform), col(PersonRow.tenant), col(PersonRow.user_id)
            )
        )
        return [PersonKey(platform, tenant, user) for platform, tenant, user in rows]


class SqlCheckins(_Store):
    """Personal check-ins in ``checkins`` and ``checkin_ratings``."""

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
    )


class SqlTeamCheckins(_Store):
    """Team check-ins in ``team_checkins`` and ``team_ratings``."""

    async def open(self, checkin: TeamCheckin) -> TeamCheckin:
        place = checkin.place
        statement = (
            _insert(self.session, TeamCheckinRow)
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
        if _rowcount(await self.session.exec(statement)) == 1:
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
        if _rowcount(still_open) != 1:
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
        if _rowcount(removed) > 0:
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
        if _rowcount(closed) != 1:
            return None
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
        return TeamTally(
            checkin=_team_checkin(row), participants=row.participants, counts=dict(counts)
        )


def _commitment(row: CommitmentRow) -> Commitment:
    return Commitment(
        id=row.id,
        owner=PersonKey(row.platform, row.tenant, row.owner),
        text=row.text,
        behaviours=tuple(row.behaviours),
        source=row.source,
        status=row.status,
        review_on=row.review_on,
        created_at=row.created_at,
        shared_at=row.shared_at,
        done_at=row.done_at,
        review_nudged_at=row.review_nudged_at,
    )


def _owned_by(owner: PersonKey) -> tuple[Any, ...]:
    return (
        col(CommitmentRow.platform) == owner.platform,
        col(CommitmentRow.tenant) == owner.tenant,
        col(CommitmentRow.owner) == owner.user,
    )


class SqlCommitments(_Store):
    """Commitments in ``commitments``."""

    async def add(self, commitment: Commitment) -> Commitment:
        statement = (
            _insert(self.session, CommitmentRow)
            .values(
                id=commitment.id,
                platform=commitment.owner.platform,
                tenant=commitment.owner.tenant,
                owner=commitment.owner.user,
                text=commitment.text,
                behaviours=list(commitment.behaviours),
                source=commitment.source,
                status=commitment.status,
                review_on=commitment.review_on,
                created_at=commitment.created_at,
                updated_at=commitment.created_at,
                shared_at=commitment.shared_at,
                done_at=commitment.done_at,
                review_nudged_at=commitment.review_nudged_at,
            )
            .on_conflict_do_nothing()
        )
        if _rowcount(await self.session.exec(statement)) == 1 or commitment.source is None:
            return commitment
        existing = await self.by_source(commitment.source)
        if existing is None:  # pragma: no cover - the id itself collided
            raise ConcurrentUpdate(f"commitment {commitment.id} exists")
        return existing

    async def get(self, commitment_id: str) -> Commitment | None:
        row = await self.session.get(CommitmentRow, commitment_id, populate_existing=True)
        return None if row is None else _commitment(row)

    async def for_owner(self, owner: PersonKey, limit: int) -> list[Commitment]:
        rows = await self.session.exec(
            select(CommitmentRow)
            .where(*_owned_by(owner))
            .order_by(col(CommitmentRow.created_at).desc(), col(CommitmentRow.id))
            .limit(limit)
        )
        return [_commitment(r) for r in rows]

    async def by_source(self, source: str) -> Commitment | None:
        rows = await self.session.exec(
            select(CommitmentRow).where(col(CommitmentRow.source) == source)
        )
        row = rows.first()
        return None if row is None else _commitment(row)

    async def _change(
        self, commitment_id: str, owner: PersonKey, values: dict[str, Any]
    ) -> Commitment | None:
        changed = await self.session.exec(
            update(CommitmentRow)
            .where(col(CommitmentRow.id) == commitment_id, *_owned_by(owner))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if _rowcount(changed) != 1:
            return None
        return await self.get(commitment_id)

    async def edit(
        self,
        commitment_id: str,
        owner: PersonKey,
        *,
        text: str,
        behaviours: Sequence[str],
        review_on: date | None,
        now: datetime,
    ) -> Commitment | None:
        current = await self.get(commitment_id)
        if current is None or current.owner != owner:
            return None
        values: dict[str, Any] = {
            "text": text,
            "behaviours": list(behaviours),
            "review_on": review_on,
            "updated_at": now,
        }
        if review_on != current.review_on:
            values["review_nudged_at"] = None
        return await self._change(commitment_id, owner, values)

    async def set_status(
        self, commitment_id: str, owner: PersonKey, status: str, now: datetime
    ) -> Commitment | None:
        done_at = now if status == CommitmentStatus.DONE else None
        return await self._change(
            commitment_id, owner, {"status": status, "done_at": done_at, "updated_at": now}
        )

    async def set_review(
        self, commitment_id: str, owner: PersonKey, review_on: date | None, now: datetime
    ) -> Commitment | None:
        return await self._change(
            commitment_id,
            owner,
            {"review_on": review_on, "review_nudged_at": None, "updated_at": now},
        )

    async def mark_shared(self, commitment_id: str, owner: PersonKey, now: datetime) -> bool:
        shared = await self.session.exec(
            update(CommitmentRow)
            .where(
                col(CommitmentRow.id) == commitment_id,
                *_owned_by(owner),
                col(CommitmentRow.shared_at).is_(None),
            )
            .values(shared_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return _rowcount(shared) == 1

    async def delete(self, commitment_id: str, owner: PersonKey) -> bool:
        removed = await self.session.exec(
            delete(CommitmentRow)
            .where(col(CommitmentRow.id) == commitment_id, *_owned_by(owner))
            .execution_options(synchronize_session=False)
        )
        return _rowcount(removed) == 1

    @staticmethod
    def _shared(platform: str, tenant: str, after: datetime, until: datetime) -> tuple[Any, ...]:
        return (
            col(CommitmentRow.platform) == platform,
            col(CommitmentRow.tenant) == tenant,
            col(CommitmentRow.shared_at) > after,
            col(CommitmentRow.shared_at) <= until,
        )

    async def shared_between(
        self, platform: str, tenant: str, after: datetime, until: datetime, limit: int
    ) -> list[Commitment]:
        rows = await self.session.exec(
            select(CommitmentRow)
            .where(*self._shared(platform, tenant, after, until))
            .order_by(col(CommitmentRow.shared_at).desc(), col(CommitmentRow.id))
            .limit(limit)
        )
        return [_commitment(r) for r in rows]

    async def count_shared_between(
        self, platform: str, tenant: str, after: datetime, until: datetime
    ) -> int:
        found = await self.session.exec(
            select(func.count()).where(*self._shared(platform, tenant, after, until))
        )
        return int(found.one())

    async def due_for_review(self, today: date, limit: int) -> list[Commitment]:
        rows = await self.session.exec(
            select(CommitmentRow)
            .where(
                col(CommitmentRow.status) == CommitmentStatus.OPEN,
                col(CommitmentRow.review_on) <= today,
                col(CommitmentRow.review_nudged_at).is_(None),
            )
            .order_by(col(CommitmentRow.review_on), col(CommitmentRow.id))
            .limit(limit)
        )
        return [_commitment(r) for r in rows]

    async def mark_nudged(self, commitment_id: str, review_on: date, now: datetime) -> bool:
        marked = await self.session.exec(
            update(CommitmentRow)
            .where(
                col(CommitmentRow.id) == commitment_id,
                col(CommitmentRow.review_on) == review_on,
                col(CommitmentRow.review_nudged_at).is_(None),
            )
            .values(review_nudged_at=now)
            .execution_options(synchronize_session=False)
        )
        return _rowcount(marked) == 1


def _case_study(row: CaseStudyRow) -> CaseStudy:
    return CaseStudy(
        id=row.id,
        author=PersonKey(row.platform, row.tenant, row.author),
        title=row.title,
        story=row.story,
        behaviours=tuple(row.behaviours),
        difference=row.difference,
        named=row.named,
        status=row.status,
        revision=row.revision,
        moderator=row.moderator,
        moderator_note=row.moderator_note,
        submitted_at=row.submitted_at,
        decided_at=row.decided_at,
    )


class SqlCaseStudies(_Store):
    """Case studies in ``case_studies``; what went into digests in ``digest_items``."""

    async def add(self, case_study: CaseStudy) -> bool:
        statement = (
            _insert(self.session, CaseStudyRow)
            .values(
                id=case_study.id,
                platform=case_study.author.platform,
                tenant=case_study.author.tenant,
                author=case_study.author.user,
                title=case_study.title,
                story=case_study.story,
                behaviours=list(case_study.behaviours),
                difference=case_study.difference,
                named=case_study.named,
                status=case_study.status,
                revision=case_study.revision,
                moderator=case_study.moderator,
                moderator_note=case_study.moderator_note,
                submitted_at=case_study.submitted_at,
                decided_at=case_study.decided_at,
                updated_at=case_study.submitted_at,
            )
            .on_conflict_do_nothing()
        )
        return _rowcount(await self.session.exec(statement)) == 1

    async def get(self, case_study_id: str) -> CaseStudy | None:
        row = await self.session.get(CaseStudyRow, case_study_id, populate_existing=True)
        return None if row is None else _case_study(row)

    async def resubmit(
        self,
        case_study_id: str,
        author: PersonKey,
        *,
        title: str,
        story: str,
        behaviours: Sequence[str],
        difference: str,
        named: bool,
        now: datetime,
    ) -> CaseStudy | None:
        changed = await self.session.exec(
            update(CaseStudyRow)
            .where(
                col(CaseStudyRow.id) == case_study_id,
                col(CaseStudyRow.platform) == author.platform,
                col(CaseStudyRow.tenant) == author.tenant,
                col(CaseStudyRow.author) == author.user,
                col(CaseStudyRow.status).in_(
                    [CaseStudyStatus.PENDING, CaseStudyStatus.CHANGES_REQUESTED]
                ),
            )
            .values(
                title=title,
                story=story,
                behaviours=list(behaviours),
                difference=difference,
                named=named,
                status=CaseStudyStatus.PENDING,
                revision=col(CaseStudyRow.revision) + 1,
                submitted_at=now,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if _rowcount(changed) != 1:
            return None
        return await self.get(case_study_id)

    async def decide(
        self,
        case_study_id: str,
        revision: int,
        status: str,
        moderator: str,
        note: str | None,
        now: datetime,
    ) -> CaseStudy | None:
        decided = await self.session.exec(
            update(CaseStudyRow)
            .where(
                col(CaseStudyRow.id) == case_study_id,
                col(CaseStudyRow.revision) == revision,
                col(CaseStudyRow.status) == CaseStudyStatus.PENDING,
            )
            .values(
                status=status,
                moderator=moderator,
                moderator_note=note,
                decided_at=now,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if _rowcount(decided) != 1:
            return None
        return await self.get(case_study_id)

    async def pending(self, platform: str, tenant: str, limit: int) -> list[CaseStudy]:
        rows = await self.session.exec(
            select(CaseStudyRow)
            .where(
                col(CaseStudyRow.platform) == platform,
                col(CaseStudyRow.tenant) == tenant,
                col(CaseStudyRow.status) == CaseStudyStatus.PENDING,
            )
            .order_by(col(CaseStudyRow.submitted_at), col(CaseStudyRow.id))
            .limit(limit)
        )
        return [_case_study(r) for r in rows]

    async def for_author(self, author: PersonKey, limit: int) -> list[CaseStudy]:
        rows = await self.session.exec(
            select(CaseStudyRow)
            .where(
                col(CaseStudyRow.platform) == author.platform,
                col(CaseStudyRow.tenant) == author.tenant,
                col(CaseStudyRow.author) == author.user,
            )
            .order_by(col(CaseStudyRow.submitted_at).desc(), col(CaseStudyRow.id))
            .limit(limit)
        )
        return [_case_study(r) for r in rows]

    async def approved_for_digest(
        self, place: ConversationRef, after: datetime, until: datetime, limit: int
    ) -> list[CaseStudy]:
        platform = str(place.platform)
        already = select(DigestItemRow.case_study_id).where(
            col(DigestItemRow.platform) == platform,
            col(DigestItemRow.tenant) == place.tenant,
            col(DigestItemRow.conversation) == place.conversation,
        )
        rows = await self.session.exec(
            select(CaseStudyRow)
            .where(
                col(CaseStudyRow.platform) == platform,
                col(CaseStudyRow.tenant) == place.tenant,
                col(CaseStudyRow.status) == CaseStudyStatus.APPROVED,
                col(CaseStudyRow.decided_at) > after,
                col(CaseStudyRow.decided_at) <= until,
                col(CaseStudyRow.id).not_in(already),
            )
            .order_by(col(CaseStudyRow.decided_at), col(CaseStudyRow.id))
            .limit(limit)
        )
        return [_case_study(r) for r in rows]


def _place(row: DigestScheduleRow | DigestRunRow) -> ConversationRef:
    return ConversationRef(
        platform=Platform(row.platform),
        tenant=row.tenant,
        conversation=row.conversation,
        kind=ConversationKind(row.kind),
        service_url=row.service_url,
    )


def _digest_schedule(row: DigestScheduleRow) -> DigestSchedule:
    return DigestSchedule(
        id=row.id,
        place=_place(row),
        label=row.label,
        weekday=row.weekday,
        hour=row.hour,
        minute=row.minute,
        timezone=row.timezone,
        if_empty=row.if_empty,
        status=row.status,
        created_by=row.created_by,
        created_at=row.created_at,
        active_since=row.active_since,
    )


def _run(row: DigestRunRow) -> DigestRun:
    return DigestRun(
        id=row.id,
        schedule_id=row.schedule_id,
        period=row.period,
        place=_place(row),
        claimed_at=row.claimed_at,
        as_of=row.as_of,
        status=row.status,
        body=row.body,
        case_studies=row.case_studies,
        commitments=row.commitments,
    )


class SqlDigests(_Store):
    """Digest schedules in ``digest_schedules``, runs in ``digest_runs``, contents in
    ``digest_items``."""

    async def save_schedule(self, schedule: DigestSchedule, now: datetime) -> DigestSchedule:
        place = schedule.place
        timing = {
            "label": schedule.label,
            "weekday": schedule.weekday,
            "hour": schedule.hour,
            "minute": schedule.minute,
            "timezone": schedule.timezone,
            "if_empty": schedule.if_empty,
            "status": schedule.status,
            "active_since": schedule.active_since,
            "updated_at": now,
        }
        if place.service_url:
            timing["service_url"] = place.service_url
        row = {
            "id": schedule.id,
            "platform": str(place.platform),
            "tenant": place.tenant,
            "conversation": place.conversation,
            "kind": str(place.kind),
            "service_url": place.service_url,
            "created_by": schedule.created_by,
            "created_at": schedule.created_at,
            **timing,
        }
        await self.session.exec(
            _insert(self.session, DigestScheduleRow)
            .values(**row)
            .on_conflict_do_update(
                index_elements=["platform", "tenant", "conversation"], set_=timing
            )
        )
        rows = await self.session.exec(
            select(DigestScheduleRow)
            .where(
                col(DigestScheduleRow.platform) == str(place.platform),
                col(DigestScheduleRow.tenant) == place.tenant,
                col(DigestScheduleRow.conversation) == place.conversation,
            )
            .execution_options(populate_existing=True)
        )
        return _digest_schedule(rows.one())

    async def schedules(
        self, platform: str | None = None, tenant: str | None = None
    ) -> list[DigestSchedule]:
        statement = select(DigestScheduleRow)
        if platform is not None:
            statement = statement.where(col(DigestScheduleRow.platform) == platform)
        if tenant is not None:
            statement = statement.where(col(DigestScheduleRow.tenant) == tenant)
        rows = await self.session.exec(
            statement.order_by(col(DigestScheduleRow.created_at), col(DigestScheduleRow.id))
        )
        return [_digest_schedule(r) for r in rows]

    async def get_schedule(self, schedule_id: str) -> DigestSchedule | None:
        row = await self.session.get(DigestScheduleRow, schedule_id, populate_existing=True)
        return None if row is None else _digest_schedule(row)

    async def set_schedule_status(
        self, schedule_id: str, status: str, now: datetime
    ) -> DigestSchedule | None:
        values: dict[str, Any] = {"status": status, "updated_at": now}
        if status == DigestScheduleStatus.ACTIVE:
            values["active_since"] = now
        await self.session.exec(
            update(DigestScheduleRow)
            .where(col(DigestScheduleRow.id) == schedule_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return await self.get_schedule(schedule_id)

    async def delete_schedule(self, schedule_id: str) -> bool:
        removed = await self.session.exec(
            delete(DigestScheduleRow)
            .where(col(DigestScheduleRow.id) == schedule_id)
            .execution_options(synchronize_session=False)
        )
        return _rowcount(removed) == 1

    async def claim(self, run: DigestRun) -> bool:
        place = run.place
        claimed = await self.session.exec(
            _insert(self.session, DigestRunRow)
            .values(
                id=run.id,
                schedule_id=run.schedule_id,
                period=run.period,
                platform=str(place.platform),
                tenant=place.tenant,
                conversation=place.conversation,
                kind=str(place.kind),
                service_url=place.service_url,
                claimed_at=run.claimed_at,
                as_of=run.as_of,
                status=DigestRunStatus.CLAIMED,
                case_studies=0,
                commitments=0,
            )
            .on_conflict_do_nothing(index_elements=["schedule_id", "period"])
        )
        return _rowcount(claimed) == 1

    async def finish(
        self,
        run_id: str,
        *,
        status: str,
        body: str | None,
        case_studies: int,
        commitments: int,
    ) -> None:
        await self.session.exec(
            update(DigestRunRow)
            .where(col(DigestRunRow.id) == run_id)
            .values(status=status, body=body, case_studies=case_studies, commitments=commitments)
            .execution_options(synchronize_session=False)
        )

    async def include(self, run_id: str, place: ConversationRef, case_study_id: str) -> bool:
        included = await self.session.exec(
            _insert(self.session, DigestItemRow)
            .values(
                platform=str(place.platform),
                tenant=place.tenant,
                conversation=place.conversation,
                case_study_id=case_study_id,
                run_id=run_id,
            )
            .on_conflict_do_nothing()
        )
        return _rowcount(included) == 1

    async def run_for(self, schedule_id: str, period: str) -> DigestRun | None:
        rows = await self.session.exec(
            select(DigestRunRow).where(
                col(DigestRunRow.schedule_id) == schedule_id, col(DigestRunRow.period) == period
            )
        )
        row = rows.first()
        return None if row is None else _run(row)

    async def get_run(self, run_id: str) -> DigestRun | None:
        row = await self.session.get(DigestRunRow, run_id, populate_existing=True)
        return None if row is None else _run(row)

    async def last_run(self, place: ConversationRef) -> DigestRun | None:
        rows = await self.session.exec(
            select(DigestRunRow)
            .where(
                col(DigestRunRow.platform) == str(place.platform),
                col(DigestRunRow.tenant) == place.tenant,
                col(DigestRunRow.conversation) == place.conversation,
            )
            .order_by(col(DigestRunRow.claimed_at).desc(), col(DigestRunRow.id).desc())
            .limit(1)
        )
        row = rows.first()
        return None if row is None else _run(row)


class SqlConsoleFeed(_Store):
    """Console conversation posts in ``console_posts``."""

    async def post(
        self, conversation: str, card: str, now: datetime, *, outbox_key: str | None = None
    ) -> int:
        row = ConsolePostRow(
            conversation=conversation, card=card, created_at=now, outbox_key=outbox_key
        )
        self.session.add(row)
        await self.session.flush()
        assert row.id is not None
        return row.id

    async def has_outbox_key(self, conversation: str, outbox_key: str) -> bool:
        found = await self.session.exec(
            select(func.count()).where(
                col(ConsolePostRow.conversation) == conversation,
                col(ConsolePostRow.outbox_key) == outbox_key,
            )
        )
        return int(found.one()) > 0

    async def since(self, conversation: str, after: int, limit: int = 100) -> list[ConsolePost]:
        rows = await self.session.exec(
            select(ConsolePostRow)
            .where(col(ConsolePostRow.conversation) == conversation, col(ConsolePostRow.id) > after)
            .order_by(col(ConsolePostRow.id))
            .limit(limit)
        )
        return [
            ConsolePost(id=r.id, conversation=r.conversation, card=r.card)
            for r in rows
            if r.id is not None
        ]

    async def last_id(self, conversation: str) -> int:
        found = await self.session.exec(
            select(func.max(ConsolePostRow.id)).where(
                col(ConsolePostRow.conversation) == conversation
            )
        )
        return int(found.one() or 0)


class SqlMeta(_Store):
    """Installation facts in ``meta``."""

    async def get(self, key: str) -> str | None:
        row = await self.session.get(MetaRow, key)
        return None if row is None else row.value

    async def put_if_absent(self, key: str, value: str) -> str:
        await self.session.exec(
            _insert(self.session, MetaRow).values(key=key, value=value).on_conflict_do_nothing()
        )
        stored = await self.session.get(MetaRow, key, populate_existing=True)
        assert stored is not None
        return stored.value

    async def put(self, key: str, value: str) -> None:
        await self.session.exec(
            _insert(self.session, MetaRow)
            .values(key=key, value=value)
            .on_conflict_do_update(index_elements=["key"], set_={"value": value})
        )

    async def starting_with(self, prefix: str) -> dict[str, str]:
        rows = await self.session.exec(
            select(MetaRow).where(func.substr(col(MetaRow.key), 1, len(prefix)) == prefix)
        )
        return {r.key: r.value for r in rows}


def _outbox_values(message: OutboxMessage, now: datetime) -> dict[str, Any]:
    return {
        "key": message.key,
        "job": message.job,
        "platform": message.platform,
        "tenant": message.tenant,
        "recipient": message.recipient,
        "to_person": message.to_person,
        "thread": message.thread,
        "card": message.card,
        "respect_working_hours": message.respect_working_hours,
        "counts_towards_cap": message.counts_towards_cap,
        "status": OutboxStatus.QUEUED.value,
        "attempts": 0,
        "next_attempt_at": message.not_before or now,
        "created_at": now,
    }


# Multi-row inserts are split so no statement passes SQLite's and asyncpg's parameter limits.
ENQUEUE_CHUNK = 500


class SqlOutbox(_Store):
    """Proactive messages in ``outbox``, as features see them."""

    async def enqueue(self, message: OutboxMessage, now: datetime) -> bool:
        statement = (
            _insert(self.session, OutboxRow)
            .values(**_outbox_values(message, now))
            .on_conflict_do_nothing()
        )
        return _rowcount(await self.session.exec(statement)) == 1

    async def enqueue_many(self, messages: Sequence[OutboxMessage], now: datetime) -> int:
        added = 0
        for chunk in _chunks(messages, ENQUEUE_CHUNK):
            values = [_outbox_values(m, now) for m in chunk]
            statement = _insert(self.session, OutboxRow).values(values).on_conflict_do_nothing()
            added += _rowcount(await self.session.exec(statement))
        return added

    async def progress(
        self, now: datetime, *, job: str | None = None, limit: int = 20
    ) -> list[DeliveryProgress]:
        window = timedelta(minutes=5)
        later = case((col(OutboxRow.next_attempt_at) > now, 1), else_=0)
        mine = [] if job is None else [col(OutboxRow.job) == job]
        jobs: dict[str, dict[str, Any]] = {}
        spans = await self.session.exec(
            select(OutboxRow.job, func.min(OutboxRow.created_at), func.max(OutboxRow.sent_at))
            .where(*mine)
            .group_by(col(OutboxRow.job))
        )
        for name, created, last_sent in spans:
            jobs[name] = {
                "job": name,
                "created_at": created,
                "last_sent_at": last_sent,
                "window": window,
            }
        counts = await self.session.exec(
            select(OutboxRow.job, OutboxRow.status, later, func.count())
            .where(*mine)
            .group_by(col(OutboxRow.job), col(OutboxRow.status), later)
        )
        for name, status, is_later, count in counts:
            entry = jobs[name]
            if status == OutboxStatus.QUEUED.value:
                field_name = "waiting" if is_later else "queued"
            elif status in (OutboxStatus.CLAIMED.value, OutboxStatus.SENDING.value):
                field_name = "in_flight"
            else:
                field_name = status
            entry[field_name] = entry.get(field_name, 0) + int(count)
        waiting = await self.session.exec(
            select(OutboxRow.job, func.min(OutboxRow.next_attempt_at))
            .where(
                *mine,
                col(OutboxRow.status) == OutboxStatus.QUEUED.value,
                col(OutboxRow.next_attempt_at) > now,
            )
            .group_by(col(OutboxRow.job))
        )
        for name, next_at in waiting:
            jobs[name]["next_waiting_at"] = next_at
        recent = await self.session.exec(
            select(OutboxRow.job, func.count())
            .where(
                *mine,
                col(OutboxRow.status) == OutboxStatus.SENT.value,
                col(OutboxRow.sent_at) >= now - window,
            )
            .group_by(col(OutboxRow.job))
        )
        for name, count in recent:
            jobs[name]["sent_recently"] = int(count)
        found = [DeliveryProgress(**entry) for entry in jobs.values()]
        found.sort(key=lambda p: (p.created_at, p.job), reverse=True)
        return found[:limit]

    async def requeue(self, job: str, status: OutboxStatus, now: datetime) -> int:
        if status not in (OutboxStatus.FAILED, OutboxStatus.UNCERTAIN):
            raise ValueError("only failed or uncertain messages can be sent again")
        statement = (
            update(OutboxRow)
            .where(col(OutboxRow.job) == job, col(OutboxRow.status) == status.value)
            .values(
                status=OutboxStatus.QUEUED.value,
                attempts=0,
                next_attempt_at=now,
                lease_owner=None,
                lease_until=None,
            )
            .execution_options(synchronize_session=False)
        )
        return _rowcount(await self.session.exec(statement))


def _later(a: Any, b: Any) -> Any:
    """The greater of two numbers, in SQL both dialects understand."""
    return case((a > b, a), else_=b)


def _claimed(row: OutboxRow, timezone: str | None = None) -> ClaimedMessage:
    assert row.id is not None
    return ClaimedMessage(
        id=row.id,
        key=row.key,
        job=row.job,
        platform=row.platform,
        tenant=row.tenant,
        recipient=row.recipient,
        to_person=row.to_person,
        thread=row.thread,
        card=row.card,
        attempts=row.attempts,
        respect_working_hours=row.respect_working_hours,
        counts_towards_cap=row.counts_towards_cap,
        cap_week=row.cap_week,
        timezone=timezone,
        sending_at=row.sending_at,
    )


class SqlDeliveryQueue(_Store):
    """The outbox as the workers see it, the shared send budgets (``rate_buckets``) and the
    weekly caps (``person_weeks``).

    Claims use ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, so workers on several
    instances take disjoint batches without waiting for each other. SQLite ignores the clause;
    there every unit of work holds the write lock from its first statement (``BEGIN
    IMMEDIATE``), so a select-then-update is already atomic.
    """

    def _held(self, message_id: int, owner: str, *statuses: OutboxStatus) -> Any:
        return (
            col(OutboxRow.id) == message_id,
            col(OutboxRow.lease_owner) == owner,
            col(OutboxRow.status).in_([s.value for s in statuses]),
        )

    def _held_all(self, message_ids: Sequence[int], owner: str, *statuses: OutboxStatus) -> Any:
        return (
            col(OutboxRow.id).in_(list(message_ids)),
            col(OutboxRow.lease_owner) == owner,
            col(OutboxRow.status).in_([s.value for s in statuses]),
        )

    async def _update(self, where: Any, **values: Any) -> bool:
        statement = (
            update(OutboxRow)
            .where(*where)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return _rowcount(await self.session.exec(statement)) == 1

    async def _timezones(self, rows: Sequence[OutboxRow]) -> dict[tuple[str, str, str], str]:
        people = {(r.platform, r.tenant, r.recipient) for r in rows if r.to_person}
        if not people:
            return {}
        found = await self.session.exec(
            select(
                PersonRow.platform, PersonRow.tenant, PersonRow.user_id, PersonRow.timezone
            ).where(
                tuple_(col(PersonRow.platform), col(PersonRow.tenant), col(PersonRow.user_id)).in_(
                    list(people)
                )
            )
        )
        return {(p, t, u): tz for p, t, u, tz in found if tz}

    async def claim(
        self,
        platforms: Sequence[str],
        owner: str,
        now: datetime,
        lease_until: datetime,
        limit: int,
    ) -> list[ClaimedMessage]:
        if not platforms or limit <= 0:
            return []
        due = await self.session.exec(
            select(OutboxRow)
            .where(
                col(OutboxRow.status) == OutboxStatus.QUEUED.value,
                col(OutboxRow.next_attempt_at) <= now,
                col(OutboxRow.platform).in_(list(platforms)),
            )
            .order_by(col(OutboxRow.next_attempt_at), col(OutboxRow.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
        rows = list(due)
        if not rows:
            return []
        await self.session.exec(
            update(OutboxRow)
            .where(col(OutboxRow.id).in_([r.id for r in rows]))
            .values(status=OutboxStatus.CLAIMED.value, lease_owner=owner, lease_until=lease_until)
            .execution_options(synchronize_session=False)
        )
        zones = await self._timezones(rows)
        return [_claimed(r, zones.get((r.platform, r.tenant, r.recipient))) for r in rows]

    async def expire_claims(self, now: datetime) -> int:
        statement = (
            update(OutboxRow)
            .where(
                col(OutboxRow.status) == OutboxStatus.CLAIMED.value,
                col(OutboxRow.lease_until) < now,
            )
            .values(status=OutboxStatus.QUEUED.value, lease_owner=None, lease_until=None)
            .execution_options(synchronize_session=False)
        )
        return _rowcount(await self.session.exec(statement))

    async def _release_cap(self, message_id: int) -> None:
        found = await self.session.exec(
            select(
                OutboxRow.platform, OutboxRow.tenant, OutboxRow.recipient, OutboxRow.cap_week
            ).where(col(OutboxRow.id) == message_id)
        )
        row = found.first()
        if row is None or row[3] is None:
            return
        platform, tenant, recipient, week = row
        await self.session.exec(
            update(PersonWeekRow)
            .where(
                col(PersonWeekRow.platform) == platform,
                col(PersonWeekRow.tenant) == tenant,
                col(PersonWeekRow.person) == recipient,
                col(PersonWeekRow.week) == week,
                col(PersonWeekRow.messages) > 0,
            )
            .values(messages=col(PersonWeekRow.messages) - 1)
            .execution_options(synchronize_session=False)
        )
        await self._update((col(OutboxRow.id) == message_id,), cap_week=None)

    async def hold_cap(self, message: ClaimedMessage, week: str, cap: int) -> bool:
        [held] = await self.hold_caps([(message, week)], cap)
        return held

    async def hold_caps(self, wanted: Sequence[tuple[ClaimedMessage, str]], cap: int) -> list[bool]:
        held = [False] * len(wanted)
        # Whose week each message would count in: a person met once in the batch is counted
        # by one multi-row upsert; a person with several messages in it, one message at a time.
        places: dict[tuple[str, str, str, str], list[int]] = defaultdict(list)
        for n, (message, week) in enumerate(wanted):
            if message.cap_week == week:
                held[n] = True
            elif cap > 0:
                if message.cap_week is not None:
                    await self._release_cap(message.id)
                places[(message.platform, message.tenant, message.recipient, week)].append(n)
        once = [place for place, seen in places.items() if len(seen) == 1]
        counted: set[tuple[str, str, str, str]] = set()
        for chunk in _chunks(once, CAP_ROWS_AT_ONCE):
            found = await self.session.exec(
                self._count_in_week(
                    [
                        {"platform": p, "tenant": t, "person": r, "week": w, "messages": 1}
                        for p, t, r, w in chunk
                    ],
                    cap,
                ).returning(
                    PersonWeekRow.platform,
                    PersonWeekRow.tenant,
                    PersonWeekRow.person,
                    PersonWeekRow.week,
                )
            )
            counted.update((str(p), str(t), str(r), str(w)) for p, t, r, w in found.all())
        for place, seen in places.items():
            if len(seen) == 1:
                held[seen[0]] = place in counted
                continue
            platform, tenant, recipient, week = place
            row = {"platform": platform, "tenant": tenant, "person": recipient, "week": week}
            for n in seen:
                statement = self._count_in_week([{**row, "messages": 1}], cap).returning(
                    PersonWeekRow.messages
                )
                held[n] = (await self.session.exec(statement)).first() is not None
        weeks: dict[str, list[int]] = defaultdict(list)
        for (message, week), ok in zip(wanted, held, strict=True):
            if ok and message.cap_week != week:
                weeks[week].append(message.id)
        for week, ids in weeks.items():
            await self.session.exec(
                update(OutboxRow)
                .where(col(OutboxRow.id).in_(ids))
                .values(cap_week=week)
                .execution_options(synchronize_session=False)
            )
        return held

    def _count_in_week(self, rows: list[dict[str, Any]], cap: int) -> Any:
        """Add one message to each row's person-week, unless it already holds ``cap``."""
        return (
            _insert(self.session, PersonWeekRow)
            .values(rows)
            .on_conflict_do_update(
                index_elements=["platform", "tenant", "person", "week"],
                set_={"messages": col(PersonWeekRow.messages) + 1},
                where=col(PersonWeekRow.messages) < cap,
            )
        )

    async def defer(
        self, message_id: int, owner: str, until: datetime, reason: str | None = None
    ) -> bool:
        values: dict[str, Any] = {
            "status": OutboxStatus.QUEUED.value,
            "next_attempt_at": until,
            "lease_owner": None,
            "lease_until": None,
        }
        if reason is not None:
            values["last_error"] = reason[:512]
        return await self._update(self._held(message_id, owner, OutboxStatus.CLAIMED), **values)

    async def start_sends(
        self, starts: Sequence[SendToStart], owner: str, now: datetime, lease_until: datetime,
        wall: float,
    ) -> list[tuple[SendStart, datetime | None]]:  # fmt: skip
        results: list[tuple[SendStart, datetime | None]] = [(SendStart.LOST, None)] * len(starts)
        held: set[int] = set()
        for ids in _chunks([s.message.id for s in starts], ROWS_AT_ONCE):
            found = await self.session.exec(
                select(OutboxRow.id)
                .where(*self._held_all(ids, owner, OutboxStatus.CLAIMED))
                .with_for_update()
            )
            held.update(i for i in found.all() if i is not None)
        # Each conversation's budget is taken once per call, by its first message here; a
        # second message to it waits for the next free moment like any busy conversation.
        first: dict[str, int] = {}
        busy: list[int] = []
        go: list[int] = []
        for n, start in enumerate(starts):
            if start.message.id not in held:
                continue
            if start.interval <= 0:
                go.append(n)
            elif start.bucket in first:
                busy.append(n)
            else:
                first[start.bucket] = n
        taken: set[str] = set()
        for buckets in _chunks(list(first), ROWS_AT_ONCE):
            statement = _insert(self.session, RateBucketRow).values(
                [
                    {"bucket": b, "tat": wall + starts[first[b]].interval, "slowed_until": 0.0}
                    for b in buckets
                ]
            )
            # A conversation free at ``wall`` (tat <= wall) sends now: its next send may go one
            # interval later.
            found = await self.session.exec(
                statement.on_conflict_do_update(
                    index_elements=["bucket"],
                    set_={"tat": statement.excluded.tat},
                    where=col(RateBucketRow.tat) <= wall,
                ).returning(col(RateBucketRow.bucket))
            )
            taken.update(str(b) for b in found.scalars())
        for bucket, n in first.items():
            (go if bucket in taken else busy).append(n)
        if busy:
            free: dict[str, float] = {}
            for buckets in _chunks(list({starts[n].bucket for n in busy}), ROWS_AT_ONCE):
                found_tats = await self.session.exec(
                    select(RateBucketRow.bucket, RateBucketRow.tat).where(
                        col(RateBucketRow.bucket).in_(buckets)
                    )
                )
                free.update((str(b), float(t)) for b, t in found_tats.all())
            for n in busy:
                free_at = now + timedelta(seconds=max(free[starts[n].bucket] - wall, 0.0))
                await self.defer(starts[n].message.id, owner, free_at)
                results[n] = (SendStart.DEFERRED, free_at)
        for places in _chunks(sorted(go), ROWS_AT_ONCE):
            ids = [starts[n].message.id for n in places]
            await self.session.exec(
                update(OutboxRow)
                .where(*self._held_all(ids, owner, OutboxStatus.CLAIMED))
                .values(
                    status=OutboxStatus.SENDING.value,
                    attempts=col(OutboxRow.attempts) + 1,
                    sending_at=now,
                    lease_until=lease_until,
                )
                .execution_options(synchronize_session=False)
            )
            for n in places:
                results[n] = (SendStart.STARTED, None)
        return results

    async def mark_sent(
        self, message_id: int, owner: str, now: datetime, message_ref: str | None
    ) -> bool:
        return (await self.mark_sent_many([(message_id, message_ref)], owner, now))[0]

    async def mark_sent_many(
        self, sent: Sequence[tuple[int, str | None]], owner: str, now: datetime
    ) -> list[bool]:
        marked: set[int] = set()
        for chunk in _chunks(list(sent), ROWS_AT_ONCE):
            refs = dict(chunk)
            known = {message_id: ref for message_id, ref in chunk if ref is not None}
            found = await self.session.exec(
                update(OutboxRow)
                .where(*self._held_all(list(refs), owner, OutboxStatus.SENDING))
                .values(
                    status=OutboxStatus.SENT.value,
                    sent_at=now,
                    lease_until=None,
                    message_id=case(known, value=col(OutboxRow.id), else_=None) if known else None,
                    last_error=None,
                )
                .returning(col(OutboxRow.id))
                .execution_options(synchronize_session=False)
            )
            marked.update(int(i) for i in found.scalars())
        return [message_id in marked for message_id, _ in sent]

    async def retry_later(
        self, message_id: int, owner: str, when: datetime, error: str, *, attempt: bool = True
    ) -> bool:
        values: dict[str, Any] = {
            "status": OutboxStatus.QUEUED.value,
            "next_attempt_at": when,
            "lease_owner": None,
            "lease_until": None,
            "last_error": error[:512],
        }
        if not attempt:
            values["attempts"] = case(
                (col(OutboxRow.attempts) > 0, col(OutboxRow.attempts) - 1), else_=0
            )
        return await self._update(
            self._held(message_id, owner, OutboxStatus.CLAIMED, OutboxStatus.SENDING), **values
        )

    async def fail(self, message_id: int, owner: str, now: datetime, reason: str) -> bool:
        where = self._held(message_id, owner, OutboxStatus.CLAIMED, OutboxStatus.SENDING)
        held = await self.session.exec(select(OutboxRow.id).where(*where).with_for_update())
        if held.first() is None:
            return False
        await self._release_cap(message_id)
        return await self._update(
            where, status=OutboxStatus.FAILED.value, lease_until=None, last_error=reason[:512]
        )

    async def mark_uncertain(self, message_id: int, owner: str, now: datetime, reason: str) -> bool:
        return await self._update(
            self._held(message_id, owner, OutboxStatus.SENDING),
            status=OutboxStatus.UNCERTAIN.value,
            lease_until=None,
            last_error=reason[:512],
        )

    async def probe_later(self, message_id: int, owner: str, when: datetime, error: str) -> bool:
        return await self._update(
            self._held(message_id, owner, OutboxStatus.SENDING),
            lease_until=when,
            last_error=error[:512],
        )

    async def take_expired_sends(
        self, platforms: Sequence[str], owner: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[ClaimedMessage]:
        if not platforms or limit <= 0:
            return []
        found = await self.session.exec(
            select(OutboxRow)
            .where(
                col(OutboxRow.status) == OutboxStatus.SENDING.value,
                col(OutboxRow.lease_until) < now,
                col(OutboxRow.platform).in_(list(platforms)),
            )
            .order_by(col(OutboxRow.lease_until), col(OutboxRow.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
        rows = list(found)
        if not rows:
            return []
        await self.session.exec(
            update(OutboxRow)
            .where(col(OutboxRow.id).in_([r.id for r in rows]))
            .values(lease_owner=owner, lease_until=lease_until)
            .execution_options(synchronize_session=False)
        )
        return [_claimed(r) for r in rows]

    async def take_slots(
        self, bucket: str, count: int, interval: float, wall: float
    ) -> tuple[float, float]:
        slowed = case((col(RateBucketRow.slowed_until) > wall, SLOWED_STEP), else_=1.0)
        taken = await self.session.exec(
            _insert(self.session, RateBucketRow)
            .values(bucket=bucket, tat=wall + count * interval, slowed_until=0.0)
            .on_conflict_do_update(
                index_elements=["bucket"],
                set_={
                    "tat": _later(col(RateBucketRow.tat), literal(wall)) + count * interval * slowed
                },
            )
            .returning(RateBucketRow.tat, RateBucketRow.slowed_until)
        )
        tat, slowed_until = taken.one()
        step = interval * (SLOWED_STEP if float(slowed_until) > wall else 1.0)
        return float(tat) - count * step, step

    async def slow_down(self, bucket: str, wall: float, pause: float, recovery: float) -> None:
        resume = wall + pause
        await self.session.exec(
            _insert(self.session, RateBucketRow)
            .values(bucket=bucket, tat=resume, slowed_until=resume + recovery)
            .on_conflict_do_update(
                index_elements=["bucket"],
                set_={
                    "tat": _later(col(RateBucketRow.tat), literal(resume)),
                    "slowed_until": _later(
                        col(RateBucketRow.slowed_until), literal(resume + recovery)
                    ),
                },
            )
        )

    async def forget_buckets(self, before: float) -> int:
        statement = delete(RateBucketRow).where(
            col(RateBucketRow.tat) < before, col(RateBucketRow.slowed_until) < before
        )
        return _rowcount(await self.session.exec(statement))

    async def depth(self) -> dict[tuple[str, str], int]:
        found = await self.session.exec(
            select(OutboxRow.platform, OutboxRow.status, func.count()).group_by(
                col(OutboxRow.platform), col(OutboxRow.status)
            )
        )
        return {(p, s): int(n) for p, s, n in found}


SCHEDULES_MARKER = "schedules"


def _schedule(row: ScheduleRow) -> Schedule:
    return Schedule(
        id=row.id,
        kind=row.kind,
        cron=row.cron,
        timezone=row.timezone,
        params=dict(row.params),
        grace=timedelta(seconds=row.grace_seconds),
        enabled=row.enabled,
        active_from=row.active_from,
    )


class SqlSchedules(_Store):
    """Schedules in ``schedules``, their runs in ``schedule_runs``; changes are counted in
    ``change_markers`` so every instance can notice them."""

    async def _bump(self) -> None:
        await self.session.exec(
            _insert(self.session, ChangeMarkerRow)
            .values(name=SCHEDULES_MARKER, revision=1)
            .on_conflict_do_update(
                index_elements=["name"], set_={"revision": col(ChangeMarkerRow.revision) + 1}
            )
        )

    async def put(self, schedule: Schedule, now: datetime) -> Schedule:
        existing = await self.session.get(ScheduleRow, schedule.id, populate_existing=True)
        rule = (schedule.cron, schedule.timezone)
        changed = existing is None or (existing.cron, existing.timezone) != rule
        if changed or (schedule.enabled and existing is not None and not existing.enabled):
            active_from = now
        else:
            assert existing is not None
            active_from = existing.active_from
        values = {
            "kind": schedule.kind,
            "cron": schedule.cron,
            "timezone": schedule.timezone,
            "params": dict(schedule.params),
            "grace_seconds": int(schedule.grace.total_seconds()),
            "enabled": schedule.enabled,
            "active_from": active_from,
            "updated_at": now,
        }
        await self.session.exec(
            _insert(self.session, ScheduleRow)
            .values(id=schedule.id, created_at=now, **values)
            .on_conflict_do_update(index_elements=["id"], set_=values)
        )
        await self._bump()
        stored = await self.session.get(ScheduleRow, schedule.id, populate_existing=True)
        assert stored is not None
        return _schedule(stored)

    async def add(self, schedule: Schedule, now: datetime) -> bool:
        statement = (
            _insert(self.session, ScheduleRow)
            .values(
                id=schedule.id,
                kind=schedule.kind,
                cron=schedule.cron,
                timezone=schedule.timezone,
                params=dict(schedule.params),
                grace_seconds=int(schedule.grace.total_seconds()),
                enabled=schedule.enabled,
                active_from=now,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing()
        )
        if _rowcount(await self.session.exec(statement)) != 1:
            return False
        await self._bump()
        return True

    async def remove(self, schedule_id: str) -> bool:
        statement = delete(ScheduleRow).where(col(ScheduleRow.id) == schedule_id)
        if _rowcount(await self.session.exec(statement)) != 1:
            return False
        await self._bump()
        return True

    async def get(self, schedule_id: str) -> Schedule | None:
        row = await self.session.get(ScheduleRow, schedule_id, populate_existing=True)
        return None if row is None else _schedule(row)

    async def all(self) -> list[Schedule]:
        rows = await self.session.exec(
            select(ScheduleRow)
            .order_by(col(ScheduleRow.id))
            .execution_options(populate_existing=True)
        )
        return [_schedule(r) for r in rows]

    async def revision(self) -> int:
        found = await self.session.exec(
            select(ChangeMarkerRow.revision).where(col(ChangeMarkerRow.name) == SCHEDULES_MARKER)
        )
        return int(found.first() or 0)

    async def claim(
        self, schedule_id: str, period: str, scheduled_for: datetime, now: datetime, instance: str
    ) -> bool:
        statement = (
            _insert(self.session, ScheduleRunRow)
            .values(
                schedule_id=schedule_id,
                period=period,
                scheduled_for=scheduled_for,
                claimed_at=now,
                instance=instance,
            )
            .on_conflict_do_nothing()
        )
        return _rowcount(await self.session.exec(statement)) == 1

    async def runs(self, schedule_id: str, limit: int = 10) -> list[ScheduleRun]:
        rows = await self.session.exec(
            select(ScheduleRunRow)
            .where(col(ScheduleRunRow.schedule_id) == schedule_id)
            .order_by(col(ScheduleRunRow.scheduled_for).desc())
            .limit(limit)
        )
        return [
            ScheduleRun(
                schedule_id=r.schedule_id,
                period=r.period,
                scheduled_for=r.scheduled_for,
                claimed_at=r.claimed_at,
                instance=r.instance,
            )
            for r in rows
        ]

    async def forget_runs_before(self, when: datetime) -> int:
        statement = delete(ScheduleRunRow).where(col(ScheduleRunRow.scheduled_for) < when)
        return _rowcount(await self.session.exec(statement))


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
        invited=row.invited,
        answered=row.answered,
        reminders_sent=row.reminders_sent,
    )


class SqlBarometer(_Store):
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
            _insert(self.session, BarometerRoundRow)
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
        return _rowcount(await self.session.exec(statement)) == 1

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
        for chunk in _chunks(unique, _CHUNK):
            statement = (
                _insert(self.session, BarometerParticipationRow)
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
            added += _rowcount(await self.session.exec(statement))
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

    async def answer(
        self,
        round_id: str,
        person: PersonKey,
        answer: BarometerAnswer,
        token_hash: str,
        mix: int,
    ) -> AnswerOutcome:
        if not await self._still_open(round_id):
            return AnswerOutcome.CLOSED
        first = (
            _insert(self.session, BarometerParticipationRow)
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
        if _rowcount(await self.session.exec(first)) != 1:
            return AnswerOutcome.ALREADY
        await self._write(round_id, answer, token_hash, mix)
        return AnswerOutcome.RECORDED

    async def change(
        self, round_id: str, token_hash: str, answer: BarometerAnswer, mix: int
    ) -> AnswerOutcome:
        if not await self._still_open(round_id):
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
        return _rowcount(counted) == 1

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
        if _rowcount(closed) != 1:
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
        return _rowcount(changed) == 1

    async def _still_open(self, round_id: str) -> bool:
        # FOR SHARE (PostgreSQL; SQLite locks the whole database anyway): answers run side by
        # side, while a close waits for the answers under way and is then seen by later ones.
        found = await self.session.exec(
            select(BarometerRoundRow.id)
            .where(col(BarometerRoundRow.id) == round_id, col(BarometerRoundRow.status) == "open")
            .with_for_update(read=True)
        )
        return found.first() is not None

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
        for chunk in _chunks(rows, _CHUNK):
            await self.session.exec(insert(table), params=list(chunk))

    async def _secure_delete(self) -> None:
        # SQLite keeps deleted rows' bytes in the file until the page is reused; secure_delete
        # overwrites them with zeros. (A connection setting: it stays on for this connection.)
        if self.session.bind is not None and self.session.bind.dialect.name == "sqlite":
            connection = await self.session.connection()
            await connection.exec_driver_sql("PRAGMA secure_delete = ON")


class SqlStores:
    """Every store, bound to one session (one unit of work)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.dialogs = SqlDialogs(session)
        self.events = SqlEventLog(session)
        self.people = SqlPeople(session)
        self.checkins = SqlCheckins(session)
        self.team_checkins = SqlTeamCheckins(session)
        self.commitments = SqlCommitments(session)
        self.case_studies = SqlCaseStudies(session)
        self.digests = SqlDigests(session)
        self.console = SqlConsoleFeed(session)
        self.meta = SqlMeta(session)
        self.outbox = SqlOutbox(session)
        self.barometer = SqlBarometer(session)
        self.delivery = SqlDeliveryQueue(session)
        self.schedules = SqlSchedules(session)
