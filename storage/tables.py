"""Every table valuesbot keeps, as SQLModel classes (one module, one metadata for Alembic).

Times are stored in UTC (``UtcDateTime`` gives them back time-zone aware on SQLite too). Tables
hold what each feature needs and no more: notes and actions people write stay in their own rows,
and team ratings carry a keyed hash of the member, never the member id.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back time-zone aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _when(*, index: bool = False, nullable: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_type=UtcDateTime, nullable=True, index=index)
    return Field(sa_type=UtcDateTime, nullable=False, index=index)


class DialogStateRow(SQLModel, table=True):
    """Where one person's conversation with a dialog has got to (one row per conversation and
    person; deleted when the dialog ends)."""

    __tablename__ = "dialog_states"

    platform: str = Field(primary_key=True, max_length=16)
    tenant: str = Field(primary_key=True, max_length=64)
    conversation: str = Field(primary_key=True, max_length=255)
    actor: str = Field(primary_key=True, max_length=255)
    dialog: str = Field(max_length=64)
    step: str = Field(max_length=64)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    version: int = 1
    started_at: datetime = _when()
    updated_at: datetime = _when()


class ProcessedEventRow(SQLModel, table=True):
    """Events already handled, so a platform's retry of one is not handled twice."""

    __tablename__ = "processed_events"

    platform: str = Field(primary_key=True, max_length=16)
    event_id: str = Field(primary_key=True, max_length=255)
    handled_at: datetime = _when(index=True)


class PersonRow(SQLModel, table=True):
    """Someone the bot has met, and how to reach them directly."""

    __tablename__ = "people"

    platform: str = Field(primary_key=True, max_length=16)
    tenant: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(primary_key=True, max_length=255)
    display_name: str = Field(default="", max_length=255)
    timezone: str | None = Field(default=None, max_length=64)
    direct_conversation: str | None = Field(default=None, max_length=255)
    service_url: str | None = Field(default=None, max_length=512)
    extra: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    """Platform details of the last conversation they were seen in (``ConversationRef.extra``),
    enough to open a direct chat with them."""
    first_seen: datetime = _when()
    last_seen: datetime = _when()


class ConversationRow(SQLModel, table=True):
    """A conversation the bot is in, kept so it can post there later (proactive messages)."""

    __tablename__ = "conversations"

    platform: str = Field(primary_key=True, max_length=16)
    tenant: str = Field(primary_key=True, max_length=64)
    conversation: str = Field(primary_key=True, max_length=255)
    kind: str = Field(max_length=16)
    service_url: str | None = Field(default=None, max_length=512)
    extra: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    """What else the platform needs to post there again (``ConversationRef.extra``)."""
    first_seen: datetime = _when()
    last_seen: datetime = _when()


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
    started_at: datetime = _when()
    completed_at: datetime = _when()


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
    opened_at: datetime = _when()
    closes_at: datetime = _when()
    closed_at: datetime | None = _when(nullable=True)
    participants: int = 0


class TeamRatingRow(SQLModel, table=True):
    """One member's rating of one behaviour in a team check-in. ``member_key`` is a keyed hash
    of the member, enough to let them change their answer and count them once, never shown."""

    __tablename__ = "team_ratings"

    team_checkin_id: str = Field(primary_key=True, foreign_key="team_checkins.id", max_length=32)
    member_key: str = Field(primary_key=True, max_length=64)
    behaviour: str = Field(primary_key=True, max_length=32)
    rating: str = Field(max_length=32)


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
    created_at: datetime = _when()
    updated_at: datetime = _when()
    shared_at: datetime | None = _when(nullable=True)
    done_at: datetime | None = _when(nullable=True)
    review_nudged_at: datetime | None = _when(nullable=True)


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
    submitted_at: datetime = _when()
    decided_at: datetime | None = _when(nullable=True)
    updated_at: datetime = _when()


class DigestScheduleRow(SQLModel, table=True):
    """A weekly digest to one channel (at most one schedule per channel)."""

    __tablename__ = "digest_schedules"
    __table_args__ = (
        UniqueConstraint("platform", "tenant", "conversation", name="uq_digest_schedules_place"),
    )

    id: str = Field(primary_key=True, max_length=32)
    platform: str = Field(max_length=16)
    tenant: str = Field(max_length=64)
    conversation: str = Field(max_length=255)
    kind: str = Field(max_length=16)
    service_url: str | None = Field(default=None, max_length=512)
    label: str = Field(max_length=255)
    weekday: int
    hour: int
    minute: int
    timezone: str = Field(max_length=64)
    if_empty: str = Field(max_length=16)
    status: str = Field(default="active", max_length=16)
    created_by: str = Field(max_length=255)
    created_at: datetime = _when()
    active_since: datetime = _when()
    updated_at: datetime = _when()


