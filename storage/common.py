"""What every store shares: the UTC column type, the base of the SQL stores (each bound to one
unit of work, see ``storage.engine``), conflict-safe inserts, chunked statements and
``ConcurrentUpdate``.

Conflicts are settled by the database, not by reading first: inserts that may collide use
``INSERT ... ON CONFLICT DO NOTHING`` and look at the row count, updates carry the version or
status they expect in their ``WHERE``. So two clicks, two retries or two instances at once still
leave exactly one result. Times are stored in UTC (``UtcDateTime`` gives them back time-zone aware
on SQLite too). Records are frozen dataclasses, so no database object ever leaves a unit of work.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import DateTime, String, cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult, Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back time-zone aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_field(*, index: bool = False, nullable: bool = False) -> Any:
    """A ``UtcDateTime`` column of a table (nullable ones default to None)."""
    if nullable:
        return Field(default=None, sa_type=UtcDateTime, nullable=True, index=index)
    return Field(sa_type=UtcDateTime, nullable=False, index=index)


class ConcurrentUpdate(Exception):
    """Someone else changed the same dialog state first (another click, another instance)."""


# Rows one statement names when sends start or finish together (outbox rows, send budgets) or a
# batch's people are read (up to three parameters a row).
ROWS_AT_ONCE = 250


_T = TypeVar("_T")


def conflict_insert(session: AsyncSession, table: type[SQLModel]) -> Any:
    """An INSERT that knows ON CONFLICT, in the session's dialect."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table)


def rowcount(result: CursorResult[Any]) -> int:
    """How many rows a statement inserted, changed or deleted."""
    return int(result.rowcount)


def chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    """``items`` in slices of at most ``size`` (statements with a bounded parameter count)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class SqlStore:
    """A store on one SQLAlchemy session: every feature's ``Sql...`` class is one."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def dialect(self) -> str:
        """The database's dialect: "sqlite" or "postgresql"."""
        return self.session.bind.dialect.name if self.session.bind is not None else "sqlite"


def escape_like(text: str) -> str:
    """Text for a LIKE pattern with ``\\`` as the escape: its own ``%`` and ``_`` literal."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def tagged(behaviours: Any, behaviour: str) -> Any:
    """A JSON list column of behaviour ids holds ``behaviour`` (ids are lowercase words, so the
    quoted id cannot appear inside another one); the same SQL on SQLite and PostgreSQL."""
    return cast(behaviours, String).like(f'%"{escape_like(behaviour)}"%', escape="\\")
