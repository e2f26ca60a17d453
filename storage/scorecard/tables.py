"""The scorecard's tables.

Figures comms import or enter (``scorecard_figures``) name nobody: who entered one is in the
audit trail only. Stakeholder feedback is kept like the barometer's answers (DESIGN.md section
4): a link row holds only the hash of its token and whether it is used; an answer waits,
sealed with a key the database does not hold, in ``stakeholder_pending`` (no link, no time, a
random id) until its round closes, when every answer is written at once, in random order, to
``stakeholder_responses`` and ``stakeholder_comments`` (no link, no time, random ids) and the
links forget whether they were used. On SQLite these tables are WITHOUT ROWID, so rows are kept
in the order of their random keys, never in the order they were written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, LargeBinary, Text
from sqlmodel import Field, SQLModel

from storage.common import utc_field

_UNORDERED: dict[str, Any] = {"sqlite_with_rowid": False}


class ScorecardFigureRow(SQLModel, table=True):
    """A figure of one key for one period, from the staff survey or entered by comms."""

    __tablename__ = "scorecard_figures"

    source: str = Field(primary_key=True, max_length=16)
    key: str = Field(primary_key=True, max_length=32)
    period: str = Field(primary_key=True, max_length=16)
    value: float
    respondents: int | None = None
    entered_at: datetime = utc_field()


class StakeholderRoundRow(SQLModel, table=True):
    """A stakeholder feedback round and the rules fixed when it opened (``definition``: the
    questions, scale and organisation types). ``invited`` and ``answered`` are filled in when
    it closes."""

    __tablename__ = "stakeholder_rounds"
    __table_args__ = (Index("ix_stakeholder_rounds_status", "status"),)

    id: str = Field(primary_key=True, max_length=32)
    period: str = Field(max_length=16, unique=True)
    status: str = Field(default="open", max_length=16)
    opened_at: datetime = utc_field()
    closes_at: datetime = utc_field()
    closed_at: datetime | None = utc_field(nullable=True)
    min_group: int
    comment_min: int
    definition: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    invited: int = 0
    answered: int = 0


class StakeholderLinkRow(SQLModel, table=True):
    """A single-use link: the hash of its token (the token itself is only in the file comms
    send out) and whether it has been used. No time: a used link says only that it was used,
    and even that is forgotten when the round closes."""

    __tablename__ = "stakeholder_links"
    __table_args__ = (Index("ix_stakeholder_links_round", "round_id", "used"), _UNORDERED)

    token_hash: str = Field(primary_key=True, max_length=64)
    round_id: str = Field(foreign_key="stakeholder_rounds.id", max_length=32)
    used: bool = False


class StakeholderPendingRow(SQLModel, table=True):
    """An answer waiting for its round to close, sealed with the answer key and padded to one
    size (``storage.barometer.pool``): no link, no time, a random id."""

    __tablename__ = "stakeholder_pending"
    __table_args__ = (_UNORDERED,)

    round_id: str = Field(primary_key=True, foreign_key="stakeholder_rounds.id", max_length=32)
    id: str = Field(primary_key=True, max_length=32)
    sealed: bytes = Field(sa_type=LargeBinary)


class StakeholderResponseRow(SQLModel, table=True):
    """One answer to one question: no link, no time, a random id, the organisation type only
    when enough gave it."""

    __tablename__ = "stakeholder_responses"
    __table_args__ = (
        Index("ix_stakeholder_responses_tally", "round_id", "question", "group_id", "value"),
        _UNORDERED,
    )

    round_id: str = Field(primary_key=True, foreign_key="stakeholder_rounds.id", max_length=32)
    id: str = Field(primary_key=True, max_length=32)
    question: str = Field(max_length=32)
    value: str = Field(max_length=32)
    group_id: str | None = Field(default=None, max_length=32)


class StakeholderCommentRow(SQLModel, table=True):
    """A comment: no link, no time, no organisation type. Shown only when enough answered and
    comms approved it."""

    __tablename__ = "stakeholder_comments"
    __table_args__ = (_UNORDERED,)

    round_id: str = Field(primary_key=True, foreign_key="stakeholder_rounds.id", max_length=32)
    id: str = Field(primary_key=True, max_length=32)
    text: str = Field(sa_type=Text)
    status: str = Field(default="pending", max_length=16)
