"""The stores of ``storage.base`` on SQLAlchemy, for SQLite and PostgreSQL alike.

Conflicts are settled by the database, not by reading first: inserts that may collide use
``INSERT ... ON CONFLICT DO NOTHING`` and look at the row count, updates carry the version or
status they expect in their ``WHERE``. So two clicks, two retries or two instances at once still
leave exactly one result.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, func, literal, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.events import Actor, ConversationKind, ConversationRef, Platform
from storage.base import (
    Checkin,
    ClaimedMessage,
    Commitment,
    ConcurrentUpdate,
    ConsolePost,
    DeliveryProgress,
    DialogKey,
    DialogState,
    OutboxMessage,
    OutboxStatus,
    Person,
    PersonKey,
    RateOutcome,
    RatingEntry,
    Schedule,
    ScheduleRun,
    SendStart,
    TeamCheckin,
    TeamTally,
)
from storage.tables import (
    ChangeMarkerRow,
    CheckinRatingRow,
    CheckinRow,
    CommitmentRow,
    ConsolePostRow,
    ConversationRow,
    DialogStateRow,
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


def _insert(session: AsyncSession, table: type[SQLModel]) -> Any:
    """An INSERT that knows ON CONFLICT, in the session's dialect."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table)


def _rowcount(result: CursorResult[Any]) -> int:
    return int(result.rowcount)


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


class SqlPeople(_Store):
    """People in ``people`` and conversations in ``conversations``."""

    async def seen(self, place: ConversationRef, actor: Actor, now: datetime) -> None:
        platform = str(place.platform)
        person: dict[str, Any] = {"last_seen": now}
        if actor.name:
            person["display_name"] = actor.name
        if actor.timezone:
            person["timezone"] = actor.timezone
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
                first_seen=now,
                last_seen=now,
            )
            .on_conflict_do_update(index_elements=["platform", "tenant", "user_id"], set_=person)
        )
        await self.session.exec(upsert_person)
        conversation: dict[str, Any] = {"last_seen": now, "kind": str(place.kind)}
        if place.service_url:
            conversation["service_url"] = place.service_url
        upsert_conversation = (
            _insert(self.session, ConversationRow)
            .values(
                platform=platform,
                tenant=place.tenant,
                conversation=place.conversation,
                kind=str(place.kind),
                service_url=place.service_url,
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
        if row is None:
            return None
        return Person(
            key=key,
            display_name=row.display_name,
            timezone=row.timezone,
            direct_conversation=row.direct_conversation,
            service_url=row.service_url,
            first_seen=row.first_seen,
            last_seen=row.last_seen,
        )

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
        )


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
            )
            .on_conflict_do_nothing()
        )
        if _rowcount(await self.session.exec(statement)) == 1 or commitment.source is None:
            return commitment
        existing = await self.by_source(commitment.source)
        if existing is None:  # pragma: no cover - the id itself collided
            raise ConcurrentUpdate(f"commitment {commitment.id} exists")
        return existing

    async def for_owner(self, owner: PersonKey, limit: int) -> list[Commitment]:
        rows = await self.session.exec(
            select(CommitmentRow)
            .where(
                col(CommitmentRow.platform) == owner.platform,
                col(CommitmentRow.tenant) == owner.tenant,
                col(CommitmentRow.owner) == owner.user,
            )
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


def _outbox_values(message: OutboxMessage, now: datetime) -> dict[str, Any]:
    return {
        "key": message.key,
        "job": message.job,
        "platform": message.platform,
        "tenant": message.tenant,
        "recipient": message.recipient,
        "to_person": message.to_person,
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
        for start in range(0, len(messages), ENQUEUE_CHUNK):
            chunk = [_outbox_values(m, now) for m in messages[start : start + ENQUEUE_CHUNK]]
            statement = _insert(self.session, OutboxRow).values(chunk).on_conflict_do_nothing()
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
        if message.cap_week == week:
            return True
        await self._release_cap(message.id)
        statement = (
            _insert(self.session, PersonWeekRow)
            .values(
                platform=message.platform,
                tenant=message.tenant,
                person=message.recipient,
                week=week,
                messages=1,
            )
            .on_conflict_do_update(
                index_elements=["platform", "tenant", "person", "week"],
                set_={"messages": col(PersonWeekRow.messages) + 1},
                where=col(PersonWeekRow.messages) < cap,
            )
            .returning(PersonWeekRow.messages)
        )
        if cap <= 0 or (await self.session.exec(statement)).first() is None:
            return False
        await self._update((col(OutboxRow.id) == message.id,), cap_week=week)
        return True

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

    async def start_send(
        self,
        message: ClaimedMessage,
        owner: str,
        now: datetime,
        lease_until: datetime,
        conversation_bucket: str,
        interval: float,
        wall: float,
    ) -> tuple[SendStart, datetime | None]:
        held = await self.session.exec(
            select(OutboxRow.id)
            .where(*self._held(message.id, owner, OutboxStatus.CLAIMED))
            .with_for_update()
        )
        if held.first() is None:
            return SendStart.LOST, None
        if interval > 0:
            taken = await self.session.exec(
                _insert(self.session, RateBucketRow)
                .values(bucket=conversation_bucket, tat=wall + interval, slowed_until=0.0)
                .on_conflict_do_update(
                    index_elements=["bucket"],
                    set_={"tat": _later(col(RateBucketRow.tat), literal(wall)) + interval},
                    where=col(RateBucketRow.tat) <= wall,
                )
                .returning(RateBucketRow.tat)
            )
            if taken.first() is None:
                free = await self.session.exec(
                    select(RateBucketRow.tat).where(
                        col(RateBucketRow.bucket) == conversation_bucket
                    )
                )
                free_at = now + timedelta(seconds=max(float(free.one()) - wall, 0.0))
                await self.defer(message.id, owner, free_at)
                return SendStart.DEFERRED, free_at
        await self._update(
            self._held(message.id, owner, OutboxStatus.CLAIMED),
            status=OutboxStatus.SENDING.value,
            attempts=col(OutboxRow.attempts) + 1,
            sending_at=now,
            lease_until=lease_until,
        )
        return SendStart.STARTED, None

    async def mark_sent(
        self, message_id: int, owner: str, now: datetime, message_ref: str | None
    ) -> bool:
        return await self._update(
            self._held(message_id, owner, OutboxStatus.SENDING),
            status=OutboxStatus.SENT.value,
            sent_at=now,
            lease_until=None,
            message_id=message_ref,
            last_error=None,
        )

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
        slowed = case((col(RateBucketRow.slowed_until) > wall, 2.0), else_=1.0)
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
        step = interval * (2.0 if float(slowed_until) > wall else 1.0)
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
        self.console = SqlConsoleFeed(session)
        self.meta = SqlMeta(session)
        self.outbox = SqlOutbox(session)
        self.delivery = SqlDeliveryQueue(session)
        self.schedules = SqlSchedules(session)
