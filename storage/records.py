"""People's own records: the single-use links to download what the bot holds about them, the
marks on people a platform said are gone (erased after a grace period unless they come back),
and the audit trail of what comms and admins did.

A download link's token is never stored, only its hash: a copy of the database opens nothing.
The audit trail says who did what to which object and when, never what anyone answered or
wrote; a person erased is named in it by nobody (their own entries say "erased").
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import Index, bindparam, delete, update
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.common import SqlStore, conflict_insert, rowcount, utc_field
from storage.people import PersonKey, SeenLately

ERASED = "erased"
"""What an erased person's own audit entries name as their actor."""


def actor_of(person: PersonKey) -> str:
    """How the audit trail names a person: ``slack:T0123:U0456``."""
    return f"{person.platform}:{person.tenant}:{person.user}"


class LinkKind(StrEnum):
    """What a download link gives."""

    DOCX = "docx"
    JSON = "json"
    HTML = "html"


class LinkState(StrEnum):
    """What happened when a link was followed."""

    OK = "ok"
    USED = "used"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportLink:
    """A download link issued to a person (its token is not kept)."""

    person: PersonKey
    kind: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkUse:
    """The outcome of following a link: ``OK`` (and whose it is, of which kind) once, then
    ``USED``; ``EXPIRED`` after its time; ``UNKNOWN`` for a token never issued (or erased)."""

    state: LinkState
    person: PersonKey | None = None
    kind: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Leaver:
    """Someone a platform said is gone: their data is erased at ``erase_after`` unless they
    come back first."""

    person: PersonKey
    reason: str
    left_at: datetime
    erase_after: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    """One comms or admin action: who, what, on which object, when. Never content."""

    id: str
    at: datetime
    actor: str
    action: str
    subject: str = ""


class RecordStore(Protocol):
    """Download links, leaver marks and the audit trail."""

    async def issue_link(
        self, token_hash: str, person: PersonKey, kind: str, now: datetime, expires_at: datetime
    ) -> None:
        """Keep the hash of a new link's token."""
        ...

    async def use_link(self, token_hash: str, kind: str, now: datetime) -> LinkUse:
        """Follow a link of ``kind``: ``OK`` exactly once (two requests at once: one of them),
        then ``USED``; asked as another kind it is ``UNKNOWN`` and stays unused."""
        ...

    async def links_of(self, person: PersonKey) -> list[ExportLink]:
        """The links issued to the person, newest first."""
        ...

    async def mark_left(
        self, people: list[PersonKey], reason: str, now: datetime, erase_after: datetime
    ) -> int:
        """Mark people as gone (a person marked already keeps their first mark); how many
        were newly marked."""
        ...

    async def returned(self, person: PersonKey) -> bool:
        """The person did something: lift their mark; True when there was one."""
        ...

    async def leaver(self, person: PersonKey) -> Leaver | None:
        """The person's mark, if they are marked as gone."""
        ...

    async def leavers_due(self, now: datetime, limit: int) -> list[Leaver]:
        """People whose grace period is over, oldest first."""
        ...

    async def audit(self, actor: str, action: str, subject: str, now: datetime) -> AuditEntry:
        """Record an action."""
        ...

    async def audit_since(self, since: datetime | None, limit: int) -> list[AuditEntry]:
        """The audit trail from ``since`` (or the start), oldest first."""
        ...

    async def audit_by(self, actor: str) -> list[AuditEntry]:
        """What one actor did, oldest first (their own record)."""
        ...

    async def forget(self, person: PersonKey) -> int:
        """Erase the person's links and mark; their audit entries are kept naming nobody
        (``ERASED``). How many rows changed."""
        ...

    async def forget_before(self, links_before: datetime, audit_before: datetime) -> int:
        """Retention: links that expired before ``links_before`` and audit entries older than
        ``audit_before`` go. How many went."""
        ...


