"""Case-study digests: weekly schedules per channel, the slots instances claim, what each
digest held, and which case studies a channel has already been sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import Index, Text, UniqueConstraint, delete, func, update
from sqlmodel import Field, SQLModel, col, select

from bot.events import ConversationKind, ConversationRef, Platform
from storage.common import SqlStore, conflict_insert, rowcount, utc_field


class DigestScheduleStatus(StrEnum):
    """Whether a digest schedule sends."""

    ACTIVE = "active"
    PAUSED = "paused"


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestSchedule:
    """A weekly digest to one channel: ``weekday`` (0 = Monday) at ``hour``:``minute`` in
    ``timezone``. One schedule per channel. Slots before ``active_since`` (when it was made,
    changed or resumed) never fire. ``if_empty`` is "message" or "skip"."""

    id: str
    place: ConversationRef
    label: str
    weekday: int
    hour: int
    minute: int
    timezone: str
    if_empty: str
    status: str = DigestScheduleStatus.ACTIVE
    created_by: str
    created_at: datetime
    active_since: datetime

    @property
    def is_active(self) -> bool:
        """True unless paused."""
        return self.status == DigestScheduleStatus.ACTIVE


class DigestRunStatus(StrEnum):
    """What a claimed digest slot became."""

    CLAIMED = "claimed"
    QUEUED = "queued"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestRun:
    """One digest to one channel for one period (``schedule_id`` + ``period`` are unique: the
    slot). ``body`` is the digest's content as JSON, for the web page."""

    id: str
    schedule_id: str
    period: str
    place: ConversationRef
    claimed_at: datetime
    as_of: datetime
    status: str = DigestRunStatus.CLAIMED
    body: str | None = None
    case_studies: int = 0
    commitments: int = 0


class DigestStore(Protocol):
    """Digest schedules, the slots they claimed, and what each digest held."""

    async def save_schedule(self, schedule: DigestSchedule, now: datetime) -> DigestSchedule:
        """Create the place's schedule, or replace its timing if it has one (one per place)."""
        ...

    async def schedules(
        self, platform: str | None = None, tenant: str | None = None
    ) -> list[DigestSchedule]:
        """Schedules (of one workspace or tenant, when given), in creation order."""
        ...

    async def get_schedule(self, schedule_id: str) -> DigestSchedule | None:
        """One schedule, if it exists."""
        ...

    async def set_schedule_status(
        self, schedule_id: str, status: str, now: datetime
    ) -> DigestSchedule | None:
        """Pause or resume; resuming starts a new ``active_since``. None if it does not exist."""
        ...

    async def delete_schedule(self, schedule_id: str) -> bool:
        """Cancel a schedule (its past runs are kept)."""
        ...

    async def claim(self, run: DigestRun) -> bool:
        """Claim the run's slot (schedule + period): True for exactly one caller, however many
        instances try at once (``INSERT ... ON CONFLICT DO NOTHING``)."""
        ...

    async def finish(
        self,
        run_id: str,
        *,
        status: str,
        body: str | None,
        case_studies: int,
        commitments: int,
    ) -> None:
        """Record what the claimed run became."""
        ...

    async def include(self, run_id: str, place: ConversationRef, case_study_id: str) -> bool:
        """Record that a case study is in a digest to the place; False if it already was."""
        ...

    async def run_for(self, schedule_id: str, period: str) -> DigestRun | None:
        """The run of a slot, if claimed."""
        ...

    async def get_run(self, run_id: str) -> DigestRun | None:
        """One run, by its id."""
        ...

    async def last_run(self, place: ConversationRef, status: str | None = None) -> DigestRun | None:
        """The latest digest run to the place (any schedule; with ``status``, the latest in
        that status: ``QUEUED`` for the last digest actually posted), if any."""
        ...

    async def runs_with_body(self, platform: str, tenant: str) -> list[DigestRun]:
        """The digests of a workspace or tenant that keep a body (their web pages)."""
        ...

    async def rewrite(self, run_id: str, body: str, commitments: int) -> None:
        """Replace what a digest's page holds (a person's shared commitment taken off)."""
        ...

    async def forget_creator(self, platform: str, tenant: str, user: str) -> int:
        """The person no longer shows as the maker of digest schedules; how many."""

    async def sent(self, offset: int, limit: int) -> tuple[list[DigestRun], int]:
        """Digests that were sent (queued with their content), newest first (ties by id), and
        how many there are."""
        ...


class DigestScheduleRow(SQLModel, table=True):
    """A weekly digest to one channel (at most one schedule per channel)."""

    __tablename__ = "digest_schedules"
    __table_args__ = (
        UniqueConstraint("platform", "tenant", "conversation", name="uq_digest_schedules_place"),
    )

    id: str = Field(primary_key=True, max_length=32)
    platform: str = Field(max_length=16)
    tenant: str = Field(max_length=64)
    conversation: str = Field(max_length=255)
    kind: str = Field(max_length=16)
    service_url: str | None = Field(default=None, max_length=512)
    label: str = Field(max_length=255)
    weekday: int
    hour: int
    minute: int
    timezone: str = Field(max_length=64)
    if_empty: str = Field(max_length=16)
    status: str = Field(default="active", max_length=16)
    created_by: str = Field(max_length=255)
    created_at: datetime = utc_field()
    active_since: datetime = utc_field()
    updated_at: datetime = utc_field()


