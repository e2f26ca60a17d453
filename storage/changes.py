"""Whether a unit of work has changed anything: ``UnitSession.changed``.

A Slack slash command is never sent twice, so its turn needs no record that it happened unless
it changed something (``bot.dispatch``). Its unit is watched (``Database.unit(watch=True)``):
once the unit's session has a connection, every statement run on that connection that is not a
read marks the unit as changed. The mark is made by a listener on that one connection, so the
engine's other connections (every other turn, the delivery worker) run their statements
without any listener.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlmodel import Session

# Session info: the unit is watched; it has a connection; a statement may have changed something.
WATCH = "valuesbot_watch"
_CONNECTED = "valuesbot_connected"
_CHANGED = "valuesbot_changed"
# How statements that change nothing begin; any other statement counts as a change.
_READS = ("SELECT", "BEGIN", "PRAGMA", "SAVEPOINT", "RELEASE", "ROLLBACK", "COMMIT", "SHOW")


def _reads(statement: str) -> bool:
    """Whether the statement only reads (by its first word: a long statement is not copied)."""
    return statement[:24].lstrip().upper().startswith(_READS)


class UnitSession(Session):
    """The session of one unit of work, which knows whether its transaction changed anything
    when it was made with ``info={WATCH: True}``."""

    @property
    def changed(self) -> bool:
        """Whether a statement that may change something ran in this session's transaction:
        False while it has no connection; True for an unwatched session that has one (it may
        have)."""
        if not self.info.get(_CONNECTED):
            return False
        return bool(self.info.get(_CHANGED)) if self.info.get(WATCH) else True


@event.listens_for(UnitSession, "after_begin")
def _connected(session: Session, _transaction: Any, connection: Any) -> None:
    marks = session.info
    marks[_CONNECTED] = True
    if not marks.get(WATCH):
        return

    def _ran(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not marks.get(_CHANGED) and not _reads(statement):
            marks[_CHANGED] = True

    event.listen(connection, "after_cursor_execute", _ran)
