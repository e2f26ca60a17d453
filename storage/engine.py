"""The database: engine set-up and units of work.

``Database.unit()`` opens one session and one transaction and hands out the stores bound to it;
it commits when the block ends and rolls back if it raises. On SQLite every unit takes the write
lock up front (``BEGIN IMMEDIATE``): several processes (two terminals, two servers) share one file,
and a transaction that reads and then writes would otherwise fail with "database is locked" when
another process committed in between. WAL mode lets readers carry on meanwhile.

A PostgreSQL server can go away (a restart, a failover, a network fault). ``Database`` notices
it when a unit cannot connect or loses its connection, and raises ``DatabaseUnavailable``; from
then on ``available`` is False and units fail at once (no wait for a connection that will not
come) until a probe (``probe``, ``wait_available``, ``watch``) or a later unit connects again.
So a request that needs the database is refused quickly while it is down, and the process
recovers by itself when it is back. An embedded SQLite file never "goes away".
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import sqlite_inline
from storage.barometer import AnswerKey
from storage.changes import WATCH, UnitSession
from storage.people import SeenLately
from storage.stores import SqlStores

# How long a SQLite writer waits for another process's transaction before giving up.
SQLITE_BUSY_TIMEOUT_MS = 15_000
# Connections kept open to PostgreSQL per process (plus SQLAlchemy's overflow of 10).
POSTGRES_POOL = 20
# An execution option of the connections of ``Database.reading`` units.
READ_ONLY = "valuesbot_read_only"
# How long a new PostgreSQL connection may take (asyncpg's default is a minute): past it the
# server counts as unreachable, well inside the platforms' deadlines (Slack waits 3 s).
CONNECT_TIMEOUT = 3.0
# A pooled PostgreSQL connection unused for this long is pinged before it is used again.
PING_AFTER_IDLE = 1.0
_IDLE_SINCE = "valuesbot_idle_since"
# While the database is down, units fail at once, and a connection is tried again this often.
RETRY_INTERVAL = 0.5
# ``watch`` looks at a database that seems up this often (a database found down, every
# RETRY_INTERVAL).
WATCH_INTERVAL = 5.0
# SQLSTATEs of a lost server: class 08 (connection exception), and a server shutting down,
# crashed or not accepting connections yet (57P01-57P03).
_LOST_STATES = ("08", "57P01", "57P02", "57P03")

log = logging.getLogger("valuesbot.database")


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Ask a pooled PostgreSQL connection whether the server is still there before it is used,
    if it has not been used for ``PING_AFTER_IDLE`` seconds; one that does not answer is
    replaced. (SQLAlchemy's ``pool_pre_ping`` asks every time: a transaction begun and rolled
    back around an empty statement, three round trips before each unit, a fifth of a
    PostgreSQL turn's statements.) A connection in use a moment ago is used without asking: if
    the server went away since, the unit's first statement fails, the pool drops every
    connection older than the failure, and ``Database.unit`` raises ``DatabaseUnavailable``,
    which the dispatcher and the delivery worker wait out and try again."""

    @event.listens_for(engine.sync_engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _taken(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop(_IDLE_SINCE, None)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE:
            return
        try:
            dbapi_connection.ping()
        except Exception as error:
            # The pool closes this connection and checks out another (a new one, if the
            # server restarted: SQLAlchemy's disconnect handling).
            raise DisconnectionError("the connection did not answer a ping") from error


class DatabaseUnavailable(Exception):
    """The database cannot be reached now (down, restarting, unreachable); nothing was written
    by the unit that raised it, or its commit may not have been confirmed. Try again once
    ``Database.available`` (``wait_available``)."""


def make_engine(database_url: str, *, inline: bool = True, **options: Any) -> AsyncEngine:
    """An async engine for the URL, with the SQLite settings multi-process use needs."""
    url = make_url(database_url)
    # Statement parameters hold people's answers and words: a database error (whose message
    # repeats them otherwise) or an engine echo shows none of them.
    options.setdefault("hide_parameters", True)
    if url.get_backend_name() != "sqlite":
        # The delivery workers' concurrent sends each look a person up, beside the group
        # commits and the web handlers' units: SQLAlchemy's default pool (5) would queue them.
        if "poolclass" not in options:
            options.setdefault("pool_size", POSTGRES_POOL)
        options.setdefault("connect_args", {"timeout": CONNECT_TIMEOUT})
        engine = create_async_engine(url, **options)
        if not options.get("pool_pre_ping"):
            _ping_when_idle(engine)
        return engine

    if url.database and url.database != ":memory:":
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    inline = inline and url.get_backend_name() == "sqlite"
    if inline and "async_creator" not in options:
        # Statements run on the event loop's thread (``storage.sqlite_inline``): with the
        # connection options SQLAlchemy would have given the driver.
        arguments, keywords = url.get_dialect()().create_connect_args(url)
        for own in ("timeout", "check_same_thread"):
            keywords.pop(own, None)
        options["async_creator"] = sqlite_inline.creator(
            str(arguments[0]), SQLITE_BUSY_TIMEOUT_MS / 1000, dict(keywords)
        )
    engine = create_async_engine(url, **options)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN, instead of the driver's own.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # Inline connections wait for another process's lock themselves, without blocking.
        cursor.execute(f"PRAGMA busy_timeout={0 if inline else SQLITE_BUSY_TIMEOUT_MS}")
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
        self,
        database_url: str,
        *,
        answer_key: AnswerKey | None = None,
        seconds: Callable[[], float] = time.monotonic,
        **options: Any,
    ) -> None:
        self.url = database_url
        self.answer_key = answer_key
        self.engine = make_engine(database_url, **options)
        self._options = dict(options)
        self._bulk: tuple[AsyncEngine, async_sessionmaker[AsyncSession]] | None = None
        self._sessions = async_sessionmaker(
            self.engine, class_=AsyncSession, sync_session_class=UnitSession, expire_on_commit=False
        )
        self._writer: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
        # People's arrivals this process wrote lately (``storage.people.SeenLately``).
        # ``seconds``: its clock (the bot's own, so that a test clock rules it too).
        self.seen_lately = SeenLately(now=seconds)
        self.retry_interval = RETRY_INTERVAL
        self._down_since: float | None = None  # time.monotonic() when it was found down
        self._tried: float = 0.0  # the last connection attempt while down
        self._prober: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    @property
    def dialect(self) -> str:
        """ "sqlite" or "postgresql"."""
        return self.engine.dialect.name

    @property
    def available(self) -> bool:
        """False from the moment the database was found unreachable until it answers again."""
        return self._down_since is None

    @asynccontextmanager
    async def unit(self, *, bulk: bool = False, watch: bool = False) -> AsyncIterator[SqlStores]:
        """One transaction: committed when the block ends, rolled back if it raises.
        ``DatabaseUnavailable`` when the database cannot be reached or is lost meanwhile.
        ``bulk``: the unit writes many rows at once (the delivery worker's batches): on SQLite
        its statements run in a driver thread of their own (aiosqlite), beside the event loop,
        instead of on it as a turn's few statements do. ``watch``: the stores know whether the
        unit has changed anything (``SqlStores.changed``; otherwise it counts as changed once it
        ran a statement)."""
        info = {WATCH: True} if watch else {}
        if self.dialect == "sqlite":
            sessions = self._bulk_sessions() if bulk else self._sessions
            async with self._turn_to_write(), sessions(info=info) as session:
                async with session.begin():
                    stores = SqlStores(session, self.answer_key, self.seen_lately)
                    yield stores
                for done in stores.committed:
                    done()
            return
        if self._down_since is not None and time.monotonic() - self._tried < self.retry_interval:
            raise DatabaseUnavailable("the database is unavailable")
        async with self._sessions(info=info) as session:
            try:
                async with session.begin():
                    try:
                        # Connect first: whatever fails here is the server's absence.
                        await session.connection()
                    except Exception as error:
                        self._lost(error)
                        raise DatabaseUnavailable("the database cannot be reached") from error
                    self._found()
                    stores = SqlStores(session, self.answer_key, self.seen_lately)
                    yield stores
            except DBAPIError as error:
                if not _is_lost(error):
                    raise
                self._lost(error)
                raise DatabaseUnavailable("the connection to the database was lost") from error
            for done in stores.committed:
                done()

    async def probe(self) -> BaseException | None:
        """Ask the database for ``SELECT 1``; None when it answered, else what went wrong
        (``available`` follows the answer)."""
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT + 1), self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception as error:
            self._lost(error)
            return error
        self._found()
        return None

    async def wait_available(self, within: float) -> bool:
        """Wait (at most ``within`` seconds) until the database answers; whether it does.
        However many wait, one of them at a time asks it, every ``retry_interval``."""
        loop = asyncio.get_running_loop()
        if self._prober is None or self._prober[0] is not loop:
            self._prober = (loop, asyncio.Lock())
        lock = self._prober[1]
        try:
            async with asyncio.timeout(within):
                while not self.available:
                    async with lock:
                        waited = time.monotonic() - self._tried
                        if not self.available and waited >= self.retry_interval:
                            await self.probe()
                    if not self.available:
                        await asyncio.sleep(min(self.retry_interval, RETRY_INTERVAL) / 2)
        except TimeoutError:
            return False
        return True

    async def watch(self) -> None:
        """Until cancelled: look at the database every ``WATCH_INTERVAL`` seconds (every
        ``retry_interval`` while it is down), so that ``available`` follows it even when nothing
        else asks it."""
        while True:
            await asyncio.sleep(WATCH_INTERVAL if self.available else self.retry_interval)
            await self.probe()

    def _lost(self, error: BaseException) -> None:
        self._tried = time.monotonic()
        if self._down_since is None:
            self._down_since = self._tried
            log.warning("the database is unavailable (%s)", type(error).__name__)

    def _found(self) -> None:
        if self._down_since is not None:
            log.info("the database is back after %.1f s", time.monotonic() - self._down_since)
            self._down_since = None

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
            # Never longer than SQLite itself would have waited: then on as before. (A timeout
            # rather than ``wait_for``, which ran every acquisition in a task of its own.)
            async with asyncio.timeout(SQLITE_BUSY_TIMEOUT_MS / 1000):
                await lock.acquire()
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

    def _bulk_sessions(self) -> async_sessionmaker[AsyncSession]:
        """Sessions on an engine whose SQLite statements run in aiosqlite's threads (made on
        first use): a batch's statements are long enough for running beside the event loop
        to pay for the trips to the thread and back."""
        if self._bulk is None:
            engine = make_engine(self.url, inline=False, **self._options)
            self._bulk = (
                engine,
                async_sessionmaker(
                    engine,
                    class_=AsyncSession,
                    sync_session_class=UnitSession,
                    expire_on_commit=False,
                ),
            )
        return self._bulk[1]

    def engines(self) -> list[AsyncEngine]:
        """Every engine of this database: the turns' and, on SQLite, the batches'."""
        if self.dialect != "sqlite":
            return [self.engine]
        self._bulk_sessions()
        assert self._bulk is not None
        return [self.engine, self._bulk[0]]

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
        if self._bulk is not None:
            await self._bulk[0].dispose()


def _is_lost(error: DBAPIError) -> bool:
    """Whether a driver error means the server went away (rather than a statement failing)."""
    if error.connection_invalidated:
        return True
    state = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    return isinstance(state, str) and state.startswith(_LOST_STATES)
