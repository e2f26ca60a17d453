"""The events already handled, so a platform's retry of one is not handled twice."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy import delete
from sqlmodel import Field, SQLModel, col

from storage.common import SqlStore, prepared_upsert, rowcount, utc_field


class EventLog(Protocol):
    """Events already handled."""

    async def first_time(self, platform: str, event_id: str, now: datetime) -> bool:
        """Record the event; False when it was recorded before (a retry)."""
        ...

    async def forget_before(self, when: datetime) -> int:
        """Drop records older than ``when``; how many went."""
        ...


class ProcessedEventRow(SQLModel, table=True):
    """Events already handled, so a platform's retry of one is not handled twice."""

    __tablename__ = "processed_events"

    platform: str = Field(primary_key=True, max_length=16)
    event_id: str = Field(primary_key=True, max_length=255)
    handled_at: datetime = utc_field(index=True)


class SqlEventLog(SqlStore):
    """Handled events in ``processed_events``."""

    async def first_time(self, platform: str, event_id: str, now: datetime) -> bool:
        statement = prepared_upsert(
            self.dialect, ProcessedEventRow, ("platform", "event_id"), updates=None
        )
        recorded = await self.run(
            statement, {"platform": platform, "event_id": event_id, "handled_at": now}
        )
        return rowcount(recorded) == 1

    async def forget_before(self, when: datetime) -> int:
        statement = delete(ProcessedEventRow).where(col(ProcessedEventRow.handled_at) < when)
        return rowcount(await self.session.exec(statement))
