"""The console's feed: cards posted into console conversations, read by every terminal in them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import Column, Index, Text, delete, func
from sqlmodel import Field, SQLModel, col, select

from storage.common import SqlStore, rowcount, utc_field
from storage.meta import MetaRow

# How far a person's terminal has read a conversation (adapters/console: ``seen_key``).
SEEN_PREFIX = "console_seen:"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsolePost:
    """A card posted into a console conversation (its JSON, see ``bot.ui.card_to_json``);
    ``replaces`` is the id of an earlier post this one changes (a card updated in place)."""

    id: int
    conversation: str
    card: str
    replaces: str | None = None


class ConsoleFeed(Protocol):
    """Cards posted to console conversations, read by every terminal in them."""

    async def post(
        self,
        conversation: str,
        card: str,
        now: datetime,
        *,
        outbox_key: str | None = None,
        replaces: str | None = None,
    ) -> int:
        """Append a card (a proactive one with its outbox key; one that changes an earlier
        post, with that post's id); its id."""
        ...

    async def has_outbox_key(self, conversation: str, outbox_key: str) -> bool:
        """True when a card with this outbox key was posted to the conversation."""
        ...

    async def since(self, conversation: str, after: int, limit: int = 100) -> list[ConsolePost]:
        """Cards posted after id ``after``, oldest first."""
        ...

    async def last_id(self, conversation: str) -> int:
        """The id of the newest card (0 when none)."""
        ...

    async def forget(self, direct: str | None, user: str) -> int:
        """Erase a person's direct conversation (``direct``) and the marks of how far their
        terminals read each conversation; how many rows."""
        ...


class ConsolePostRow(SQLModel, table=True):
    """A card posted to a console conversation, so every terminal in that conversation sees it."""

    __tablename__ = "console_posts"
    __table_args__ = (Index("ix_console_posts_conversation", "conversation", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    conversation: str = Field(max_length=255)
    card: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = utc_field()
    # The outbox key of a proactive post, so the delivery machinery can tell after a crash
    # whether the post happened (``ConsoleOutbound.was_sent``).
    outbox_key: str | None = Field(default=None, max_length=255, index=True)
    # The id of the earlier post this one changes (terminals show it as an update).
    replaces: str | None = Field(default=None, max_length=32)


class SqlConsoleFeed(SqlStore):
    """Console conversation posts in ``console_posts``."""

    async def post(
        self,
        conversation: str,
        card: str,
        now: datetime,
        *,
        outbox_key: str | None = None,
        replaces: str | None = None,
    ) -> int:
        row = ConsolePostRow(
            conversation=conversation,
            card=card,
            created_at=now,
            outbox_key=outbox_key,
            replaces=replaces,
        )
        self.session.add(row)
        await self.session.flush()
        assert row.id is not None
        return row.id

    async def has_outbox_key(self, conversation: str, outbox_key: str) -> bool:
        found = await self.session.exec(
            select(func.count()).where(
                col(ConsolePostRow.conversation) == conversation,
                col(ConsolePostRow.outbox_key) == outbox_key,
            )
        )
        return int(found.one()) > 0

    async def since(self, conversation: str, after: int, limit: int = 100) -> list[ConsolePost]:
        rows = await self.session.exec(
            select(ConsolePostRow)
            .where(col(ConsolePostRow.conversation) == conversation, col(ConsolePostRow.id) > after)
            .order_by(col(ConsolePostRow.id))
            .limit(limit)
        )
        return [
            ConsolePost(id=r.id, conversation=r.conversation, card=r.card, replaces=r.replaces)
            for r in rows
            if r.id is not None
        ]

    async def last_id(self, conversation: str) -> int:
        found = await self.session.exec(
            select(func.max(ConsolePostRow.id)).where(
                col(ConsolePostRow.conversation) == conversation
            )
        )
        return int(found.one() or 0)

    async def forget(self, direct: str | None, user: str) -> int:
        gone = 0
        if direct:
            posts = await self.session.exec(
                delete(ConsolePostRow)
                .where(col(ConsolePostRow.conversation) == direct)
                .execution_options(synchronize_session=False)
            )
            gone += rowcount(posts)
        marks = await self.session.exec(
            delete(MetaRow)
            .where(col(MetaRow.key).like(f"{SEEN_PREFIX}%:{user}"))
            .execution_options(synchronize_session=False)
        )
        return gone + rowcount(marks)
