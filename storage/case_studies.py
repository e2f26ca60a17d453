"""Case studies of what good looks like, from submission through moderation by comms."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Protocol

from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    Index,
    Text,
    and_,
    delete,
    func,
    literal_column,
    text,
    update,
)
from sqlmodel import Field, SQLModel, col, select

from bot.events import ConversationRef
from storage.common import (
    Period,
    PeriodCount,
    count_by_period,
    escape_like,
    rowcount,
    tagged,
    utc_field,
)
from storage.digests import DigestItemRow
from storage.people import PersonKey
from storage.review import ReviewedStore, SqlReviewed


class CaseStudyStatus(StrEnum):
    """Where a case study is in moderation. Only ``APPROVED`` ones are ever published."""

    PENDING = "pending"
    CHANGES_REQUESTED = "changes_requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    """The author took it back (unpublished): shown nowhere again."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseStudy:
    """A story of what good looks like, submitted by a member of staff for comms to moderate.

    ``revision`` counts submissions (an edit after "ask for changes" is the next revision), so a
    moderator's click on an older revision's card is recognised. ``named`` is the author's
    consent to be named when it is published."""

    id: str
    author: PersonKey
    title: str
    story: str
    behaviours: tuple[str, ...]
    difference: str
    named: bool
    status: str = CaseStudyStatus.PENDING
    revision: int = 1
    moderator: str | None = None
    moderator_note: str | None = None
    submitted_at: datetime
    decided_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseStudySearch:
    """Which published case studies to list: ``words`` (full-text search), one behaviour, a
    page of ``limit`` from ``offset`` (newest approval first)."""

    words: str = ""
    behaviour: str | None = None
    offset: int = 0
    limit: int = 20


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseStudyPage:
    """A page of published case studies and how many match in all."""

    items: tuple[CaseStudy, ...]
    total: int


class CaseStudyStore(ReviewedStore[CaseStudy], Protocol):
    """Case studies and their moderation."""

    async def resubmit(
        self,
        case_study_id: str,
        author: PersonKey,
        *,
        title: str,
        story: str,
        behaviours: Sequence[str],
        difference: str,
        named: bool,
        now: datetime,
    ) -> CaseStudy | None:
        """The author's edited version, back to pending as the next revision; None unless it is
        theirs and waiting for them (pending or changes requested)."""
        ...

    async def approved_for_digest(
        self, place: ConversationRef, after: datetime, until: datetime, limit: int
    ) -> list[CaseStudy]:
        """Approved in (after, until] in the place's workspace or tenant and never yet in a
        digest to that place, oldest approval first."""
        ...

    async def forget(self, author: PersonKey, *, keep: Sequence[str] = ()) -> list[CaseStudy]:
        """Erase the author's case studies, except those in ``keep``, which stay without an
        author and unnamed; the moderator's note on each goes too (it was written to the
        author). Where the person moderated others' stories, they are no longer named as the
        moderator. Returns the author's case studies as they were."""

    async def published(self, search: CaseStudySearch) -> CaseStudyPage:
        """Approved case studies matching ``search``, newest approval first (ties by id)."""
        ...

    async def published_in_digest(self, run_id: str) -> list[CaseStudy]:
        """The case studies a digest carried that are still published, oldest approval
        first."""
        ...

    async def withdraw(self, case_study_id: str, author: PersonKey, now: datetime) -> bool:
        """The author takes it back: unpublished (or no longer waiting for review) for good.
        False unless it is theirs and not already rejected or withdrawn."""
        ...

    async def set_named(
        self, case_study_id: str, author: PersonKey, named: bool, now: datetime
    ) -> bool:
        """The author's consent to be named, changed; False unless it is theirs."""
        ...

    async def activity(self, what: str, periods: Sequence[Period]) -> dict[str, PeriodCount]:
        """Case studies ``"submitted"`` (by when first submitted) or ``"approved"`` (still
        published, by when approved) in each period, with how many different authors:
        aggregates for the scorecard."""
        ...