class DigestRunRow(SQLModel, table=True):
    """One digest slot (schedule + period) claimed by exactly one instance, and what it sent."""

    __tablename__ = "digest_runs"
    __table_args__ = (
        UniqueConstraint("schedule_id", "period", name="uq_digest_runs_slot"),
        Index("ix_digest_runs_place", "platform", "tenant", "conversation", "claimed_at"),
    )

    id: str = Field(primary_key=True, max_length=32)
    schedule_id: str = Field(max_length=32)
    period: str = Field(max_length=64)
    platform: str = Field(max_length=16)
    tenant: str = Field(max_length=64)
    conversation: str = Field(max_length=255)
    kind: str = Field(max_length=16)
    service_url: str | None = Field(default=None, max_length=512)
    claimed_at: datetime = _when()
    as_of: datetime = _when()
    status: str = Field(default="claimed", max_length=16)
    body: str | None = Field(default=None, sa_type=Text)
    case_studies: int = 0
    commitments: int = 0


class DigestItemRow(SQLModel, table=True):
    """A case study that went out in a digest to a channel: never again to that channel."""

    __tablename__ = "digest_items"

    platform: str = Field(primary_key=True, max_length=16)
    tenant: str = Field(primary_key=True, max_length=64)
    conversation: str = Field(primary_key=True, max_length=255)
    case_study_id: str = Field(primary_key=True, foreign_key="case_studies.id", max_length=32)
    run_id: str = Field(foreign_key="digest_runs.id", max_length=32)


