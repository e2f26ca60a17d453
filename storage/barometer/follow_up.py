"""You said, we did: the comms team's responses to a closed round's comments (one to a comment,
or one to a theme of several), and the actions that answer a round or a theme.

Nothing here names a person. A response points at comments by their random ids, which hold no
person either (``storage.barometer.tables``); who wrote a response or an action is not kept.
A response is never deleted: withdrawn, it keeps its place (and its comments) with
``withdrawn_at`` set, and is shown as withdrawn; edited, it keeps when it was first written and
when it was last edited. An action's status changes are kept, each with its date.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol

from sqlalchemy import ColumnElement, Index, Text, update
from sqlmodel import Field, SQLModel, col, select

from storage.common import (
    Period,
    SqlStore,
    conflict_insert,
    count_by_period,
    rowcount,
    utc_field,
)

THEME_LIMIT = 80
TITLE_LIMIT = 200
OWNER_LIMIT = 80
# At most this many actions are read at once (a page, a list): far more than an organisation
# records in years.
ACTIONS_AT_ONCE = 500


class ActionStatus(StrEnum):
    """Where an action has got to."""

    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    DROPPED = "dropped"

    @property
    def label(self) -> str:
        """ "In progress"."""
        return self.value.replace("_", " ").capitalize()


@dataclass(frozen=True, slots=True, kw_only=True)
class CommentReply:
    """The comms team's response to one comment, or (``theme`` named) to several."""

    id: str
    round_id: str
    text: str
    theme: str | None = None
    written_at: datetime
    edited_at: datetime | None = None
    withdrawn_at: datetime | None = None
    comments: tuple[str, ...] = ()
    """The ids of the comments it answers."""

    @property
    def withdrawn(self) -> bool:
        """True once the comms team withdrew it."""
        return self.withdrawn_at is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionChange:
    """An action's status, from a date on."""

    status: ActionStatus
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionTarget:
    """What an action answers: a round, or a theme of it (``reply_id``, the theme's
    response)."""

    round_id: str
    reply_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BarometerAction:
    """Something done in answer to the barometer: its title, the team that owns it, where it
    has got to (since ``changed_at``), the date it is due, and what it answers."""

    id: int
    title: str
    owner: str = ""
    status: ActionStatus = ActionStatus.PLANNED
    due: date | None = None
    created_at: datetime
    changed_at: datetime
    history: tuple[ActionChange, ...] = ()
    """Every status it has had, oldest first (the first is the one it was recorded with)."""
    answers: tuple[ActionTarget, ...] = ()


class FollowUpStore(Protocol):
    """Responses to comments, themes and actions."""

    async def add_reply(
        self, round_id: str, text: str, now: datetime, theme: str | None = None
    ) -> CommentReply | None:
        """A new response (with no comments yet); None when ``theme`` is the name of another
        of the round's themes already."""
        ...

    async def edit_reply(self, reply_id: str, text: str, now: datetime) -> bool:
        """Change a response's text (it is published again if it had been withdrawn); marked
        edited unless the text is what it was. False when there is no such response."""
        ...

    async def withdraw_reply(self, reply_id: str, now: datetime) -> bool:
        """Withdraw a response: it is shown as withdrawn, without its text. False when there
        is no such response or it was withdrawn already."""
        ...

    async def attach(self, round_id: str, reply_id: str, comment_ids: Sequence[str]) -> None:
        """Make ``reply_id`` the response of these comments (each comment has one response at
        most: one it had before no longer answers it)."""
        ...

    async def reply(self, reply_id: str) -> CommentReply | None:
        """One response."""
        ...

    async def replies(self, round_id: str) -> list[CommentReply]:
        """A round's responses, withdrawn ones too, oldest first."""
        ...

    async def add_action(
        self,
        *,
        title: str,
        owner: str,
        due: date | None,
        status: ActionStatus,
        answers: Sequence[ActionTarget],
        now: datetime,
    ) -> BarometerAction:
        """Record an action (numbered in order)."""
        ...

    async def set_action_status(
        self, action_id: int, status: ActionStatus, now: datetime
    ) -> BarometerAction | None:
        """Move an action to ``status`` from ``now`` on (nothing changes when it is there
        already); None when there is no such action."""
        ...

    async def action(self, action_id: int) -> BarometerAction | None:
        """One action."""
        ...

    async def actions(self) -> list[BarometerAction]:
        """Every action, newest first (at most ``ACTIONS_AT_ONCE``)."""
        ...

    async def finished_between(self, after: datetime, until: datetime) -> list[BarometerAction]:
        """Actions done now whose status became done in (after, until], in that order."""
        ...

    async def activity(self, what: str, periods: Sequence[Period]) -> dict[str, int]:
        """For the scorecard, in each period: ``"responses"`` published (written then, not
        withdrawn since) or ``"actions"`` that became done then (each action once a period,
        even if it went back and forth)."""
        ...


