"""The events already handled, so a platform's retry of one is not handled twice."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import bindparam, delete, func, literal_column
from sqlalchemy import select as select_columns
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel, col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.common import SqlStore, prepared_upsert, rowcount, utc_field
from storage.dialog_states import DialogKey, SqlDialogs, beside, key_parameters, state_of


class EventLog(Protocol):
    """Events already handled."""

    async def first_time(
        self, platform: str, event_id: str, now: datetime, *, dialog: DialogKey | None = None
    ) -> bool:
        """Record the event; False when it was recorded before (a retry). With ``dialog``,
        the turn will load that dialog state next: a store that can read it in the same
        statement does (``SqlDialogs.read``)."""
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


def _recorded_and_state() -> Any:
    """On PostgreSQL, the event's row and the turn's dialog state in one statement: the row
    inserted in a ``WITH`` (counted: 1 when it is new) and the state read beside the count.
    A statement cost this process about 0.4 ms of CPU and a round trip (``bench.unit_cost``),
    and every turn of a dialog records its event and then reads its state."""
    recorded = (
        postgresql.insert(ProcessedEventRow.__table__)  # type: ignore[attr-defined]
        .values({name: bindparam(name) for name in ("platform", "event_id", "handled_at")})
        .on_conflict_do_nothing(index_elements=["platform", "event_id"])
        .returning(literal_column("1"))
        .cte("recorded")
    )
    fresh = select_columns(func.count().label("fresh")).select_from(recorded).subquery("fresh")
    return beside(fresh)


_RECORDED_AND_STATE = _recorded_and_state()


class SqlEventLog(SqlStore):
    """Handled events in ``processed_events``. ``dialogs``: the unit's dialog states, given
    the state a turn's event was recorded with (PostgreSQL)."""

    def __init__(self, session: AsyncSession, dialogs: SqlDialogs | None = None) -> None:
        super().__init__(session)
        self.dialogs = dialogs

    async def first_time(
        self, platform: str, event_id: str, now: datetime, *, dialog: DialogKey | None = None
    ) -> bool:
        given = {"platform": platform, "event_id": event_id, "handled_at": now}
        if dialog is not None and self.dialogs is not None and self.dialect == "postgresql":
            row = (await self.run(_RECORDED_AND_STATE, {**given, **key_parameters(dialog)})).one()
            self.dialogs.read(dialog, state_of(row))
            return bool(row.fresh == 1)
        statement = prepared_upsert(
            self.dialect, ProcessedEventRow, ("platform", "event_id"), updates=None
        )
        return rowcount(await self.run(statement, given)) == 1

    async def forget_before(self, when: datetime) -> int:
        statement = delete(ProcessedEventRow).where(col(ProcessedEventRow.handled_at) < when)
        return rowcount(await self.session.exec(statement))
