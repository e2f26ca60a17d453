"""Personal commitments ("My contribution is to..."): private to their owner until shared,
with an optional review day and its nudge."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import JSON, Index, Text, UniqueConstraint, delete, func, update
from sqlmodel import Field, SQLModel, col, select

from storage.common import (
    ConcurrentUpdate,
    Period,
    PeriodCount,
    SqlStore,
    conflict_insert,
    count_by_period,
    rowcount,
    tagged,
    utc_field,
)
from storage.people import PersonKey


class CommitmentStatus(StrEnum):
    """Whether a commitment is still being worked on."""

    OPEN = "open"
    DONE = "done"


@dataclass(frozen=True, slots=True, kw_only=True)
class Commitment:
    """A personal commitment ("My contribution is to..."): private to its owner until shared.

    ``review_on`` is the day its owner wants a nudge to look back at it; ``review_nudged_at``
    says the nudge for that day has been queued."""

    id: str
    owner: PersonKey
    text: str
    behaviours: tuple[str, ...] = ()
    source: str | None = None
    status: str = CommitmentStatus.OPEN
    review_on: date | None = None
    created_at: datetime
    shared_at: datetime | None = None
    done_at: datetime | None = None
    review_nudged_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        """True until its owner marks it done."""
        return self.status == CommitmentStatus.OPEN


@dataclass(frozen=True, slots=True, kw_only=True)
class CommitmentPage:
    """A page of shared commitments and how many are shared in all."""

    items: tuple[Commitment, ...]
    total: int


class CommitmentStore(Protocol):
    """Personal commitments. Changes name the owner, so nobody changes another's."""

    async def add(self, commitment: Commitment) -> Commitment:
        """Store it; with a ``source`` already stored, the stored one is returned instead."""
        ...

    async def get(self, commitment_id: str) -> Commitment | None:
        """One commitment, if it exists."""
        ...

    async def for_owner(self, owner: PersonKey, limit: int) -> list[Commitment]:
        """The owner's commitments, newest first."""
        ...

    async def by_source(self, source: str) -> Commitment | None:
        """The commitment made from a source (a check-in), if any."""
        ...

    async def edit(
        self,
        commitment_id: str,
        owner: PersonKey,
        *,
        text: str,
        behaviours: Sequence[str],
        review_on: date | None,
        now: datetime,
    ) -> Commitment | None:
        """Change what it says; a new review date gets its own nudge. None if not the owner's."""
        ...

    async def set_status(
        self, commitment_id: str, owner: PersonKey, status: str, now: datetime
    ) -> Commitment | None:
        """Mark it done (or open again); None if not the owner's."""
        ...

    async def set_review(
        self, commitment_id: str, owner: PersonKey, review_on: date | None, now: datetime
    ) -> Commitment | None:
        """A new review date (None: no review); None if not the owner's."""
        ...

    async def mark_shared(self, commitment_id: str, owner: PersonKey, now: datetime) -> bool:
        """Record that it was shared; False if it was shared before (or is not the owner's)."""
        ...

    async def unshare(self, commitment_id: str, now: datetime) -> Commitment | None:
        """Undo a share whose post never reached the values channel: private again, so it can
        be shared again. None if it does not exist or is not shared."""
        ...

    async def delete(self, commitment_id: str, owner: PersonKey) -> bool:
        """Delete it; False if not the owner's."""
        ...

    async def shared_between(
        self, platform: str, tenant: str, after: datetime, until: datetime, limit: int
    ) -> list[Commitment]:
        """Commitments shared in (after, until] in a workspace or tenant, newest first."""
        ...

    async def count_shared_between(
        self, platform: str, tenant: str, after: datetime, until: datetime
    ) -> int:
        """How many commitments were shared in (after, until]."""
        ...

    async def due_for_review(self, today: date, limit: int) -> list[Commitment]:
        """Open commitments whose review day has come and whose nudge is not yet queued."""
        ...

    async def mark_nudged(self, commitment_id: str, review_on: date, now: datetime) -> bool:
        """Record that the nudge for ``review_on`` is queued; False if already recorded or the
        review date changed meanwhile."""
        ...

    async def for_person(self, owner: PersonKey) -> list[Commitment]:
        """Every commitment of the owner, newest first (their own record)."""
        ...

    async def forget(self, owner: PersonKey) -> list[Commitment]:
        """Erase every commitment of the owner; the ones erased (the shared ones among them
        are then taken off what was published)."""

    async def shared(self, behaviour: str | None, offset: int, limit: int) -> CommitmentPage:
        """Commitments their owners share (with one behaviour, when given), newest share first
        (ties by id)."""
        ...

    async def still_shared(self, commitment_ids: Sequence[str]) -> list[Commitment]:
        """Of these commitments, those still shared."""
        ...

    async def stop_sharing(self, commitment_id: str, owner: PersonKey, now: datetime) -> bool:
        """The owner takes a share back; False unless it is theirs and shared."""
        ...

    async def activity(self, what: str, periods: Sequence[Period]) -> dict[str, PeriodCount]:
        """Commitments ``"made"`` (by when they were made), ``"kept"`` (marked done, by when)
        or ``"shared"`` (by when) in each period, with how many different people: aggregates
        for the scorecard. Erased commitments are not counted."""
        ...


