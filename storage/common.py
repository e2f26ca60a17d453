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

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import (
    DateTime,
    String,
    and_,
    any_,
    bindparam,
    case,
    cast,
    distinct,
    func,
    literal,
    null,
    tuple_,
)
from sqlalchemy import select as select_columns
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


@lru_cache(maxsize=128)
def prepared_upsert(
    dialect: str,
    table: type[SQLModel],
    keys: tuple[str, ...],
    updates: tuple[str, ...] | None,
    kept: tuple[str, ...] = (),
) -> Any:
    """An ``INSERT ... ON CONFLICT`` on ``table``'s primary ``keys`` in ``dialect``, built once:
    its values are the parameters it is executed with (``SqlStore.run``). On a conflict it does
    nothing (``updates`` None) or sets each column of ``updates`` to the value given, except
    those of ``kept`` already set (``coalesce``). For the statements of every turn: building and
    keying a statement with its values each time cost more than running it."""
    core = table.__table__  # type: ignore[attr-defined]
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(core)
    if updates is None:
        return statement.on_conflict_do_nothing(index_elements=list(keys))
    changes: dict[str, Any] = {}
    for name in updates:
        given = statement.excluded[name]
        changes[name] = func.coalesce(core.c[name], given) if name in kept else given
    return statement.on_conflict_do_update(index_elements=list(keys), set_=changes)


def among(column: Any, name: str, dialect: str) -> Any:
    """``column`` is one of the list given as the parameter ``name``, in a statement built
    once. On PostgreSQL ``= ANY`` of one array: the same statement text for a list of any
    length, so asyncpg prepares it once (an ``IN`` list is a new text, and a new prepare, for
    each length). Elsewhere an expanding ``IN``."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=postgresql.ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


def keys_among(columns: Sequence[Any], name: str, dialect: str) -> Any:
    """``columns`` together are one of the keys given by ``keys_given(name, ...)``, as
    ``among``: on PostgreSQL one array a column (the statement's text is the same for any number
    of keys), elsewhere an expanding ``IN`` of tuples."""
    if dialect == "postgresql":
        arrays = (
            func.unnest(bindparam(f"{name}_{n}", type_=postgresql.ARRAY(c.type)))
            for n, c in enumerate(columns)
        )
        return tuple_(*columns).in_(select_columns(*arrays))
    return tuple_(*columns).in_(bindparam(name, expanding=True))


def keys_given(name: str, keys: Sequence[tuple[Any, ...]], dialect: str) -> dict[str, Any]:
    """The parameters of a ``keys_among(columns, name, dialect)`` for these ``keys``."""
    if dialect == "postgresql":
        width = len(keys[0]) if keys else 0
        return {f"{name}_{n}": [k[n] for k in keys] for n in range(width)}
    return {name: list(keys)}


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

    async def run(
        self, statement: Any, parameters: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> CursorResult[Any]:
        """A Core statement built once (``prepared_upsert``, or a module's constant) with these
        parameters (a list of them: once each, in as few round trips as the driver allows), on
        the session's connection and transaction."""
        connection = await self.session.connection()
        given = (
            dict(parameters) if isinstance(parameters, Mapping) else [dict(p) for p in parameters]
        )
        result: CursorResult[Any] = await connection.execute(statement, given)
        return result


def escape_like(text: str) -> str:
    """Text for a LIKE pattern with ``\\`` as the escape: its own ``%`` and ``_`` literal."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def tagged(behaviours: Any, behaviour: str) -> Any:
    """A JSON list column of behaviour ids holds ``behaviour`` (ids are lowercase words, so the
    quoted id cannot appear inside another one); the same SQL on SQLite and PostgreSQL."""
    return cast(behaviours, String).like(f'%"{escape_like(behaviour)}"%', escape="\\")


@dataclass(frozen=True, slots=True)
class Period:
    """A period figures are counted in: its name ("2026-11") and its bounds, from ``start``
    (included) to ``end`` (excluded)."""

    name: str
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class PeriodCount:
    """How many things happened in a period (``count``) and how many different people did
    them (``people``): an aggregate, never who."""

    count: int
    people: int


def period_case(when: Any, periods: Sequence[Period]) -> Any:
    """A SQL expression naming the period ``when`` falls in (NULL when in none)."""
    return case(
        *((and_(when >= p.start, when < p.end), literal(p.name, String)) for p in periods),
        else_=null(),
    )


async def count_by_period(
    session: AsyncSession,
    when: Any,
    who: Any,
    periods: Sequence[Period],
    *where: Any,
) -> dict[str, PeriodCount]:
    """Rows counted by the period their ``when`` falls in, with the distinct ``who`` among
    them (one statement; periods with nothing are left out). The period is named in a
    subquery, so that PostgreSQL groups by a column rather than by an expression it would see
    twice with different parameters."""
    if not periods:
        return {}
    named = (
        select_columns(period_case(when, periods).label("period"), who.label("who"))
        .where(*where)
        .subquery()
    )
    found = await session.exec(  # type: ignore[call-overload]
        select_columns(named.c.period, func.count(), func.count(distinct(named.c.who)))
        .where(named.c.period.is_not(None))
        .group_by(named.c.period)
    )
    return {str(p): PeriodCount(count=int(n), people=int(w)) for p, n, w in found}


async def group_by_period(
    session: AsyncSession, named: Any, weight: str | None = None
) -> list[tuple[Any, ...]]:
    """The rows of ``named`` (a subquery whose first column is ``period``, from
    ``period_case``), grouped by all its columns but ``weight``, each with its count (or the sum
    of ``weight``); rows in no period are left out."""
    keys = [c for c in named.c if c.name != weight]
    total = func.sum(named.c[weight]) if weight else func.count()
    found = await session.exec(  # type: ignore[call-overload]
        select_columns(*keys, total).where(named.c.period.is_not(None)).group_by(*keys)
    )
    return [tuple(row) for row in found]
