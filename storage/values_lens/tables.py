"""The values lens's tables. Notes and actions people write stay in their own rows; team
ratings carry a keyed hash of the member, never the member id."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Text, text
from sqlmodel import Field, SQLModel

from storage.common import utc_field


class CheckinRow(SQLModel, table=True):
    """A completed personal values lens check-in."""

    __tablename__ = "checkins"
    __table_args__ = (Index("ix_checkins_owner", "platform", "tenant", "owner", "completed_at"),)

    id: str = Field(primary_key=True, max_length=32)
    platform: str = Field(max_length=16)
    tenant: str = Field(max_length=64)
    owner: str = Field(max_length=255)
    work: str = Field(sa_type=Text)
    action: str = Field(sa_type=Text)
    focus: str | None = Field(default=None, max_length=32)
    started_at: datetime = utc_field()
    completed_at: datetime = utc_field()


class CheckinRatingRow(SQLModel, table=True):
    """How one check-in rated one behaviour, with the optional note."""

    __tablename__ = "checkin_ratings"

    checkin_id: str = Field(primary_key=True, foreign_key="checkins.id", max_length=32)
    behaviour: str = Field(primary_key=True, max_length=32)
    position: int = 0
    rating: str = Field(max_length=32)
    note: str = Field(default="", sa_type=Text)


class TeamCheckinRow(SQLModel, table=True):
    """A team values lens opened in a channel; closed by its starter or when time runs out."""

    __tablename__ = "team_checkins"
    __table_args__ = (
        Index("ix_team_checkins_place", "platform", "tenant", "conversation", "status"),
        Index("ix_team_checkins_due", "status", "closes_at"),
        # At most one open team check-in per conversation, even with two clicks at once.
        Index(
            "uq_team_checkins_open",
            "platform",
            "tenant",
            "conversation",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )

    id: str = Field(primary_key=True, max_length=32)
    platform: str = Field(max_length=16)
    tenant: str = Field(max_length=64)
    conversation: str = Field(max_length=255)
    kind: str = Field(max_length=16)
    thread: str | None = Field(default=None, max_length=255)
    service_url: str | None = Field(default=None, max_length=512)
    work: str = Field(sa_type=Text)
    started_by: str = Field(max_length=255)
    status: str = Field(default="open", max_length=16)
    opened_at: datetime = utc_field()
    closes_at: datetime = utc_field()
    closed_at: datetime | None = utc_field(nullable=True)
    participants: int = 0
    # The platform's id of the check-in's card in the channel (Slack ts, Teams activity id).
    card_message: str | None = Field(default=None, max_length=255)


class TeamRatingRow(SQLModel, table=True):
    """One member's rating of one behaviour in a team check-in. ``member_key`` is a keyed hash
    of the member, enough to let them change their answer and count them once, never shown."""

    __tablename__ = "team_ratings"

    team_checkin_id: str = Field(primary_key=True, foreign_key="team_checkins.id", max_length=32)
    member_key: str = Field(primary_key=True, max_length=64)
    behaviour: str = Field(primary_key=True, max_length=32)
    rating: str = Field(max_length=32)


class TeamRatingCountRow(SQLModel, table=True):
    """How many members of a closed team check-in gave one rating to one behaviour: all that
    is kept of its ratings once the retention period after its results has passed."""

    __tablename__ = "team_rating_counts"

    team_checkin_id: str = Field(primary_key=True, foreign_key="team_checkins.id", max_length=32)
    behaviour: str = Field(primary_key=True, max_length=32)
    rating: str = Field(primary_key=True, max_length=32)
    count: int