class BarometerReplyRow(SQLModel, table=True):
    """A response of the comms team to comments of a closed round: to one comment, or, when
    ``theme`` is named, to the comments grouped under it (``barometer_reply_comments``)."""

    __tablename__ = "barometer_replies"
    __table_args__ = (Index("ix_barometer_replies_theme", "round_id", "theme", unique=True),)

    id: str = Field(primary_key=True, max_length=32)
    round_id: str = Field(foreign_key="barometer_rounds.id", max_length=32)
    theme: str | None = Field(default=None, max_length=THEME_LIMIT)
    text: str = Field(sa_type=Text)
    written_at: datetime = utc_field()
    edited_at: datetime | None = utc_field(nullable=True)
    withdrawn_at: datetime | None = utc_field(nullable=True)


class BarometerReplyCommentRow(SQLModel, table=True):
    """Which response answers a comment (one at most)."""

    __tablename__ = "barometer_reply_comments"
    __table_args__ = (Index("ix_barometer_reply_comments_reply", "reply_id"),)

    round_id: str = Field(primary_key=True, foreign_key="barometer_rounds.id", max_length=32)
    comment_id: str = Field(primary_key=True, max_length=32)
    reply_id: str = Field(foreign_key="barometer_replies.id", max_length=32)


class BarometerActionRow(SQLModel, table=True):
    """An action taken in answer to the barometer. ``owner`` is the team the comms team named
    (free text); ``changed_at`` is when it got to its ``status``."""

    __tablename__ = "barometer_actions"
    __table_args__ = (Index("ix_barometer_actions_status", "status", "changed_at"),)

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=TITLE_LIMIT)
    owner: str = Field(default="", max_length=OWNER_LIMIT)
    status: str = Field(max_length=16)
    due: date | None = None
    created_at: datetime = utc_field()
    changed_at: datetime = utc_field()


