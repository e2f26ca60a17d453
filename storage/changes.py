"""Whether a unit of work has changed anything: ``UnitSession.changed``.

A Slack slash command is never sent twice, so its turn needs no record that it happened unless
it changed something (``bot.dispatch``). Whether it did is kept on the connection: every
statement that is not a read marks its transaction as changed (``watch_changes``), and the
unit's session knows its connection once it has one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Session

# On a connection: whether its transaction has run a statement that may change something.
_CHANGED = "valuesbot_changed"
# On a session: its connection, once it has one.
_CONNECTION = "valuesbot_connection"
# How statements that change nothing begin; any other statement counts as a change.
_READS = ("SELECT", "BEGIN", "PRAGMA", "SAVEPOINT", "RELEASE", "ROLLBACK", "COMMIT", "SHOW")


def watch_changes(engine: AsyncEngine) -> None:
    """Keep on each of ``engine``'s connections whether its transaction has run a statement
    that may change something (an insert, an update, a delete: anything but a read)."""

    @event.listens_for(engine.sync_engine, "begin")
    def _began(connection: Any) -> None:
        connection.info[_CHANGED] = False

    @event.listens_for(engine.sync_engine, "after_cursor_execute")
    def _ran(connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not connection.info.get(_CHANGED) and not _reads(statement):
            connection.info[_CHANGED] = True


def _reads(statement: str) -> bool:
    """Whether the statement only reads (by its first word: a long statement is not copied)."""
    return statement[:24].lstrip().upper().startswith(_READS)


class UnitSession(Session):
    """The session of one unit of work, which knows whether its transaction changed anything
    (on an engine given to ``watch_changes``)."""

    @property
    def changed(self) -> bool:
        """Whether a statement that may change something ran in this session's transaction:
        False while it has no connection."""
        connection = self.info.get(_CONNECTION)
        return bool(connection is not None and connection.info.get(_CHANGED))


@event.listens_for(UnitSession, "after_begin")
def _connected(session: Session, _transaction: Any, connection: Any) -> None:
    session.info[_CONNECTION] = connection