class ConsolePostRow(SQLModel, table=True):
    """A card posted to a console conversation, so every terminal in that conversation sees it."""

    __tablename__ = "console_posts"
    __table_args__ = (Index("ix_console_posts_conversation", "conversation", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    conversation: str = Field(max_length=255)
    card: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = _when()
    # The outbox key of a proactive post, so the delivery machinery can tell after a crash
    # whether the post happened (``ConsoleOutbound.was_sent``).
    outbox_key: str | None = Field(default=None, max_length=255, index=True)


class OutboxRow(SQLModel, table=True):
    """One proactive message to one recipient, from queued to sent (or failed, with why).

    ``status`` goes queued -> claimed (a worker holds it until ``lease_until``) -> sending
    (committed just before the platform call) -> sent; or to failed (for good, with
    ``last_error``) or uncertain (a send whose outcome nobody can know; see docs/delivery.md).
    ``cap_week`` is set while the message holds a place in its recipient's weekly cap.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
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
    next_attempt_at: datetime = _when()
    last_error: str | None = Field(default=None, max_length=512)
    created_at: datetime = _when()
    sent_at: datetime | None = _when(nullable=True)
    lease_owner: str | None = Field(default=None, max_length=128)
    lease_until: datetime | None = _when(nullable=True)
    sending_at: datetime | None = _when(nullable=True)
    cap_week: str | None = Field(default=None, max_length=16)
    message_id: str | None = Field(default=None, max_length=255)


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


class ScheduleRow(SQLModel, table=True):
    """A recurring job (a monthly barometer, a weekly digest): when, in which time zone, and
    which registered kind of job runs. The scheduler of every instance follows these rows."""

    __tablename__ = "schedules"

    id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=64)
    cron: str = Field(max_length=128)
    timezone: str = Field(max_length=64)
    params: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    grace_seconds: int = 3600
    enabled: bool = True
    active_from: datetime = _when()
    created_at: datetime = _when()
    updated_at: datetime = _when()


class ScheduleRunRow(SQLModel, table=True):
    """A schedule's slot that has been claimed (and run, in the same transaction): at most one
    row per schedule and period, whatever the number of instances."""

    __tablename__ = "schedule_runs"

    schedule_id: str = Field(primary_key=True, max_length=64)
    period: str = Field(primary_key=True, max_length=64)
    scheduled_for: datetime = _when()
    claimed_at: datetime = _when()
    instance: str = Field(max_length=128)


class ChangeMarkerRow(SQLModel, table=True):
    """A counter bumped in the same transaction as a change (to schedules, say), so other
    instances notice it by polling one row."""

    __tablename__ = "change_markers"

    name: str = Field(primary_key=True, max_length=64)
    revision: int = 0


class MetaRow(SQLModel, table=True):
    """Small facts about this installation (a generated pseudonymisation secret, say)."""

    __tablename__ = "meta"

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_type=Text)


# Slack installations (multi-workspace OAuth). These three tables belong to slack-sdk's async
# SQLAlchemy installation and state stores, which read and write them with table definitions of
# their own; they are declared here too so that our migrations create them and the migration
# check covers them. tests/adapters/slack/test_oauth.py checks that they match the SDK's column
# for column. The SDK stores naive UTC timestamps, hence plain DateTime.


def _slack_bot_columns() -> list[Column[Any]]:
    return [
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("client_id", String(32), nullable=False),
        Column("app_id", String(32), nullable=False),
        Column("enterprise_id", String(32)),
        Column("enterprise_name", String(200)),
    ]


def _slack_token_columns() -> list[Column[Any]]:
    return [
        Column("bot_token", String(200)),
        Column("bot_id", String(32)),
        Column("bot_user_id", String(32)),
        Column("bot_scopes", String(1000)),
        Column("bot_refresh_token", String(200)),
        Column("bot_token_expires_at", DateTime),
    ]


slack_installations = Table(
    "slack_installations",
    SQLModel.metadata,
    *_slack_bot_columns(),
    Column("enterprise_url", String(200)),
    Column("team_id", String(32)),
    Column("team_name", String(200)),
    *_slack_token_columns(),
    Column("user_id", String(32), nullable=False),
    Column("user_token", String(200)),
    Column("user_scopes", String(1000)),
    Column("user_refresh_token", String(200)),
    Column("user_token_expires_at", DateTime),
    Column("incoming_webhook_url", String(200)),
    Column("incoming_webhook_channel", String(200)),
    Column("incoming_webhook_channel_id", String(200)),
    Column("incoming_webhook_configuration_url", String(200)),
    Column("is_enterprise_install", Boolean, nullable=False),
    Column("token_type", String(32)),
    Column("installed_at", DateTime, nullable=False),
    Index(
        "slack_installations_idx",
        "client_id",
        "enterprise_id",
        "team_id",
        "user_id",
        "installed_at",
    ),
)

slack_bots = Table(
    "slack_bots",
    SQLModel.metadata,
    *_slack_bot_columns(),
    Column("team_id", String(32)),
    Column("team_name", String(200)),
    *_slack_token_columns(),
    Column("is_enterprise_install", Boolean, nullable=False),
    Column("installed_at", DateTime, nullable=False),
    Index("slack_bots_idx", "client_id", "enterprise_id", "team_id", "installed_at"),
)

slack_oauth_states = Table(
    "slack_oauth_states",
    SQLModel.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("state", String(200), nullable=False),
    Column("expire_at", DateTime, nullable=False),
)


# The staff barometer. Who took part and what was answered are kept apart (DESIGN.md section 4):
# participation rows name people but hold no answer; response and comment rows hold answers but
# no person, no time and no sequential id. On SQLite these tables are WITHOUT ROWID, so rows are
# stored in key order (a random id, or the person), never in the order they were written.
_UNORDERED: dict[str, Any] = {"sqlite_with_rowid": False}


class BarometerRoundRow(SQLModel, table=True):
    """One month's barometer: when it opened and closes, and the rules fixed when it opened
    (``min_group``, ``comment_min``, the questions in ``definition``). ``invited`` and
    ``answered`` are filled in when it closes, when the participation rows are deleted."""

    __tablename__ = "barometer_rounds"
    __table_args__ = (Index("ix_barometer_rounds_status", "status", "closes_at"),)

    id: str = Field(primary_key=True, max_length=32)
    period: str = Field(max_length=16, unique=True)
    status: str = Field(default="open", max_length=16)
    opened_at: datetime = _when()
    closes_at: datetime = _when()
    closed_at: datetime | None = _when(nullable=True)
    min_group: int
    comment_min: int
    definition: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    invited: int = 0
    answered: int = 0
    reminders_sent: int = 0


class BarometerParticipationRow(SQLModel, table=True):
    """A person asked in a round, and whether they have answered: for one answer each and for
    reminders. No answer and no time. All of a round's rows are deleted when it closes."""

    __tablename__ = "barometer_participation"
    __table_args__ = (_UNORDERED,)

    round_id: str = Field(primary_key=True, foreign_key="barometer_rounds.id", max_length=32)
    platform: str = Field(primary_key=True, max_length=16)
    tenant: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(primary_key=True, max_length=255)
    answered: bool = False


class BarometerResponseRow(SQLModel, table=True):
    """One answer to one question: no person, no time, a random id. ``token_hash`` (the hash of
    a token only the respondent's own chat message holds) lets that message replace the answer
    while the round is open; it is erased when the round closes."""

    __tablename__ = "barometer_responses"
    __table_args__ = (
        Index("ix_barometer_responses_token", "round_id", "token_hash"),
        # The published counts (``SqlBarometer.tally``) read this index alone, not the rows:
        # at 1.3 million responses PostgreSQL's GROUP BY is 40% faster (bench/national.py).
        Index("ix_barometer_responses_tally", "round_id", "question", "group_id", "value"),
        _UNORDERED,
    )

    round_id: str = Field(primary_key=True, foreign_key="barometer_rounds.id", max_length=32)
    id: str = Field(primary_key=True, max_length=32)
    question: str = Field(max_length=32)
    value: str = Field(max_length=32)
    group_id: str | None = Field(default=None, max_length=32)
    token_hash: str | None = Field(default=None, max_length=64)


class BarometerCommentRow(SQLModel, table=True):
    """A free-text comment on a round: no person, no time, no group. Shown only when the round
    has enough respondents and the comms team approved it."""

    __tablename__ = "barometer_comments"
    __table_args__ = (
        Index("ix_barometer_comments_token", "round_id", "token_hash"),
        _UNORDERED,
    )

    round_id: str = Field(primary_key=True, foreign_key="barometer_rounds.id", max_length=32)
    id: str = Field(primary_key=True, max_length=32)
    text: str = Field(sa_type=Text)
    status: str = Field(default="pending", max_length=16)
    token_hash: str | None = Field(default=None, max_length=64)
