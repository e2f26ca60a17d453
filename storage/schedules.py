"""Recurring jobs (a monthly barometer, a weekly digest) and the slots they ran, shared by the
scheduler of every instance; a change marker tells the others that a schedule changed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import JSON, delete
from sqlmodel import Field, SQLModel, col, select

from storage.common import SqlStore, conflict_insert, rowcount, utc_field


@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule:
    """A recurring job: run the handler registered for ``kind`` at each slot of ``cron``
    (``"minute hour day month day_of_week"``, optionally with seconds first) in ``timezone``.

    A slot missed while no instance was running still runs, once, if an instance starts within
    ``grace`` of it. ``active_from`` (set by the store) is when the rule last changed: slots
    before it never run.
    """

    id: str
    kind: str
    cron: str
    timezone: str = "Europe/London"
    params: Mapping[str, Any] = field(default_factory=dict)
    grace: timedelta = timedelta(hours=1)
    enabled: bool = True
    active_from: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleRun:
    """A slot of a schedule that ran."""

    schedule_id: str
    period: str
    scheduled_for: datetime
    claimed_at: datetime
    instance: str


class ScheduleStore(Protocol):
    """Schedules and their runs. Every change bumps ``revision``, which instances poll."""

    async def put(self, schedule: Schedule, now: datetime) -> Schedule:
        """Create or replace; the stored schedule."""
        ...

    async def add(self, schedule: Schedule, now: datetime) -> bool:
        """Create unless a schedule with this id exists (which is kept as it is)."""
        ...

    async def remove(self, schedule_id: str) -> bool:
        """Delete; False when there was none."""
        ...

    async def get(self, schedule_id: str) -> Schedule | None:
        """One schedule."""
        ...

    async def all(self) -> list[Schedule]:
        """Every schedule, by id."""
        ...

    async def revision(self) -> int:
        """A number that changes whenever any schedule changes."""
        ...

    async def claim(
        self, schedule_id: str, period: str, scheduled_for: datetime, now: datetime, instance: str
    ) -> bool:
        """Claim a slot; False when it was claimed before (by anyone)."""
        ...

    async def runs(self, schedule_id: str, limit: int = 10) -> list[ScheduleRun]:
        """The latest runs, newest first."""
        ...

    async def forget_runs_before(self, when: datetime) -> int:
        """Drop the records of slots scheduled before ``when`` (long past any grace period);
        how many went."""
        ...


class ScheduleRow(SQLModel, table=True):
    """A recurring job (a monthly barometer, a weekly digest): when, in which time zone, and
    which registered kind of job runs. The scheduler of every instance follows these rows."""

    __tablename__ = "schedules"

    id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=64)
    cron: str = Field(max_length=128)
    timezone: str = Field(max_length=64)
    params: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    grace_seconds: int = 3600
    enabled: bool = True
    active_from: datetime = utc_field()
    created_at: datetime = utc_field()
    updated_at: datetime = utc_field()


class ScheduleRunRow(SQLModel, table=True):
    """A schedule's slot that has been claimed (and run, in the same transaction): at most one
    row per schedule and period, whatever the number of instances."""

    __tablename__ = "schedule_runs"

    schedule_id: str = Field(primary_key=True, max_length=64)
    period: str = Field(primary_key=True, max_length=64)
    scheduled_for: datetime = utc_field()
    claimed_at: datetime = utc_field()
    instance: str = Field(max_length=128)


class ChangeMarkerRow(SQLModel, table=True):
    """A counter bumped in the same transaction as a change (to schedules, say), so other
    instances notice it by polling one row."""

    __tablename__ = "change_markers"

    name: str = Field(primary_key=True, max_length=64)
    revision: int = 0


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


class SqlSchedules(SqlStore):
    """Schedules in ``schedules``, their runs in ``schedule_runs``; changes are counted in
    ``change_markers`` so every instance can notice them."""

    async def _bump(self) -> None:
        await self.session.exec(
            conflict_insert(self.session, ChangeMarkerRow)
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
            conflict_insert(self.session, ScheduleRow)
            .values(id=schedule.id, created_at=now, **values)
            .on_conflict_do_update(index_elements=["id"], set_=values)
        )
        await self._bump()
        stored = await self.session.get(ScheduleRow, schedule.id, populate_existing=True)
        assert stored is not None
        return _schedule(stored)

    async def add(self, schedule: Schedule, now: datetime) -> bool:
        statement = (
            conflict_insert(self.session, ScheduleRow)
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
        if rowcount(await self.session.exec(statement)) != 1:
            return False
        await self._bump()
        return True

    async def remove(self, schedule_id: str) -> bool:
        statement = delete(ScheduleRow).where(col(ScheduleRow.id) == schedule_id)
        if rowcount(await self.session.exec(statement)) != 1:
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
            conflict_insert(self.session, ScheduleRunRow)
            .values(
                schedule_id=schedule_id,
                period=period,
                scheduled_for=scheduled_for,
                claimed_at=now,
                instance=instance,
            )
            .on_conflict_do_nothing()
        )
        return rowcount(await self.session.exec(statement)) == 1

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
        return rowcount(await self.session.exec(statement))