class ExportLinkRow(SQLModel, table=True):
    """A single-use download link of a person's own record: the hash of its token, never the
    token."""

    __tablename__ = "export_links"
    __table_args__ = (
        Index("ix_export_links_person", "platform", "tenant", "user_id"),
        Index("ix_export_links_expires", "expires_at"),
    )

    token_hash: str = Field(primary_key=True, max_length=64)
    platform: str = Field(max_length=16)
    tenant: str = Field(max_length=64)
    user_id: str = Field(max_length=255)
    kind: str = Field(max_length=16)
    created_at: datetime = utc_field()
    expires_at: datetime = utc_field()
    used_at: datetime | None = utc_field(nullable=True)


class LeaverRow(SQLModel, table=True):
    """Someone a platform said is gone, to erase after the grace period."""

    __tablename__ = "leavers"

    platform: str = Field(primary_key=True, max_length=16)
    tenant: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(primary_key=True, max_length=255)
    reason: str = Field(max_length=32)
    left_at: datetime = utc_field()
    erase_after: datetime = utc_field(index=True)


class AuditRow(SQLModel, table=True):
    """One comms or admin action: who, what, on which object, when. Never content."""

    __tablename__ = "audit_log"

    id: str = Field(primary_key=True, max_length=32)
    at: datetime = utc_field(index=True)
    actor: str = Field(max_length=400, index=True)
    action: str = Field(max_length=64)
    subject: str = Field(default="", max_length=255)


# Whoever does anything is here (every turn): built once.
_LIFT_MARK = delete(LeaverRow.__table__).where(  # type: ignore[attr-defined]
    *(LeaverRow.__table__.c[name] == bindparam(name) for name in ("platform", "tenant", "user_id"))  # type: ignore[attr-defined]
)


def _person_is(row: type[ExportLinkRow] | type[LeaverRow], person: PersonKey) -> tuple[Any, ...]:
    return (
        col(row.platform) == person.platform,
        col(row.tenant) == person.tenant,
        col(row.user_id) == person.user,
    )


def _entry(row: AuditRow) -> AuditEntry:
    return AuditEntry(id=row.id, at=row.at, actor=row.actor, action=row.action, subject=row.subject)


def _leaver(row: LeaverRow) -> Leaver:
    return Leaver(
        person=PersonKey(row.platform, row.tenant, row.user_id),
        reason=row.reason,
        left_at=row.left_at,
        erase_after=row.erase_after,
    )


