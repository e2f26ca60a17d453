"""The staff barometer's tables.

Who took part and what was answered are kept apart (DESIGN.md section 4): participation rows
name people but hold no answer; response and comment rows hold answers but no person, no time
and no sequential id, and they are written only in batches of several people's answers: until
its batch, an answer waits in ``barometer_pending``, sealed with a key the database does not
hold (``storage.barometer.pool``). On SQLite these tables are WITHOUT ROWID, so rows are stored
in key order (a random id, or the person), never in the order they were written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, LargeBinary, Text, text
from sqlmodel import Field, SQLModel

from storage.common import utc_field

_UNORDERED: dict[str, Any] = {"sqlite_with_rowid": False}
# Token hashes are looked up only while a round is open; sealed rows have none and stay out of
# the index (a national round's 2.6 million sealed rows would otherwise each add an entry).
_HAS_TOKEN = text("token_hash IS NOT NULL")


class BarometerRoundRow(SQLModel, table=True):
    """One month's barometer: when it opened and closes, and the rules fixed when it opened
    (``min_group``, ``comment_min``, the questions in ``definition``). ``invited`` and
    ``answered`` are filled in when it closes, when the participation rows are deleted."""

    __tablename__ = "barometer_rounds"
    __table_args__ = (Index("ix_barometer_rounds_status", "status", "closes_at"),)

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
    """One answer to one question, while its round is open: no person, no time, a random id.
    ``token_hash`` (the hash of a token only the respondent's own chat message holds) lets
    that message replace the answer. When the round closes the rows are counted into
    ``barometer_counts`` and deleted."""

    __tablename__ = "barometer_responses"
    __table_args__ = (
        Index(
            "ix_barometer_responses_token",
            "round_id",
            "token_hash",
            sqlite_where=_HAS_TOKEN,
            postgresql_where=_HAS_TOKEN,
        ),
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


class BarometerCountRow(SQLModel, table=True):
    """What a sealed round keeps of its answers: how many gave each answer to each question, in
    each group big enough to be shown (``group_id`` None: everyone else). When a round closes,
    its response rows are counted, the small groups merged, and the rows deleted: the counts
    are all the published figures need, and they hold no token to tie to anything. Like the
    other answer tables, a count has a random id and is stored in no telling order."""

    __tablename__ = "barometer_counts"
    __table_args__ = (_UNORDERED,)

    round_id: str = Field(primary_key=True, foreign_key="barometer_rounds.id", max_length=32)
    id: str = Field(primary_key=True, max_length=32)
    question: str = Field(max_length=32)
    value: str = Field(max_length=32)
    group_id: str | None = Field(default=None, max_length=32)
    n: int


class BarometerCommentRow(SQLModel, table=True):
    """A free-text comment on a round: no person, no time, no group. Shown only when the round
    has enough respondents and the comms team approved it.

    While the round is open ``token_hash`` is the hash of the token in its author's chat
    message (as on their response rows). When the round closes it is erased and ``token_mark``
    takes its place: a keyed hash of it (``AnswerKey.author_mark``) with a key the database
    does not hold, by which the author's own message (and nothing else) finds the comment
    again, to show them the comms team's response."""

    __tablename__ = "barometer_comments"
    __table_args__ = (
        Index(
            "ix_barometer_comments_token",
            "round_id",
            "token_hash",
            sqlite_where=_HAS_TOKEN,
            postgresql_where=_HAS_TOKEN,
        ),
        Index("ix_barometer_comments_mark", "round_id", "token_mark"),
        _UNORDERED,
    )

    round_id: str = Field(primary_key=True, foreign_key="barometer_rounds.id", max_length=32)
    id: str = Field(primary_key=True, max_length=32)
    text: str = Field(sa_type=Text)
    status: str = Field(default="pending", max_length=16)
    token_hash: str | None = Field(default=None, max_length=64)
    token_mark: str | None = Field(default=None, max_length=64)


class BarometerPendingRow(SQLModel, table=True):
    """An answer waiting for its batch: ``sealed`` holds it (values, group, comment and the
    hash of its token), encrypted with a key that is not in the database and padded to one
    size; ``lookup`` is a keyed hash of the token hash, by which the person's own message finds
    it again. No person, no time, a random id. ``replaces``: it changes an answer already
    written to the response tables (changes wait for other changes). Written in the same
    transaction as the participation row; deleted when its batch is written."""

    __tablename__ = "barometer_pending"
    __table_args__ = (
        Index("ix_barometer_pending_lookup", "round_id", "lookup", unique=True),
        _UNORDERED,
    )

    round_id: str = Field(primary_key=True, foreign_key="barometer_rounds.id", max_length=32)
    id: str = Field(primary_key=True, max_length=32)
    lookup: str = Field(max_length=64)
    replaces: bool = False
    sealed: bytes = Field(sa_type=LargeBinary)
