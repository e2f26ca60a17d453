"""The delivery tables: the outbox, the send budgets every instance shares, and the weekly
count of proactive messages per person."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from storage.common import utc_field


class OutboxRow(SQLModel, table=True):
    """One proactive message to one recipient, from queued to sent (or failed, with why).

    ``status`` goes queued -> claimed (a worker holds it until ``lease_until``) -> sending
    (committed just before the platform call) -> sent; or to failed (for good, with
    ``last_error``) or uncertain (a send whose outcome nobody can know; see docs/delivery.md).
    ``cap_week`` is set while the message holds a place in its recipient's weekly cap.
    ``replaces`` is the platform's id of a channel message this one changes (``None``: a new
    message); ``message_id`` the id of the message sent.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        # The claim's order within a platform's due messages (migration 0018).
        Index("ix_outbox_due", "status", "platform", "next_attempt_at", "id"),
        Index("ix_outbox_job", "job", "status"),
        Index("ix_outbox_lease", "status", "lease_until"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=255, unique=True)
    job: str = Field(max_length=128)
    platform: str = Field(max_length=16)
    tenant: str = Field(max_length=64)
    recipient: str = Field(max_length=255)
    to_person: bool
    thread: str | None = Field(default=None, max_length=255)
    card: str = Field(sa_column=Column(Text, nullable=False))
    respect_working_hours: bool = True
    counts_towards_cap: bool = True
    status: str = Field(default="queued", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = utc_field()
    last_error: str | None = Field(default=None, max_length=512)
    created_at: datetime = utc_field()
    sent_at: datetime | None = utc_field(nullable=True)
    lease_owner: str | None = Field(default=None, max_length=128)
    lease_until: datetime | None = utc_field(nullable=True)
    sending_at: datetime | None = utc_field(nullable=True)
    cap_week: str | None = Field(default=None, max_length=16)
    message_id: str | None = Field(default=None, max_length=255)
    replaces: str | None = Field(default=None, max_length=255)


class RateBucketRow(SQLModel, table=True):
    """A send budget shared by every instance (a workspace, a tenant, one conversation).

    ``tat`` is the theoretical arrival time of the next send (epoch seconds, GCRA): a send may
    go at ``max(tat, now)`` and pushes ``tat`` on by one interval. ``slowed_until`` is set by a
    429: until then the bucket runs at half speed.
    """

    __tablename__ = "rate_buckets"

    bucket: str = Field(primary_key=True, max_length=320)
    tat: float = 0.0
    slowed_until: float = 0.0


class PersonWeekRow(SQLModel, table=True):
    """How many proactive messages a person has been given (or promised) in one week of theirs,
    for the weekly cap across all features."""

    __tablename__ = "person_weeks"

    platform: str = Field(primary_key=True, max_length=16)
    tenant: str = Field(primary_key=True, max_length=64)
    person: str = Field(primary_key=True, max_length=255)
    week: str = Field(primary_key=True, max_length=16)
    messages: int = 0
