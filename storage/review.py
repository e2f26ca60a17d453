"""Records reviewed by comms, as case studies and values identifiers share them: what their rows
have in common and the SQL of their review.

Each such table holds a record's author (platform, tenant, user), its ``status`` (pending,
changes requested, approved, rejected, and whatever else the feature adds), its ``revision``
(one per submission: an edit after "ask for changes" is the next), the moderator, the note they
wrote to the author and the times it was submitted, decided and last changed. ``SqlReviewed``
is the base of such a feature's store: it files, finds, decides, lists and forgets records, and
the feature says which table it uses, how a row becomes its record and what it keeps of an
erased author's records.

A decision changes a row only if it is still pending at the revision the moderator saw, so the
first decision wins and a card of an older revision decides nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from sqlalchemy import ColumnElement, delete, func, inspect, update
from sqlmodel import SQLModel, select

from storage.common import SqlStore, conflict_insert, rowcount
from storage.people import PersonKey

PENDING = "pending"
CHANGES_REQUESTED = "changes_requested"
APPROVED = "approved"
REJECTED = "rejected"

WAITING = (PENDING, CHANGES_REQUESTED)
"""Where the author may still change a record."""


class Reviewable(Protocol):
    """What every reviewed record holds, besides its feature's own fields."""

    @property
    def id(self) -> str: ...
    @property
    def author(self) -> PersonKey: ...
    @property
    def status(self) -> str: ...
    @property
    def revision(self) -> int: ...
    @property
    def moderator(self) -> str | None: ...
    @property
    def moderator_note(self) -> str | None: ...
    @property
    def submitted_at(self) -> datetime: ...
    @property
    def decided_at(self) -> datetime | None: ...


_Item = TypeVar("_Item", bound=Reviewable)
_Row = TypeVar("_Row", bound=SQLModel)


class ReviewedStore(Protocol[_Item]):
    """A feature's records under review by comms."""

    async def add(self, item: _Item) -> bool:
        """Store a new submission; False when its id is stored already (a second click on the
        same form)."""
        ...

    async def get(self, item_id: str) -> _Item | None:
        """One record, if it exists."""
        ...

    async def decide(
        self,
        item_id: str,
        revision: int,
        status: str,
        moderator: str,
        note: str | None,
        now: datetime,
    ) -> _Item | None:
        """Approve, ask for changes or reject this revision if it is still pending; None when
        someone decided first or the author sent a newer revision."""
        ...

    async def pending(self, platform: str, tenant: str, limit: int) -> list[_Item]:
        """Submissions waiting for comms, oldest first."""
        ...

    async def for_author(self, author: PersonKey, limit: int) -> list[_Item]:
        """The author's records, newest first."""
        ...

    async def for_person(self, author: PersonKey) -> list[_Item]:
        """Every record of the author, newest first (their own record)."""
        ...


