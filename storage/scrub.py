"""Removing the physical traces of deleted rows, after a transaction that deleted them.

Deleting a row in SQL does not erase its bytes at once: PostgreSQL keeps the old row version
(with the id of the transaction that wrote it) until VACUUM, and SQLite keeps old pages in its
write-ahead log until a checkpoint. After a barometer round closes, its participation rows, its
waiting answers and its answer rows (it keeps their counts) are deleted (see
``storage.barometer.SqlBarometer``), and after a stakeholder round closes, its waiting answers
and which of its links were used (``storage.scorecard``); ``scrub`` then asks the database to
drop those traces, so that nobody reading the database files later finds them. Run it outside
any unit of work.
"""

from __future__ import annotations

from collections.abc import Sequence

from storage.engine import Database

BAROMETER_TABLES = (
    "barometer_participation",
    "barometer_pending",
    "barometer_responses",
    "barometer_comments",
)
STAKEHOLDER_TABLES = (
    "stakeholder_links",
    "stakeholder_pending",
    "stakeholder_responses",
    "stakeholder_comments",
)
"""A stakeholder round's closing forgets which links were used and moves its answers out of
the pool, like a barometer round's."""
SCRUBBED_TABLES = (*BAROMETER_TABLES, *STAKEHOLDER_TABLES)


async def scrub(database: Database, tables: Sequence[str] = SCRUBBED_TABLES) -> None:
    """VACUUM the tables (PostgreSQL) or checkpoint and truncate the write-ahead log (SQLite,
    whose deleted rows are zeroed as they are deleted: ``secure_delete``)."""
    async with database.engine.connect() as connection:
        if database.dialect == "postgresql":
            auto = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await auto.exec_driver_sql(f"VACUUM {', '.join(tables)}")
            return
        # Straight to the driver: SQLAlchemy would open a transaction first, and a checkpoint
        # cannot run inside one.
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        cursor = await driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        await cursor.close()