class CommitmentRow(SQLModel, table=True):
    """A personal commitment: "My contribution is to..."."""

    __tablename__ = "commitments"
    __table_args__ = (
        Index("ix_commitments_owner", "platform", "tenant", "owner", "created_at"),
        Index("ix_commitments_review", "status", "review_on"),
        Index("ix_commitments_shared", "platform", "tenant", "shared_at"),
        UniqueConstraint("source", name="uq_commitments_source"),
    )

    id: str = Field(primary_key=True, max_length=32)
    platform: str = Field(max_length=16)
    tenant: str = Field(max_length=64)
    owner: str = Field(max_length=255)
    text: str = Field(sa_type=Text)
    behaviours: list[str] = Field(default_factory=list, sa_type=JSON)
    source: str | None = Field(default=None, max_length=64)
    status: str = Field(default="open", max_length=16)
    review_on: date | None = None
    created_at: datetime = utc_field()
    updated_at: datetime = utc_field()
    shared_at: datetime | None = utc_field(nullable=True)
    done_at: datetime | None = utc_field(nullable=True)
    review_nudged_at: datetime | None = utc_field(nullable=True)


def _commitment(row: CommitmentRow) -> Commitment:
    return Commitment(
        id=row.id,
        owner=PersonKey(row.platform, row.tenant, row.owner),
        text=row.text,
        behaviours=tuple(row.behaviours),
        source=row.source,
        status=row.status,
        review_on=row.review_on,
        created_at=row.created_at,
        shared_at=row.shared_at,
        done_at=row.done_at,
        review_nudged_at=row.review_nudged_at,
    )


def _owned_by(owner: PersonKey) -> tuple[Any, ...]:
    return (
        col(CommitmentRow.platform) == owner.platform,
        col(CommitmentRow.tenant) == owner.tenant,
        col(CommitmentRow.owner) == owner.user,
    )