class CaseStudyRow(SQLModel, table=True):
    """A case study of what good looks like, from submission through moderation."""

    __tablename__ = "case_studies"
    __table_args__ = (
        Index("ix_case_studies_author", "platform", "tenant", "author", "submitted_at"),
        Index("ix_case_studies_status", "platform", "tenant", "status", "decided_at"),
    )

    id: str = Field(primary_key=True, max_length=32)
    platform: str = Field(max_length=16)
    tenant: str = Field(max_length=64)
    author: str = Field(max_length=255)
    title: str = Field(max_length=255)
    story: str = Field(sa_type=Text)
    behaviours: list[str] = Field(default_factory=list, sa_type=JSON)
    difference: str = Field(sa_type=Text)
    named: bool = False
    status: str = Field(default="pending", max_length=24)
    revision: int = 1
    moderator: str | None = Field(default=None, max_length=255)
    moderator_note: str | None = Field(default=None, sa_type=Text)
    submitted_at: datetime = utc_field()
    decided_at: datetime | None = utc_field(nullable=True)
    updated_at: datetime = utc_field()


ENGLISH = text("'english'::regconfig")


def search_document(
    title: Column[str], story: Column[str], difference: Column[str]
) -> ColumnElement[Any]:
    """What PostgreSQL's full-text search reads of a case study: its title, story and
    difference in English (``to_tsvector('english', ...)``). The GIN index
    ``ix_case_studies_search`` (migration 0014) is on this very expression: PostgreSQL uses an
    expression index only for the same expression, with its constants written in, not bound.
    The index is made by its migration alone (``storage.schema.include_name``)."""
    space = literal_column("' '", Text)
    return func.to_tsvector(ENGLISH, title + space + story + space + difference)


def _case_study(row: CaseStudyRow) -> CaseStudy:
    return CaseStudy(
        id=row.id,
        author=PersonKey(row.platform, row.tenant, row.author),
        title=row.title,
        story=row.story,
        behaviours=tuple(row.behaviours),
        difference=row.difference,
        named=row.named,
        status=row.status,
        revision=row.revision,
        moderator=row.moderator,
        moderator_note=row.moderator_note,
        submitted_at=row.submitted_at,
        decided_at=row.decided_at,
    )


