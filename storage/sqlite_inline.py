"""SQLite on the event loop's own thread, for the async engine.

The usual async driver (aiosqlite) runs each connection in a thread of its own and hands every
step of every statement to it and back: a cursor, the statement, its rows, closing the cursor,
each a trip through a queue, the GIL and the next turn of the event loop. A turn of the bot
(remember the event, the person, their conversation, then the dialog's own few statements) made
about twenty such trips while it held SQLite's single write lock, so under load the lock was
held mostly for trips, and turns queued behind it (``bench/ack_latency.py``).

Here a connection is a plain ``sqlite3`` connection called directly: a statement of the bot's
takes tens of microseconds, less than one trip cost. What could block the loop for long is
waiting for another process's write lock (the CLI, a second ``valuesbot serve``): SQLite's own
busy handler would sleep inside the call. So the connection's busy timeout is 0 and a statement
that finds the file locked is tried again after an asynchronous sleep, for as long as SQLite
would have waited (``patience``), with the event loop free meanwhile.

``connect`` is given to SQLAlchemy as the engine's ``async_creator``; the objects here offer what
SQLAlchemy's aiosqlite dialect uses of an aiosqlite connection and cursor, no more.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

# The longest pause between two tries of a statement that found the database locked (seconds).
MOST_PAUSE = 0.05


def _locked(error: sqlite3.OperationalError) -> bool:
    message = str(error).lower()
    return "database is locked" in message or "database is busy" in message


class _Now:
    """What SQLAlchemy's dialect puts on an aiosqlite connection's own queue (to set the
    isolation level in its thread): here it is run at once."""

    @staticmethod
    def put_nowait(item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as error:  # handed to whoever awaits it, as aiosqlite would
            future.set_exception(error)
        else:
            future.set_result(result)


class InlineCursor:
    """A ``sqlite3`` cursor with aiosqlite's awaitable methods."""

    def __init__(self, connection: InlineConnection, cursor: sqlite3.Cursor) -> None:
        self._connection = connection
        self._cursor = cursor

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> InlineCursor:
        if parameters is None:
            await self._connection.run(self._cursor.execute, sql)
        else:
            await self._connection.run(self._cursor.execute, sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> InlineCursor:
        rows = list(parameters)  # a second try must see them all again
        await self._connection.run(self._cursor.executemany, sql, rows)
        return self

    async def fetchone(self) -> Any:
        return await self._connection.run(self._cursor.fetchone)

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        size = self._cursor.arraysize if size is None else size
        return await self._connection.run(self._cursor.fetchmany, size)

    async def fetchall(self) -> list[Any]:
        return await self._connection.run(self._cursor.fetchall)

    async def close(self) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class _Opening:
    """``connection.cursor()``: awaited, or entered with ``async with`` (as SQLAlchemy does)."""

    def __init__(self, connection: InlineConnection) -> None:
        self._connection = connection
        self._cursor: InlineCursor | None = None

    def _open(self) -> InlineCursor:
        if self._cursor is None:
            self._cursor = InlineCursor(self._connection, self._connection._conn.cursor())
        return self._cursor

    def __await__(self) -> Any:
        async def opened() -> InlineCursor:
            return self._open()

        return opened().__await__()

    async def __aenter__(self) -> InlineCursor:
        return self._open()

    async def __aexit__(self, *_: object) -> None:
        if self._cursor is not None:
            await self._cursor.close()


class InlineConnection:
    """A ``sqlite3`` connection with the parts of aiosqlite's ``Connection`` that SQLAlchemy
    uses, run on the calling thread. ``patience``: seconds a statement may wait for another
    process's lock, in asynchronous pauses."""

    def __init__(self, connection: sqlite3.Connection, patience: float) -> None:
        self._conn: sqlite3.Connection = connection
        self._tx = _Now()
        self.patience = patience

    @property
    def _connection(self) -> sqlite3.Connection | None:
        """Open (SQLAlchemy's dialect asks before committing or rolling back)."""
        return self._conn

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)``; again after a pause while the database is locked by another
        connection, until ``patience`` is spent."""
        try:
            return function(*args)
        except sqlite3.OperationalError as error:
            if not _locked(error) or self.patience <= 0:
                raise
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.patience
        pause = 0.001
        while True:
            await asyncio.sleep(pause)
            try:
                return function(*args)
            except sqlite3.OperationalError as error:
                if not _locked(error) or loop.time() >= deadline:
                    raise
            pause = min(pause * 2, MOST_PAUSE, max(deadline - loop.time(), 0.0))

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> _Opening:
        return _Opening(self)

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> InlineCursor:
        cursor = InlineCursor(self, self._conn.cursor())
        return await cursor.execute(sql, parameters)

    async def commit(self) -> None:
        await self.run(self._conn.commit)

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self._conn.close()

    def stop(self) -> None:
        self._conn.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)


def creator(database: str, patience: float, options: Mapping[str, Any]) -> Callable[[], Any]:
    """The engine's ``async_creator``: opens ``database`` with SQLAlchemy's own connection
    options (``options``), no busy timeout of SQLite's own (``patience`` instead)."""

    async def connect() -> InlineConnection:
        connection = sqlite3.connect(database, timeout=0, check_same_thread=False, **options)
        return InlineConnection(connection, patience)

    return connect
