"""The database: engine set-up and units of work.

``Database.unit()`` opens one session and one transaction and hands out the stores bound to it;
it commits when the block ends and rolls back if it raises. On SQLite every unit takes the write
lock up front (``BEGIN IMMEDIATE``): several processes (two terminals, two servers) share one file,
and a transaction that reads and then writes would otherwise fail with "database is locked" when
another process committed in between. WAL mode lets readers carry on meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.barometer import AnswerKey
from storage.stores import SqlStores

# How long a SQLite writer waits for another process's transaction before giving up.
SQLITE_BUSY_TIMEOUT_MS = 15_000
# Connections kept open to PostgreSQL per process (plus SQLAlchemy's overflow of 10).
POSTGRES_POOL = 20
# An execution option of the connections of ``Database.reading`` units.
READ_ONLY = "valuesbot_read_only"


def make_engine(database_url: str, **options: Any) -> AsyncEngine:
    """An async engine for the URL, with the SQLite settings multi-process use needs."""
    url = make_url(database_url)
    # Statement parameters hold people's answers and words: a database error (whose message
    # repeats them otherwise) or an engine echo shows none of them.
    options.setdefault("hide_parameters", True)
    if url.get_backend_name() != "sqlite":
        options.setdefault("pool_pre_ping", True)
        # The delivery workers' concurrent sends each look a person up, beside the group
        # commits and the web handlers' units: SQLAlchemy's default pool (5) would queue them.
        if "poolclass" not in options:
            options.setdefault("pool_size", POSTGRES_POOL)
        return create_async_engine(url, **options)

    if url.database and url.database != ":memory:":
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, **options)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN, instead of the driver's own.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")  # a reader: WAL lets it run beside the writer
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class Database:
    """One database, shared by every turn of the process. ``answer_key`` (not in the database)
    seals the barometer's answers waiting for their batch; without it, answering the barometer
    fails (``storage.barometer.MissingAnswerKey``)."""

    def __init__(
        self, database_url: str, *, answer_key: AnswerKey | None = None, **options: Any
    ) -> None:
        self.url = database_url
        self.answer_key = answer_key
        self.engine = make_engine(database_url, **options)
        self._sessions = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False
        )
        self._writer: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    @property
    def dialect(self) -> str:
        """ "sqlite" or "postgresql"."""
        return self.engine.dialect.name

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[SqlStores]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        async with self._turn_to_write(), self._sessions() as session, session.begin():
            yield SqlStores(session, self.answer_key)

    @asynccontextmanager
    async def _turn_to_write(self) -> AsyncIterator[None]:
        """On SQLite, wait for this process's other units first: every unit writes (``BEGIN
        IMMEDIATE``), and a writer that finds the file locked sleeps in SQLite's busy handler
        for up to 100 ms at a time, so under a burst of turns most of them slept instead of
        taking their turn as soon as it came. Other processes still meet at the file lock."""
        if self.dialect != "sqlite":
            yield
            return
        loop = asyncio.get_running_loop()
        if self._writer is None or self._writer[0] is not loop:
            self._writer = (loop, asyncio.Lock())
        lock = self._writer[1]
        try:
            # Never longer than SQLite itself would have waited: then on as before.
            await asyncio.wait_for(lock.acquire(), SQLITE_BUSY_TIMEOUT_MS / 1000)
        except TimeoutError:
            yield
            return
        try:
            yield
        finally:
            lock.release()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[SqlStores]:
        """A unit that only reads. On SQLite it neither takes nor waits for the write lock
        (WAL readers see the last commit while a writer works), so a lookup just before a
        platform call (who is this person, which is their direct chat) takes the same short
        time however busy the writers are. Use ``unit`` for anything that writes."""
        if self.dialect != "sqlite":
            async with self.unit() as stores:
                yield stores
            return
        async with self._sessions() as session:
            # The first statement begins the transaction, with BEGIN (deferred) on SQLite.
            await session.connection(execution_options={READ_ONLY: True})
            yield SqlStores(session, self.answer_key)
            await session.commit()

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