class SqlReviewed(SqlStore, Generic[_Row, _Item]):
    """The SQL of a feature's reviewed records, in the table ``table``."""

    table: type[_Row]
    """The feature's table."""
    kept_when_erased: ClassVar[Mapping[str, Any]] = {"author": "", "moderator_note": None}
    """What ``forget`` writes on the records of an erased author that stay (the note comms
    wrote was to the author, so it goes too)."""

    def record(self, row: _Row) -> _Item:
        """A row as the feature's record."""
        raise NotImplementedError

    @property
    def _c(self) -> Any:
        return inspect(self.table).columns

    def _written_by(self, author: PersonKey) -> tuple[ColumnElement[bool], ...]:
        c = self._c
        return (
            c.platform == author.platform,
            c.tenant == author.tenant,
            c.author == author.user,
        )

    async def _add(self, item: _Item, **fields: Any) -> bool:
        """Insert a new submission: the review columns from ``item``, the feature's own
        ``fields`` as given."""
        statement = (
            conflict_insert(self.session, self.table)
            .values(
                id=item.id,
                platform=item.author.platform,
                tenant=item.author.tenant,
                author=item.author.user,
                **fields,
                status=item.status,
                revision=item.revision,
                moderator=item.moderator,
                moderator_note=item.moderator_note,
                submitted_at=item.submitted_at,
                decided_at=item.decided_at,
                updated_at=item.submitted_at,
            )
            .on_conflict_do_nothing()
        )
        return rowcount(await self.session.exec(statement)) == 1

    async def get(self, item_id: str) -> _Item | None:
        row = await self.session.get(self.table, item_id, populate_existing=True)
        return None if row is None else self.record(row)

    async def _resubmit(
        self, item_id: str, author: PersonKey, now: datetime, **fields: Any
    ) -> _Item | None:
        """The author's edited ``fields``, back to pending as the next revision; None unless it
        is theirs and waiting for them."""
        c = self._c
        changed = await self.session.exec(
            update(self.table)
            .where(c.id == item_id, *self._written_by(author), c.status.in_(WAITING))
            .values(
                **fields,
                status=PENDING,
                revision=c.revision + 1,
                submitted_at=now,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if rowcount(changed) != 1:
            return None
        return await self.get(item_id)

    async def decide(
        self,
        item_id: str,
        revision: int,
        status: str,
        moderator: str,
        note: str | None,
        now: datetime,
    ) -> _Item | None:
        c = self._c
        decided = await self.session.exec(
            update(self.table)
            .where(c.id == item_id, c.revision == revision, c.status == PENDING)
            .values(
                status=status,
                moderator=moderator,
                moderator_note=note,
                decided_at=now,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if rowcount(decided) != 1:
            return None
        return await self.get(item_id)

    async def pending(self, platform: str, tenant: str, limit: int) -> list[_Item]:
        c = self._c
        rows = await self.session.exec(
            select(self.table)
            .where(c.platform == platform, c.tenant == tenant, c.status == PENDING)
            .order_by(c.submitted_at, c.id)
            .limit(limit)
        )
        return [self.record(r) for r in rows]

    async def for_author(self, author: PersonKey, limit: int) -> list[_Item]:
        c = self._c
        rows = await self.session.exec(
            select(self.table)
            .where(*self._written_by(author))
            .order_by(c.submitted_at.desc(), c.id)
            .limit(limit)
        )
        return [self.record(r) for r in rows]

    async def for_person(self, author: PersonKey) -> list[_Item]:
        c = self._c
        rows = await self.session.exec(
            select(self.table)
            .where(*self._written_by(author))
            .order_by(c.submitted_at.desc(), c.id)
        )
        return [self.record(r) for r in rows]

    async def _approved(
        self, offset: int, limit: int, *where: ColumnElement[bool]
    ) -> tuple[list[_Item], int]:
        """A page of the approved records matching ``where``, newest approval first (ties by
        id), and how many match in all."""
        c = self._c
        conditions = (c.status == APPROVED, *where)
        total = await self.session.exec(select(func.count()).where(*conditions))
        rows = await self.session.exec(
            select(self.table)
            .where(*conditions)
            .order_by(c.decided_at.desc(), c.id.desc())
            .offset(offset)
            .limit(limit)
        )
        return [self.record(r) for r in rows], int(total.one())

    async def _erasing(self, gone: Sequence[str]) -> None:
        """What else goes with the records ``gone`` of an erased author, before they do."""

    async def forget(self, author: PersonKey, *, keep: Sequence[str] = ()) -> list[_Item]:
        """Erase the author's records except those in ``keep``, which stay as
        ``kept_when_erased`` says. Where the person moderated others' records, they are no
        longer named as the moderator. Returns the author's records as they were."""
        c = self._c
        theirs = await self.for_person(author)
        gone = [i.id for i in theirs if i.id not in keep]
        if gone:
            await self._erasing(gone)
            await self.session.exec(
                delete(self.table)
                .where(c.id.in_(gone))
                .execution_options(synchronize_session=False)
            )
        kept = [i.id for i in theirs if i.id in keep]
        if kept:
            await self.session.exec(
                update(self.table)
                .where(c.id.in_(kept))
                .values(**self.kept_when_erased)
                .execution_options(synchronize_session=False)
            )
        await self.session.exec(
            update(self.table)
            .where(
                c.platform == author.platform,
                c.tenant == author.tenant,
                c.moderator == author.user,
            )
            .values(moderator="")
            .execution_options(synchronize_session=False)
        )
        return theirs