class SqlRecords(SqlStore):
    """Links in ``export_links``, marks in ``leavers``, the trail in ``audit_log``.
    ``lately``: this process's memory of people's arrivals (``SeenLately``): a person marked
    as gone here is written again when they next arrive, and so their mark is lifted."""

    def __init__(self, session: AsyncSession, lately: SeenLately | None = None) -> None:
        super().__init__(session)
        self.lately = lately

    async def issue_link(
        self, token_hash: str, person: PersonKey, kind: str, now: datetime, expires_at: datetime
    ) -> None:
        self.session.add(
            ExportLinkRow(
                token_hash=token_hash,
                platform=person.platform,
                tenant=person.tenant,
                user_id=person.user,
                kind=kind,
                created_at=now,
                expires_at=expires_at,
            )
        )
        await self.session.flush()

    async def use_link(self, token_hash: str, kind: str, now: datetime) -> LinkUse:
        # The update decides: of two requests at once only one finds used_at still empty.
        used = await self.session.exec(
            update(ExportLinkRow)
            .where(
                col(ExportLinkRow.token_hash) == token_hash,
                col(ExportLinkRow.kind) == kind,
                col(ExportLinkRow.used_at).is_(None),
                col(ExportLinkRow.expires_at) > now,
            )
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        row = await self.session.get(ExportLinkRow, token_hash, populate_existing=True)
        if row is None or row.kind != kind:
            return LinkUse(state=LinkState.UNKNOWN)
        if rowcount(used) == 1:
            return LinkUse(
                state=LinkState.OK,
                person=PersonKey(row.platform, row.tenant, row.user_id),
                kind=row.kind,
            )
        if row.used_at is not None:
            return LinkUse(state=LinkState.USED)
        return LinkUse(state=LinkState.EXPIRED)

    async def links_of(self, person: PersonKey) -> list[ExportLink]:
        rows = await self.session.exec(
            select(ExportLinkRow)
            .where(*_person_is(ExportLinkRow, person))
            .order_by(col(ExportLinkRow.created_at).desc(), col(ExportLinkRow.kind))
        )
        return [
            ExportLink(
                person=person,
                kind=r.kind,
                created_at=r.created_at,
                expires_at=r.expires_at,
                used_at=r.used_at,
            )
            for r in rows
        ]

    async def mark_left(
        self, people: list[PersonKey], reason: str, now: datetime, erase_after: datetime
    ) -> int:
        marked = 0
        for person in dict.fromkeys(people):
            if self.lately is not None:
                self.lately.forget(person)
            statement = (
                conflict_insert(self.session, LeaverRow)
                .values(
                    platform=person.platform,
                    tenant=person.tenant,
                    user_id=person.user,
                    reason=reason,
                    left_at=now,
                    erase_after=erase_after,
                )
                .on_conflict_do_nothing()
            )
            marked += rowcount(await self.session.exec(statement))
        return marked

    async def returned(self, person: PersonKey) -> bool:
        lifted = await self.run(
            _LIFT_MARK,
            {"platform": person.platform, "tenant": person.tenant, "user_id": person.user},
        )
        return rowcount(lifted) > 0

    async def leaver(self, person: PersonKey) -> Leaver | None:
        row = await self.session.get(LeaverRow, (person.platform, person.tenant, person.user))
        return None if row is None else _leaver(row)

    async def leavers_due(self, now: datetime, limit: int) -> list[Leaver]:
        rows = await self.session.exec(
            select(LeaverRow)
            .where(col(LeaverRow.erase_after) <= now)
            .order_by(col(LeaverRow.erase_after), col(LeaverRow.user_id))
            .limit(limit)
        )
        return [_leaver(r) for r in rows]

    async def audit(self, actor: str, action: str, subject: str, now: datetime) -> AuditEntry:
        row = AuditRow(
            id=secrets.token_hex(16), at=now, actor=actor, action=action, subject=subject
        )
        self.session.add(row)
        await self.session.flush()
        return _entry(row)

    async def audit_since(self, since: datetime | None, limit: int) -> list[AuditEntry]:
        statement = select(AuditRow)
        if since is not None:
            statement = statement.where(col(AuditRow.at) >= since)
        rows = await self.session.exec(
            statement.order_by(col(AuditRow.at), col(AuditRow.id)).limit(limit)
        )
        return [_entry(r) for r in rows]

    async def audit_by(self, actor: str) -> list[AuditEntry]:
        rows = await self.session.exec(
            select(AuditRow)
            .where(col(AuditRow.actor) == actor)
            .order_by(col(AuditRow.at), col(AuditRow.id))
        )
        return [_entry(r) for r in rows]

    async def forget(self, person: PersonKey) -> int:
        changed = 0
        for table in (ExportLinkRow, LeaverRow):
            result = await self.session.exec(
                delete(table)
                .where(*_person_is(table, person))
                .execution_options(synchronize_session=False)
            )
            changed += rowcount(result)
        renamed = await self.session.exec(
            update(AuditRow)
            .where(col(AuditRow.actor) == actor_of(person))
            .values(actor=ERASED)
            .execution_options(synchronize_session=False)
        )
        return changed + rowcount(renamed)

    async def forget_before(self, links_before: datetime, audit_before: datetime) -> int:
        links = await self.session.exec(
            delete(ExportLinkRow)
            .where(col(ExportLinkRow.expires_at) < links_before)
            .execution_options(synchronize_session=False)
        )
        entries = await self.session.exec(
            delete(AuditRow)
            .where(col(AuditRow.at) < audit_before)
            .execution_options(synchronize_session=False)
        )
        return rowcount(links) + rowcount(entries)