class SqlCommitments(SqlStore):
    """Commitments in ``commitments``."""

    async def activity(self, what: str, periods: Sequence[Period]) -> dict[str, PeriodCount]:
        owner = (
            col(CommitmentRow.platform)
            + ":"
            + col(CommitmentRow.tenant)
            + ":"
            + col(CommitmentRow.owner)
        )
        if what == "made":
            return await count_by_period(
                self.session, col(CommitmentRow.created_at), owner, periods
            )
        if what == "kept":
            return await count_by_period(
                self.session,
                col(CommitmentRow.done_at),
                owner,
                periods,
                col(CommitmentRow.status) == CommitmentStatus.DONE,
            )
        if what == "shared":
            return await count_by_period(self.session, col(CommitmentRow.shared_at), owner, periods)
        raise ValueError(f"no commitment activity {what!r}")

    async def add(self, commitment: Commitment) -> Commitment:
        statement = (
            conflict_insert(self.session, CommitmentRow)
            .values(
                id=commitment.id,
                platform=commitment.owner.platform,
                tenant=commitment.owner.tenant,
                owner=commitment.owner.user,
                text=commitment.text,
                behaviours=list(commitment.behaviours),
                source=commitment.source,
                status=commitment.status,
                review_on=commitment.review_on,
                created_at=commitment.created_at,
                updated_at=commitment.created_at,
                shared_at=commitment.shared_at,
                done_at=commitment.done_at,
                review_nudged_at=commitment.review_nudged_at,
            )
            .on_conflict_do_nothing()
        )
        if rowcount(await self.session.exec(statement)) == 1 or commitment.source is None:
            return commitment
        existing = await self.by_source(commitment.source)
        if existing is None:  # pragma: no cover - the id itself collided
            raise ConcurrentUpdate(f"commitment {commitment.id} exists")
        return existing

    async def get(self, commitment_id: str) -> Commitment | None:
        row = await self.session.get(CommitmentRow, commitment_id, populate_existing=True)
        return None if row is None else _commitment(row)

    async def for_owner(self, owner: PersonKey, limit: int) -> list[Commitment]:
        rows = await self.session.exec(
            select(CommitmentRow)
            .where(*_owned_by(owner))
            .order_by(col(CommitmentRow.created_at).desc(), col(CommitmentRow.id))
            .limit(limit)
        )
        return [_commitment(r) for r in rows]

    async def by_source(self, source: str) -> Commitment | None:
        rows = await self.session.exec(
            select(CommitmentRow).where(col(CommitmentRow.source) == source)
        )
        row = rows.first()
        return None if row is None else _commitment(row)

    async def _change(
        self, commitment_id: str, owner: PersonKey, values: dict[str, Any]
    ) -> Commitment | None:
        changed = await self.session.exec(
            update(CommitmentRow)
            .where(col(CommitmentRow.id) == commitment_id, *_owned_by(owner))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if rowcount(changed) != 1:
            return None
        return await self.get(commitment_id)

    async def edit(
        self,
        commitment_id: str,
        owner: PersonKey,
        *,
        text: str,
        behaviours: Sequence[str],
        review_on: date | None,
        now: datetime,
    ) -> Commitment | None:
        current = await self.get(commitment_id)
        if current is None or current.owner != owner:
            return None
        values: dict[str, Any] = {
            "text": text,
            "behaviours": list(behaviours),
            "review_on": review_on,
            "updated_at": now,
        }
        if review_on != current.review_on:
            values["review_nudged_at"] = None
        return await self._change(commitment_id, owner, values)

    async def set_status(
        self, commitment_id: str, owner: PersonKey, status: str, now: datetime
    ) -> Commitment | None:
        done_at = now if status == CommitmentStatus.DONE else None
        return await self._change(
            commitment_id, owner, {"status": status, "done_at": done_at, "updated_at": now}
        )

    async def set_review(
        self, commitment_id: str, owner: PersonKey, review_on: date | None, now: datetime
    ) -> Commitment | None:
        return await self._change(
            commitment_id,
            owner,
            {"review_on": review_on, "review_nudged_at": None, "updated_at": now},
        )

    async def mark_shared(self, commitment_id: str, owner: PersonKey, now: datetime) -> bool:
        shared = await self.session.exec(
            update(CommitmentRow)
            .where(
                col(CommitmentRow.id) == commitment_id,
                *_owned_by(owner),
                col(CommitmentRow.shared_at).is_(None),
            )
            .values(shared_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return rowcount(shared) == 1

    async def unshare(self, commitment_id: str, now: datetime) -> Commitment | None:
        unshared = await self.session.exec(
            update(CommitmentRow)
            .where(col(CommitmentRow.id) == commitment_id, col(CommitmentRow.shared_at).isnot(None))
            .values(shared_at=None, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if rowcount(unshared) != 1:
            return None
        return await self.get(commitment_id)

    async def delete(self, commitment_id: str, owner: PersonKey) -> bool:
        removed = await self.session.exec(
            delete(CommitmentRow)
            .where(col(CommitmentRow.id) == commitment_id, *_owned_by(owner))
            .execution_options(synchronize_session=False)
        )
        return rowcount(removed) == 1

    @staticmethod
    def _shared(platform: str, tenant: str, after: datetime, until: datetime) -> tuple[Any, ...]:
        return (
            col(CommitmentRow.platform) == platform,
            col(CommitmentRow.tenant) == tenant,
            col(CommitmentRow.shared_at) > after,
            col(CommitmentRow.shared_at) <= until,
        )

    async def shared_between(
        self, platform: str, tenant: str, after: datetime, until: datetime, limit: int
    ) -> list[Commitment]:
        rows = await self.session.exec(
            select(CommitmentRow)
            .where(*self._shared(platform, tenant, after, until))
            .order_by(col(CommitmentRow.shared_at).desc(), col(CommitmentRow.id))
            .limit(limit)
        )
        return [_commitment(r) for r in rows]

    async def count_shared_between(
        self, platform: str, tenant: str, after: datetime, until: datetime
    ) -> int:
        found = await self.session.exec(
            select(func.count()).where(*self._shared(platform, tenant, after, until))
        )
        return int(found.one())

    async def due_for_review(self, today: date, limit: int) -> list[Commitment]:
        rows = await self.session.exec(
            select(CommitmentRow)
            .where(
                col(CommitmentRow.status) == CommitmentStatus.OPEN,
                col(CommitmentRow.review_on) <= today,
                col(CommitmentRow.review_nudged_at).is_(None),
            )
            .order_by(col(CommitmentRow.review_on), col(CommitmentRow.id))
            .limit(limit)
        )
        return [_commitment(r) for r in rows]

    async def mark_nudged(self, commitment_id: str, review_on: date, now: datetime) -> bool:
        marked = await self.session.exec(
            update(CommitmentRow)
            .where(
                col(CommitmentRow.id) == commitment_id,
                col(CommitmentRow.review_on) == review_on,
                col(CommitmentRow.review_nudged_at).is_(None),
            )
            .values(review_nudged_at=now)
            .execution_options(synchronize_session=False)
        )
        return rowcount(marked) == 1

    async def for_person(self, owner: PersonKey) -> list[Commitment]:
        rows = await self.session.exec(
            select(CommitmentRow)
            .where(*_owned_by(owner))
            .order_by(col(CommitmentRow.created_at).desc(), col(CommitmentRow.id))
        )
        return [_commitment(r) for r in rows]

    async def forget(self, owner: PersonKey) -> list[Commitment]:
        erased = await self.for_person(owner)
        await self.session.exec(
            delete(CommitmentRow)
            .where(*_owned_by(owner))
            .execution_options(synchronize_session=False)
        )
        return erased

    async def shared(self, behaviour: str | None, offset: int, limit: int) -> CommitmentPage:
        conditions: list[Any] = [col(CommitmentRow.shared_at).isnot(None)]
        if behaviour:
            conditions.append(tagged(col(CommitmentRow.behaviours), behaviour))
        total = await self.session.exec(select(func.count()).where(*conditions))
        rows = await self.session.exec(
            select(CommitmentRow)
            .where(*conditions)
            .order_by(col(CommitmentRow.shared_at).desc(), col(CommitmentRow.id).desc())
            .offset(offset)
            .limit(limit)
        )
        return CommitmentPage(items=tuple(_commitment(r) for r in rows), total=int(total.one()))

    async def still_shared(self, commitment_ids: Sequence[str]) -> list[Commitment]:
        if not commitment_ids:
            return []
        rows = await self.session.exec(
            select(CommitmentRow).where(
                col(CommitmentRow.id).in_(list(commitment_ids)),
                col(CommitmentRow.shared_at).isnot(None),
            )
        )
        return [_commitment(r) for r in rows]

    async def stop_sharing(self, commitment_id: str, owner: PersonKey, now: datetime) -> bool:
        stopped = await self.session.exec(
            update(CommitmentRow)
            .where(
                col(CommitmentRow.id) == commitment_id,
                *_owned_by(owner),
                col(CommitmentRow.shared_at).isnot(None),
            )
            .values(shared_at=None, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return rowcount(stopped) == 1