class SqlCaseStudies(SqlReviewed[CaseStudyRow, CaseStudy]):
    """Case studies in ``case_studies``; what went into digests in ``digest_items``."""

    table = CaseStudyRow
    kept_when_erased: ClassVar[Mapping[str, Any]] = {
        "author": "",
        "named": False,
        "moderator_note": None,
    }

    def record(self, row: CaseStudyRow) -> CaseStudy:
        return _case_study(row)

    async def activity(self, what: str, periods: Sequence[Period]) -> dict[str, PeriodCount]:
        author = (
            col(CaseStudyRow.platform)
            + ":"
            + col(CaseStudyRow.tenant)
            + ":"
            + col(CaseStudyRow.author)
        )
        if what == "submitted":
            return await count_by_period(
                self.session, col(CaseStudyRow.submitted_at), author, periods
            )
        if what == "approved":
            return await count_by_period(
                self.session,
                col(CaseStudyRow.decided_at),
                author,
                periods,
                col(CaseStudyRow.status) == CaseStudyStatus.APPROVED,
            )
        raise ValueError(f"no case study activity {what!r}")

    async def add(self, item: CaseStudy) -> bool:
        return await self._add(
            item,
            title=item.title,
            story=item.story,
            behaviours=list(item.behaviours),
            difference=item.difference,
            named=item.named,
        )

    async def resubmit(
        self,
        case_study_id: str,
        author: PersonKey,
        *,
        title: str,
        story: str,
        behaviours: Sequence[str],
        difference: str,
        named: bool,
        now: datetime,
    ) -> CaseStudy | None:
        return await self._resubmit(
            case_study_id,
            author,
            now,
            title=title,
            story=story,
            behaviours=list(behaviours),
            difference=difference,
            named=named,
        )

    async def approved_for_digest(
        self, place: ConversationRef, after: datetime, until: datetime, limit: int
    ) -> list[CaseStudy]:
        platform = str(place.platform)
        already = select(DigestItemRow.case_study_id).where(
            col(DigestItemRow.platform) == platform,
            col(DigestItemRow.tenant) == place.tenant,
            col(DigestItemRow.conversation) == place.conversation,
        )
        rows = await self.session.exec(
            select(CaseStudyRow)
            .where(
                col(CaseStudyRow.platform) == platform,
                col(CaseStudyRow.tenant) == place.tenant,
                col(CaseStudyRow.status) == CaseStudyStatus.APPROVED,
                col(CaseStudyRow.decided_at) > after,
                col(CaseStudyRow.decided_at) <= until,
                col(CaseStudyRow.id).not_in(already),
            )
            .order_by(col(CaseStudyRow.decided_at), col(CaseStudyRow.id))
            .limit(limit)
        )
        return [_case_study(r) for r in rows]

    async def _erasing(self, gone: Sequence[str]) -> None:
        await self.session.exec(
            delete(DigestItemRow)
            .where(col(DigestItemRow.case_study_id).in_(gone))
            .execution_options(synchronize_session=False)
        )

    async def published(self, search: CaseStudySearch) -> CaseStudyPage:
        conditions = []
        if search.behaviour:
            conditions.append(tagged(col(CaseStudyRow.behaviours), search.behaviour))
        words = search.words.strip()
        if words:
            conditions.append(self._matches(words))
        items, total = await self._approved(search.offset, search.limit, *conditions)
        return CaseStudyPage(items=tuple(items), total=total)

    def _matches(self, words: str) -> ColumnElement[bool]:
        columns = CaseStudyRow.__table__.c  # type: ignore[attr-defined]
        title, story, difference = columns.title, columns.story, columns.difference
        if self.dialect == "postgresql":
            # The same expression as the index ix_case_studies_search, so it is used.
            return search_document(title, story, difference).op("@@")(
                func.websearch_to_tsquery(ENGLISH, words)
            )
        joined = title + " " + story + " " + difference
        # SQLite: every word somewhere in the title, story or difference (LIKE ignores ASCII
        # case), with LIKE's own wildcards taken literally.
        return and_(
            *(joined.like(f"%{escape_like(word)}%", escape="\\") for word in words.split()[:10])
        )

    async def published_in_digest(self, run_id: str) -> list[CaseStudy]:
        carried = select(DigestItemRow.case_study_id).where(col(DigestItemRow.run_id) == run_id)
        rows = await self.session.exec(
            select(CaseStudyRow)
            .where(
                col(CaseStudyRow.id).in_(carried),
                col(CaseStudyRow.status) == CaseStudyStatus.APPROVED,
            )
            .order_by(col(CaseStudyRow.decided_at), col(CaseStudyRow.id))
        )
        return [_case_study(r) for r in rows]

    async def withdraw(self, case_study_id: str, author: PersonKey, now: datetime) -> bool:
        withdrawn = await self.session.exec(
            update(CaseStudyRow)
            .where(
                col(CaseStudyRow.id) == case_study_id,
                *self._written_by(author),
                col(CaseStudyRow.status).not_in(
                    [CaseStudyStatus.REJECTED, CaseStudyStatus.WITHDRAWN]
                ),
            )
            .values(status=CaseStudyStatus.WITHDRAWN, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return rowcount(withdrawn) == 1

    async def set_named(
        self, case_study_id: str, author: PersonKey, named: bool, now: datetime
    ) -> bool:
        changed = await self.session.exec(
            update(CaseStudyRow)
            .where(col(CaseStudyRow.id) == case_study_id, *self._written_by(author))
            .values(named=named, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return rowcount(changed) == 1
