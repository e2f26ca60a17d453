"""Values identifiers: the statement at the front of a key publication saying how it shows each
of the six behaviours and helps achieve the vision, from its author's draft through review by
comms. Only approved identifiers are published (their page, badge, Word page and the register).

The author is the only personal data an identifier holds: the publication's owner is a team.
So an erased author's approved identifiers stay published without them, and the rest go.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol

from sqlalchemy import JSON, Date, Index, Text, delete
from sqlmodel import Field, SQLModel, col

from storage.common import rowcount, utc_field
from storage.people import PersonKey
from storage.review import ReviewedStore, SqlReviewed


class IdentifierStatus(StrEnum):
    """Where an identifier is in review. Only ``APPROVED`` ones are ever published."""

    PENDING = "pending"
    CHANGES_REQUESTED = "changes_requested"
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True, kw_only=True)
class Statement:
    """How the publication shows one behaviour; ``text`` is empty when the author said the
    behaviour is not relevant to it."""

    behaviour: str
    text: str = ""

    @property
    def relevant(self) -> bool:
        """False for "not relevant"."""
        return bool(self.text)


@dataclass(frozen=True, slots=True, kw_only=True)
class Identifier:
    """A values identifier for one publication.

    ``revision`` counts submissions (an edit after "ask for changes" is the next one), so a
    click on an older revision's review card is recognised. ``source`` names the values lens
    check-in it started from ("checkin:<id>" or "team:<id>"), when it did."""

    id: str
    author: PersonKey
    title: str
    statements: tuple[Statement, ...]
    vision: str
    owner: str
    intended: date
    source: str | None = None
    status: str = IdentifierStatus.PENDING
    revision: int = 1
    moderator: str | None = None
    moderator_note: str | None = None
    submitted_at: datetime
    decided_at: datetime | None = None

    @property
    def reference(self) -> str:
        """The reference printed on the identifier ("VI-3F9A-2C71-0B4E")."""
        code = self.id.upper()
        return "VI-" + "-".join(code[i : i + 4] for i in range(0, len(code), 4))

    @property
    def covered(self) -> tuple[str, ...]:
        """The behaviours the publication shows (those not "not relevant")."""
        return tuple(s.behaviour for s in self.statements if s.relevant)


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentifierPage:
    """A page of the register and how many approved identifiers there are in all."""

    items: tuple[Identifier, ...]
    total: int


class IdentifierStore(ReviewedStore[Identifier], Protocol):
    """Values identifiers and their review."""

    async def resubmit(
        self,
        identifier_id: str,
        author: PersonKey,
        *,
        title: str,
        statements: Sequence[Statement],
        vision: str,
        owner: str,
        intended: date,
        now: datetime,
    ) -> Identifier | None:
        """The author's edited version, back to pending as the next revision; None unless it is
        theirs and waiting for them (pending or changes requested)."""
        ...

    async def published(self, offset: int, limit: int) -> IdentifierPage:
        """Approved identifiers, newest approval first (ties by id): the register."""
        ...

    async def forget(self, author: PersonKey, *, keep: Sequence[str] = ()) -> list[Identifier]:
        """Erase the author's identifiers except those in ``keep``, which stay without an
        author (and without the note comms wrote to them). Where the person reviewed others'
        identifiers, they are no longer named as the reviewer. Returns the author's
        identifiers as they were."""
        ...

    async def forget_before(self, when: datetime) -> int:
        """Retention: erase identifiers never approved (waiting, sent back, rejected) whose
        last change was before ``when``; how many. Approved ones are published and stay."""
        ...


class IdentifierRow(SQLModel, table=True):
    """A values identifier, from submission through review."""

    __tablename__ = "identifiers"
    __table_args__ = (
        Index("ix_identifiers_author", "platform", "tenant", "author", "submitted_at"),
        Index("ix_identifiers_status", "status", "decided_at"),
    )

    id: str = Field(primary_key=True, max_length=32)
    platform: str = Field(max_length=16)
    tenant: str = Field(max_length=64)
    author: str = Field(max_length=255)
    title: str = Field(max_length=255)
    statements: list[dict[str, str]] = Field(default_factory=list, sa_type=JSON)
    vision: str = Field(sa_type=Text)
    owner: str = Field(max_length=255)
    intended: date = Field(sa_type=Date)
    source: str | None = Field(default=None, max_length=64)
    status: str = Field(default="pending", max_length=24)
    revision: int = 1
    moderator: str | None = Field(default=None, max_length=255)
    moderator_note: str | None = Field(default=None, sa_type=Text)
    submitted_at: datetime = utc_field()
    decided_at: datetime | None = utc_field(nullable=True)
    updated_at: datetime = utc_field()


def _stored(statements: Sequence[Statement]) -> list[dict[str, str]]:
    return [{"behaviour": s.behaviour, "text": s.text} for s in statements]


def _identifier(row: IdentifierRow) -> Identifier:
    return Identifier(
        id=row.id,
        author=PersonKey(row.platform, row.tenant, row.author),
        title=row.title,
        statements=tuple(
            Statement(behaviour=str(s.get("behaviour", "")), text=str(s.get("text", "")))
            for s in row.statements
        ),
        vision=row.vision,
        owner=row.owner,
        intended=row.intended,
        source=row.source,
        status=row.status,
        revision=row.revision,
        moderator=row.moderator,
        moderator_note=row.moderator_note,
        submitted_at=row.submitted_at,
        decided_at=row.decided_at,
    )


class SqlIdentifiers(SqlReviewed[IdentifierRow, Identifier]):
    """Values identifiers in ``identifiers``."""

    table = IdentifierRow

    def record(self, row: IdentifierRow) -> Identifier:
        return _identifier(row)

    async def add(self, item: Identifier) -> bool:
        return await self._add(
            item,
            title=item.title,
            statements=_stored(item.statements),
            vision=item.vision,
            owner=item.owner,
            intended=item.intended,
            source=item.source,
        )

    async def resubmit(
        self,
        identifier_id: str,
        author: PersonKey,
        *,
        title: str,
        statements: Sequence[Statement],
        vision: str,
        owner: str,
        intended: date,
        now: datetime,
    ) -> Identifier | None:
        return await self._resubmit(
            identifier_id,
            author,
            now,
            title=title,
            statements=_stored(statements),
            vision=vision,
            owner=owner,
            intended=intended,
        )

    async def published(self, offset: int, limit: int) -> IdentifierPage:
        items, total = await self._approved(offset, limit)
        return IdentifierPage(items=tuple(items), total=total)

    async def forget_before(self, when: datetime) -> int:
        gone = await self.session.exec(
            delete(IdentifierRow)
            .where(
                col(IdentifierRow.status) != IdentifierStatus.APPROVED,
                col(IdentifierRow.updated_at) < when,
            )
            .execution_options(synchronize_session=False)
        )
        return rowcount(gone)