class BarometerActionChangeRow(SQLModel, table=True):
    """An action's status from a date on: its history."""

    __tablename__ = "barometer_action_changes"
    __table_args__ = (Index("ix_barometer_action_changes_action", "action_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    action_id: int = Field(foreign_key="barometer_actions.id")
    status: str = Field(max_length=16)
    changed_at: datetime = utc_field()


class BarometerActionLinkRow(SQLModel, table=True):
    """A round an action answers, or one of its themes (``reply_id``: the theme's response;
    "" for the round as a whole)."""

    __tablename__ = "barometer_action_links"

    action_id: int = Field(primary_key=True, foreign_key="barometer_actions.id")
    round_id: str = Field(primary_key=True, foreign_key="barometer_rounds.id", max_length=32)
    reply_id: str = Field(primary_key=True, default="", max_length=32)


def _reply(row: BarometerReplyRow, comments: Sequence[str]) -> CommentReply:
    return CommentReply(
        id=row.id,
        round_id=row.round_id,
        text=row.text,
        theme=row.theme,
        written_at=row.written_at,
        edited_at=row.edited_at,
        withdrawn_at=row.withdrawn_at,
        comments=tuple(comments),
    )


class SqlFollowUp(SqlStore):
    """Responses and actions in ``barometer_replies``, ``barometer_reply_comments``,
    ``barometer_actions``, ``barometer_action_changes`` and ``barometer_action_links``."""

    async def add_reply(
        self, round_id: str, text: str, now: datetime, theme: str | None = None
    ) -> CommentReply | None:
        reply_id = secrets.token_hex(16)
        statement = (
            conflict_insert(self.session, BarometerReplyRow)
            .values(id=reply_id, round_id=round_id, theme=theme, text=text, written_at=now)
            .on_conflict_do_nothing()
        )
        if rowcount(await self.session.exec(statement)) != 1:
            return None
        return await self.reply(reply_id)

    async def edit_reply(self, reply_id: str, text: str, now: datetime) -> bool:
        row = await self.session.get(BarometerReplyRow, reply_id, populate_existing=True)
        if row is None:
            return False
        if row.text == text and row.withdrawn_at is None:
            return True
        await self.session.exec(
            update(BarometerReplyRow)
            .where(col(BarometerReplyRow.id) == reply_id)
            .values(text=text, edited_at=now, withdrawn_at=None)
            .execution_options(synchronize_session=False)
        )
        return True

    async def withdraw_reply(self, reply_id: str, now: datetime) -> bool:
        changed = await self.session.exec(
            update(BarometerReplyRow)
            .where(
                col(BarometerReplyRow.id) == reply_id,
                col(BarometerReplyRow.withdrawn_at).is_(None),
            )
            .values(withdrawn_at=now)
            .execution_options(synchronize_session=False)
        )
        return rowcount(changed) == 1

    async def attach(self, round_id: str, reply_id: str, comment_ids: Sequence[str]) -> None:
        for comment_id in dict.fromkeys(comment_ids):
            statement = (
                conflict_insert(self.session, BarometerReplyCommentRow)
                .values(round_id=round_id, comment_id=comment_id, reply_id=reply_id)
                .on_conflict_do_update(
                    index_elements=["round_id", "comment_id"], set_={"reply_id": reply_id}
                )
            )
            await self.session.exec(statement)

    async def reply(self, reply_id: str) -> CommentReply | None:
        row = await self.session.get(BarometerReplyRow, reply_id, populate_existing=True)
        if row is None:
            return None
        links = await self.session.exec(
            select(BarometerReplyCommentRow.comment_id)
            .where(col(BarometerReplyCommentRow.reply_id) == reply_id)
            .order_by(col(BarometerReplyCommentRow.comment_id))
        )
        return _reply(row, list(links.all()))

    async def replies(self, round_id: str) -> list[CommentReply]:
        rows = await self.session.exec(
            select(BarometerReplyRow)
            .where(col(BarometerReplyRow.round_id) == round_id)
            .order_by(col(BarometerReplyRow.written_at), col(BarometerReplyRow.id))
            .execution_options(populate_existing=True)
        )
        links = await self.session.exec(
            select(BarometerReplyCommentRow.reply_id, BarometerReplyCommentRow.comment_id)
            .where(col(BarometerReplyCommentRow.round_id) == round_id)
            .order_by(col(BarometerReplyCommentRow.comment_id))
        )
        by_reply: dict[str, list[str]] = {}
        for reply_id, comment_id in links.all():
            by_reply.setdefault(reply_id, []).append(comment_id)
        return [_reply(row, by_reply.get(row.id, ())) for row in rows.all()]

    async def add_action(
        self,
        *,
        title: str,
        owner: str,
        due: date | None,
        status: ActionStatus,
        answers: Sequence[ActionTarget],
        now: datetime,
    ) -> BarometerAction:
        row = BarometerActionRow(
            title=title, owner=owner, status=status, due=due, created_at=now, changed_at=now
        )
        self.session.add(row)
        await self.session.flush()
        assert row.id is not None
        self.session.add(BarometerActionChangeRow(action_id=row.id, status=status, changed_at=now))
        for target in dict.fromkeys(answers):
            self.session.add(
                BarometerActionLinkRow(
                    action_id=row.id, round_id=target.round_id, reply_id=target.reply_id or ""
                )
            )
        await self.session.flush()
        found = await self.action(row.id)
        assert found is not None
        return found

    async def set_action_status(
        self, action_id: int, status: ActionStatus, now: datetime
    ) -> BarometerAction | None:
        changed = await self.session.exec(
            update(BarometerActionRow)
            .where(
                col(BarometerActionRow.id) == action_id, col(BarometerActionRow.status) != status
            )
            .values(status=status, changed_at=now)
            .execution_options(synchronize_session=False)
        )
        if rowcount(changed) == 1:
            self.session.add(
                BarometerActionChangeRow(action_id=action_id, status=status, changed_at=now)
            )
            await self.session.flush()
        return await self.action(action_id)

    async def action(self, action_id: int) -> BarometerAction | None:
        found = await self._actions(col(BarometerActionRow.id) == action_id)
        return found[0] if found else None

    async def actions(self) -> list[BarometerAction]:
        return await self._actions()

    async def finished_between(self, after: datetime, until: datetime) -> list[BarometerAction]:
        found = await self._actions(
            col(BarometerActionRow.status) == ActionStatus.DONE,
            col(BarometerActionRow.changed_at) > after,
            col(BarometerActionRow.changed_at) <= until,
        )
        return sorted(found, key=lambda a: (a.changed_at, a.id))

    async def activity(self, what: str, periods: Sequence[Period]) -> dict[str, int]:
        if what == "responses":
            counted = await count_by_period(
                self.session,
                col(BarometerReplyRow.written_at),
                col(BarometerReplyRow.id),
                periods,
                col(BarometerReplyRow.withdrawn_at).is_(None),
            )
        elif what == "actions":
            counted = await count_by_period(
                self.session,
                col(BarometerActionChangeRow.changed_at),
                col(BarometerActionChangeRow.action_id),
                periods,
                col(BarometerActionChangeRow.status) == ActionStatus.DONE,
            )
        else:
            raise ValueError(f"no such count: {what}")
        # The distinct ids: an action marked done twice in a month counts once.
        return {period: found.people for period, found in counted.items()}

    async def _actions(self, *where: ColumnElement[bool]) -> list[BarometerAction]:
        rows = list(
            (
                await self.session.exec(
                    select(BarometerActionRow)
                    .where(*where)
                    .order_by(col(BarometerActionRow.id).desc())
                    .limit(ACTIONS_AT_ONCE)
                    .execution_options(populate_existing=True)
                )
            ).all()
        )
        ids = [row.id for row in rows if row.id is not None]
        if not ids:
            return []
        changes = await self.session.exec(
            select(BarometerActionChangeRow)
            .where(col(BarometerActionChangeRow.action_id).in_(ids))
            .order_by(col(BarometerActionChangeRow.id))
        )
        history: dict[int, list[ActionChange]] = {}
        for change in changes.all():
            history.setdefault(change.action_id, []).append(
                ActionChange(status=ActionStatus(change.status), at=change.changed_at)
            )
        links = await self.session.exec(
            select(BarometerActionLinkRow)
            .where(col(BarometerActionLinkRow.action_id).in_(ids))
            .order_by(col(BarometerActionLinkRow.round_id), col(BarometerActionLinkRow.reply_id))
        )
        answers: dict[int, list[ActionTarget]] = {}
        for link in links.all():
            answers.setdefault(link.action_id, []).append(
                ActionTarget(round_id=link.round_id, reply_id=link.reply_id or None)
            )
        return [
            BarometerAction(
                id=row.id,
                title=row.title,
                owner=row.owner,
                status=ActionStatus(row.status),
                due=row.due,
                created_at=row.created_at,
                changed_at=row.changed_at,
                history=tuple(history.get(row.id, ())),
                answers=tuple(answers.get(row.id, ())),
            )
            for row in rows
            if row.id is not None
        ]