class DigestRunRow(SQLModel, table=True):
    """One digest slot (schedule + period) claimed by exactly one instance, and what it sent."""

    __tablename__ = "digest_runs"
    __table_args__ = (
        UniqueConstraint("schedule_id", "period", name="uq_digest_runs_slot"),
        Index("ix_digest_runs_place", "platform", "tenant", "conversation", "claimed_at"),
    )

    id: str = Field(primary_key=True, max_length=32)
    schedule_id: str = Field(max_length=32)
    period: str = Field(max_length=64)
    platform: str = Field(max_length=16)
    tenant: str = Field(max_length=64)
    conversation: str = Field(max_length=255)
    kind: str = Field(max_length=16)
    service_url: str | None = Field(default=None, max_length=512)
    claimed_at: datetime = utc_field()
    as_of: datetime = utc_field()
    status: str = Field(default="claimed", max_length=16)
    body: str | None = Field(default=None, sa_type=Text)
    case_studies: int = 0
    commitments: int = 0


class DigestItemRow(SQLModel, table=True):
    """A case study that went out in a digest to a channel: never again to that channel."""

    __tablename__ = "digest_items"

    platform: str = Field(primary_key=True, max_length=16)
    tenant: str = Field(primary_key=True, max_length=64)
    conversation: str = Field(primary_key=True, max_length=255)
    case_study_id: str = Field(primary_key=True, foreign_key="case_studies.id", max_length=32)
    run_id: str = Field(foreign_key="digest_runs.id", max_length=32)


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


class SqlDigests(SqlStore):
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
            conflict_insert(self.session, DigestScheduleRow)
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
        return rowcount(removed) == 1

    async def claim(self, run: DigestRun) -> bool:
        place = run.place
        claimed = await self.session.exec(
            conflict_insert(self.session, DigestRunRow)
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
        return rowcount(claimed) == 1

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
            conflict_insert(self.session, DigestItemRow)
            .values(
                platform=str(place.platform),
                tenant=place.tenant,
                conversation=place.conversation,
                case_study_id=case_study_id,
                run_id=run_id,
            )
            .on_conflict_do_nothing()
        )
        return rowcount(included) == 1

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

    async def last_run(self, place: ConversationRef, status: str | None = None) -> DigestRun | None:
        statement = select(DigestRunRow).where(
            col(DigestRunRow.platform) == str(place.platform),
            col(DigestRunRow.tenant) == place.tenant,
            col(DigestRunRow.conversation) == place.conversation,
        )
        if status is not None:
            statement = statement.where(col(DigestRunRow.status) == status)
        rows = await self.session.exec(
            statement.order_by(
                col(DigestRunRow.claimed_at).desc(), col(DigestRunRow.id).desc()
            ).limit(1)
        )
        row = rows.first()
        return None if row is None else _run(row)

    async def runs_with_body(self, platform: str, tenant: str) -> list[DigestRun]:
        rows = await self.session.exec(
            select(DigestRunRow)
            .where(
                col(DigestRunRow.platform) == platform,
                col(DigestRunRow.tenant) == tenant,
                col(DigestRunRow.body).isnot(None),
            )
            .order_by(col(DigestRunRow.claimed_at), col(DigestRunRow.id))
        )
        return [_run(r) for r in rows]

    async def rewrite(self, run_id: str, body: str, commitments: int) -> None:
        await self.session.exec(
            update(DigestRunRow)
            .where(col(DigestRunRow.id) == run_id)
            .values(body=body, commitments=commitments)
            .execution_options(synchronize_session=False)
        )

    async def forget_creator(self, platform: str, tenant: str, user: str) -> int:
        changed = await self.session.exec(
            update(DigestScheduleRow)
            .where(
                col(DigestScheduleRow.platform) == platform,
                col(DigestScheduleRow.tenant) == tenant,
                col(DigestScheduleRow.created_by) == user,
            )
            .values(created_by="")
            .execution_options(synchronize_session=False)
        )
        return rowcount(changed)

    async def sent(self, offset: int, limit: int) -> tuple[list[DigestRun], int]:
        conditions = (
            col(DigestRunRow.status) == DigestRunStatus.QUEUED,
            col(DigestRunRow.body).isnot(None),
        )
        total = await self.session.exec(select(func.count()).where(*conditions))
        rows = await self.session.exec(
            select(DigestRunRow)
            .where(*conditions)
            .order_by(col(DigestRunRow.claimed_at).desc(), col(DigestRunRow.id).desc())
            .offset(offset)
            .limit(limit)
        )
        return [_run(r) for r in rows], int(total.one())
